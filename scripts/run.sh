#!/usr/bin/env bash
# Install and run kontakt on embedded defaults (bundled embedding model, SQLite in var/).
# Trains the model first if it is missing or out of date. HOST and PORT may be set.
# On first run it writes a local .env with fresh secrets (agent token pepper, e-mail inbound
# secret); create an agent token with: .venv/bin/python -m bot agent add --help
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ ! -f .env ]; then
  umask 077
  {
    echo "KONTAKT_AGENT_TOKEN_PEPPER=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))')"
    echo "KONTAKT_EMAIL_INBOUND_SECRET=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')"
  } > .env
  echo "wrote .env with fresh local secrets" >&2
fi
exec .venv/bin/python -m bot serve --host "${HOST:-127.0.0.1}" --port "${PORT:-5005}"

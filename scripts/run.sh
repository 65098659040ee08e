#!/usr/bin/env bash
# Install and run kontakt on embedded defaults (bundled embedding model, SQLite).
# Trains the model first if it is missing or out of date. PORT and HOST may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m bot serve --host "${HOST:-127.0.0.1}" --port "${PORT:-5005}"

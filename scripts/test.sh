#!/usr/bin/env bash
# Install everything the tests need and run them all. Extra arguments go to pytest.
# Needs (and installs on Debian as root): PostgreSQL server binaries for the storage suite,
# Chromium + ChromeDriver for the browser tests. The tests start their own throwaway servers.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
bash scripts/setup.sh test
bash scripts/lint.sh
exec .venv/bin/python -m pytest "$@"

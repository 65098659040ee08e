#!/usr/bin/env bash
# Guardrails: lint (ruff), the import direction between bot, connectors and eval (import-linter),
# and strict types where the pure decisions live (mypy). Run by scripts/test.sh before the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check bot connectors eval tests
.venv/bin/lint-imports --no-cache
.venv/bin/mypy bot/routing bot/triage.py bot/types.py bot/config.py bot/capacity/erlang.py bot/stats bot/knowledge \
  bot/tenants.py bot/tenant_checks.py bot/engine/policy.py

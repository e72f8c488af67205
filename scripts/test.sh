#!/usr/bin/env bash
# Run the whole test suite: lint, then every test on PostgreSQL, then the portable ones on SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/portal}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export PORTAL_IGNORE_DOTENV=1
# The suite must leave the checkout as it found it (screenshots go to test-results/).
tree_before=$(git status --porcelain 2>/dev/null || true)
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest "$@"
# SQLite must keep working for the embedded default: the catalog tests again on SQLite.
if [ $# -eq 0 ]; then
  DATABASE_URL="sqlite:///$(mktemp -d)/portal.sqlite3" .venv/bin/python -m pytest -q -m "not hub and not browser and not celery" tests/catalog
fi
tree_after=$(git status --porcelain 2>/dev/null || true)
if [ "$tree_before" != "$tree_after" ]; then
  echo "The test run changed the checkout (tests must write to ignored folders):" >&2
  diff <(echo "$tree_before") <(echo "$tree_after") >&2 || true
  exit 1
fi

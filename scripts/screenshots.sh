#!/usr/bin/env bash
# Refresh the README's pictures: run the browser tests with screenshots going to docs/screenshots.
# (The test command keeps them in the ignored test-results/screenshots/, so a test run never
# changes tracked files; this command changes them on purpose. Commit what it refreshed.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/portal}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
export PORTAL_IGNORE_DOTENV=1 SCREENSHOTS_DIR=docs/screenshots
.venv/bin/python -m pytest -q -m browser tests/browser tests/hub/test_browser.py "$@"
git status --short docs/screenshots

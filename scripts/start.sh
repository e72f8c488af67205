#!/usr/bin/env bash
# Start the whole stack on the embedded default: portal, Celery worker and beat (and the hub).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export PORTAL_PORT="${PORTAL_PORT:-8000}"
# DEBUG is off unless set (a deployment never gets it by accident); this one-command development
# stack turns it on for itself: the development sign-in and static files from the source folders.
export DEBUG="${DEBUG:-true}"
# Ctrl-C stops everything this command started, learners' servers included (a deployed hub keeps
# them across its restarts: HUB_KEEP_SERVERS_ON_RESTART, hubconfig/README.md).
export HUB_KEEP_SERVERS_ON_RESTART="${HUB_KEEP_SERVERS_ON_RESTART:-false}"
# Reading the settings creates nothing: the state folders, the service tokens the hub and the
# portal share, and the choice of broker (Redis, else a filesystem one) are made here.
eval "$($PY manage.py local_setup)"
$PY manage.py migrate --noinput -v0
# The bundled sample workshops become a real git repository, synced on first start.
if [ -z "${CATALOG_SOURCE:-}" ]; then $PY manage.py sample_repo; fi
$PY manage.py sync_catalog || echo "Catalog sync failed (see above); the portal starts anyway."
cat <<MSG

  Portal:  ${PORTAL_URL:-http://127.0.0.1:${PORTAL_PORT}}/
  Hub:     ${HUB_URL:-http://127.0.0.1:8001}/  (development sign-in: any username, loopback only)
  Admin:   ${PORTAL_URL:-http://127.0.0.1:${PORTAL_PORT}}/admin/  (create a user: .venv/bin/python manage.py createsuperuser)
  DEBUG=${DEBUG}: set by \`make start\` for this development stack (deployments leave it off).
  Stop with Ctrl-C.

MSG
exec .venv/bin/honcho start -f Procfile

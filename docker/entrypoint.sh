#!/bin/sh
# Container entry point. With no arguments: apply migrations, then replace this shell with gunicorn
# (so gunicorn is PID 1 and receives the stop signal). With arguments: run them instead, unmigrated.
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

python manage.py migrate --no-input

# /dev/shm: the workers' heartbeat files on the container's overlay filesystem can stall them.
# No control socket: nothing in the container uses gunicornc, and the app user has no home for it.
exec gunicorn healthagent.wsgi \
    --bind 0.0.0.0:8000 \
    --workers "${WEB_CONCURRENCY:-2}" \
    --worker-tmp-dir /dev/shm \
    --no-control-socket \
    --access-logfile - \
    --error-logfile -

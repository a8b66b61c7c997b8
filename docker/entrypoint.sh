#!/bin/sh
# Container entry point. With no arguments: apply migrations, then replace this shell with gunicorn
# (so gunicorn is PID 1 and receives the stop signal). With arguments: run them instead, unmigrated.
set -eu

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

python manage.py migrate --no-input

# Listening on every interface of the container; workers from WEB_CONCURRENCY; logging in the
# service's format (healthagent/gunicorn_conf.py). /dev/shm: the workers' heartbeat files on the
# container's overlay filesystem can stall them.
HOST=0.0.0.0 PORT=8000 exec gunicorn healthagent.wsgi \
    --config python:healthagent.gunicorn_conf \
    --worker-tmp-dir /dev/shm

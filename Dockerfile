# The web service: gunicorn serving healthagent.wsgi. Configuration comes from the environment at run
# time (see .env.example and docker-compose.yml); nothing secret is baked into the image.
FROM python:3.11-slim

# MPLCONFIGDIR: matplotlib (the /week and /month charts) keeps its font cache there; the app user has
# no home directory to keep it in.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Settings refuse to load without these two; the values exist for this RUN line only and are not
# kept in the image's environment.
RUN DJANGO_SECRET_KEY=build-only-not-a-secret-collectstatic-signs-nothing-0123456789 TELEGRAM_WEBHOOK_SECRET=build-only \
    python manage.py collectstatic --no-input -v 0 \
 && chmod 0755 docker/entrypoint.sh \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent app

# The code stays owned by root: the app user can read it but not change it.
USER app

EXPOSE 8000

# No arguments: migrate, then gunicorn. With arguments, runs them instead
# (e.g. `docker compose run --rm web python manage.py cache_stats`).
ENTRYPOINT ["/app/docker/entrypoint.sh"]

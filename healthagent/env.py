"""Where configuration comes from before settings.py reads it: the environment, then `.env`.

`manage.py`, `wsgi.py` and `asgi.py` call `load()` before Django starts, so a `.env` in the project
directory (KEY=value lines, see .env.example) reaches every entry point — `make run`, `make serve`,
`.venv/bin/python manage.py ...` — the same way. Variables already in the environment win over the
file, so a deployment's real environment and `make test` are never overridden by a developer's file.
HEALTHAGENT_ENV_FILE names another file; set to an empty value, no file is read (the test suite does
that for every process it starts).

A checkout with nothing configured (neither DJANGO_DEBUG nor DJANGO_SECRET_KEY, in the environment or
the file) is local development: commands typed in a terminal then default to DJANGO_DEBUG=true, as
`make run` always did. The web server gets that default only from `make serve` (HEALTHAGENT_DEV_DEFAULTS=1):
a production server started with no secret key must refuse to start, not serve in debug mode.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_FILE_VARIABLE = "HEALTHAGENT_ENV_FILE"
DEV_DEFAULTS_VARIABLE = "HEALTHAGENT_DEV_DEFAULTS"


def env_file() -> Path | None:
    configured = os.environ.get(ENV_FILE_VARIABLE)
    if configured is None:
        return BASE_DIR / ".env"
    return Path(configured) if configured.strip() else None


def load(*, dev_defaults: bool = False) -> None:
    path = env_file()
    if path is not None and path.is_file():
        from dotenv import load_dotenv

        load_dotenv(path, override=False)
    dev_defaults = dev_defaults or os.environ.get(DEV_DEFAULTS_VARIABLE, "").strip() == "1"
    if dev_defaults and not _given("DJANGO_DEBUG") and not _given("DJANGO_SECRET_KEY"):
        os.environ["DJANGO_DEBUG"] = "true"


def _given(name: str) -> bool:
    # .env.example lists every variable with an empty value meaning "the default": empty is not given.
    return bool(os.environ.get(name, "").strip())

#!/usr/bin/env python
"""Django's command-line utility for healthagent."""
import os
import sys


def verbosity(argv: list[str]) -> int:
    """The -v / --verbosity a command was given (Django's default 1), read before Django parses it."""
    for index, arg in enumerate(argv):
        value = None
        if arg in ("-v", "--verbosity") and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith("--verbosity="):
            value = arg.partition("=")[2]
        elif arg.startswith("-v") and len(arg) == 3:
            value = arg[2]
        if value is not None and value.isdigit():
            return int(value)
    return 1


def main() -> None:
    from healthagent import env

    # Commands typed in a checkout with nothing configured are local development (healthagent/env.py).
    env.load(dev_defaults=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthagent.settings")
    if not os.environ.get("LOG_LEVEL", "").strip():  # .env.example's empty value means "the default"
        # A command prints what it was asked for: start-up INFO lines (which backends are in use) are
        # noise before `--help`, `cache_stats --json` or a conversation. -v 2 (or LOG_LEVEL) shows them.
        os.environ["LOG_LEVEL"] = "INFO" if verbosity(sys.argv) >= 2 else "WARNING"
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from healthagent import startup_errors

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - loads settings.py: a bad variable fails here, briefly
        if startup_errors.needs_database(sys.argv):
            problem = startup_errors.database_problem() or startup_errors.redis_tls_problem()
            if problem:
                startup_errors.exit(problem)
    except ImproperlyConfigured as exc:
        startup_errors.exit(str(exc))
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Django's command-line utility for healthagent."""
import os
import sys


def main() -> None:
    from healthagent import env

    # Commands typed in a checkout with nothing configured are local development (healthagent/env.py).
    env.load(dev_defaults=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthagent.settings")
    if sys.argv[1:2] == ["chat"]:
        # A conversation in the terminal: start-up INFO lines would be noise (LOG_LEVEL=INFO shows them).
        if not os.environ.get("LOG_LEVEL", "").strip():  # .env.example's empty value means "the default"
            os.environ["LOG_LEVEL"] = "WARNING"
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from healthagent import startup_errors

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - loads settings.py: a bad variable fails here, briefly
        if startup_errors.needs_database(sys.argv):
            problem = startup_errors.database_problem()
            if problem:
                startup_errors.exit(problem)
    except ImproperlyConfigured as exc:
        startup_errors.exit(str(exc))
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

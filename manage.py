#!/usr/bin/env python
"""Django's command-line utility for healthagent."""
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthagent.settings")
    if sys.argv[1:2] == ["chat"]:
        # A conversation in the terminal: start-up INFO lines would be noise (LOG_LEVEL=INFO shows them).
        os.environ.setdefault("LOG_LEVEL", "WARNING")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

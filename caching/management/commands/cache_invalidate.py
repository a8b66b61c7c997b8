"""manage.py cache_invalidate --user ID | --namespace NAME: drop cached entries now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from caching.ops import actions
from caching.keys import NAMESPACES
from healthagent.errors import ApplicationError


class Command(BaseCommand):
    help = "Delete one user's cached entries, or every entry of a namespace; prints how many keys were removed."

    def add_arguments(self, parser: Any) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--user", type=int, metavar="ID", help="a user id: their memory and history entries")
        target.add_argument("--namespace", metavar="NAME", help=f"one of: {', '.join(NAMESPACES)}")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            actions.require_shared_cache()
            if options["user"] is not None:
                removed = actions.invalidate_user(user_id=options["user"])
                what = f"cached entries of user {options['user']}"
            else:
                removed = actions.invalidate_namespace(namespace=options["namespace"])
                what = f"keys in namespace {options['namespace']}"
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"Removed {removed} {what}.")

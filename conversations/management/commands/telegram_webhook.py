"""manage.py telegram_webhook set URL | info | delete: register the webhook with Telegram."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from conversations.botapi import BotAPI, BotAPIError
from conversations.polling import ALLOWED_UPDATES


class Command(BaseCommand):
    help = (
        "Register (set), show (info) or remove (delete) the bot's webhook with Telegram, using "
        "TELEGRAM_BOT_TOKEN; `set` passes TELEGRAM_WEBHOOK_SECRET as the secret_token Telegram sends back."
    )

    def add_arguments(self, parser: Any) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{set,info,delete}")
        set_parser = actions.add_parser("set", help="setWebhook: Telegram posts every update to URL")
        set_parser.add_argument("url", nargs="?", default=None,
                                help="the public https:// URL of /telegram/webhook/ (default: https://$BOT_DOMAIN/telegram/webhook/)")
        set_parser.add_argument("--drop-pending-updates", action="store_true", help="discard updates waiting for delivery")
        set_parser.add_argument("--max-connections", type=int, default=None, help="1-100 simultaneous deliveries")
        actions.add_parser("info", help="getWebhookInfo: URL, pending updates, last error")
        delete_parser = actions.add_parser("delete", help="deleteWebhook (then `manage.py runbot` can poll)")
        delete_parser.add_argument("--drop-pending-updates", action="store_true", help="discard updates waiting for delivery")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            api = BotAPI()
            if action == "set":
                self._set(api, options)
            elif action == "delete":
                api.call("deleteWebhook", drop_pending_updates=options["drop_pending_updates"])
                self.stdout.write("Webhook deleted: Telegram keeps updates for getUpdates (manage.py runbot).")
            else:
                self.stdout.write(render_info(api.call("getWebhookInfo")))
        except BotAPIError as exc:
            raise CommandError(f"Telegram {exc}") from None

    def _set(self, api: BotAPI, options: dict) -> None:
        url = options["url"]
        if url is None:
            if not settings.BOT_DOMAIN:
                raise CommandError("no URL given and BOT_DOMAIN is not set: give the webhook's https:// URL or set BOT_DOMAIN")
            url = f"https://{settings.BOT_DOMAIN}/telegram/webhook/"
        if not url.startswith("https://"):
            raise CommandError(f"Telegram only delivers to https:// URLs, not {url!r}")
        if not settings.TELEGRAM_WEBHOOK_SECRET:
            raise CommandError("TELEGRAM_WEBHOOK_SECRET is not set: the webhook would accept anyone's updates")
        params: dict[str, Any] = {
            "url": url, "secret_token": settings.TELEGRAM_WEBHOOK_SECRET, "allowed_updates": ALLOWED_UPDATES,
            "drop_pending_updates": options["drop_pending_updates"],
        }
        if options["max_connections"] is not None:
            params["max_connections"] = options["max_connections"]
        api.call("setWebhook", **params)
        self.stdout.write(f"Webhook set: Telegram posts {', '.join(ALLOWED_UPDATES)} updates to {url}")
        self.stdout.write(render_info(api.call("getWebhookInfo")))


def render_info(info: dict) -> str:
    lines = [f"url                   {info.get('url') or '(none: no webhook; updates wait for getUpdates)'}"]
    lines.append(f"pending updates       {info.get('pending_update_count', 0)}")
    if info.get("allowed_updates"):
        lines.append(f"allowed updates       {', '.join(info['allowed_updates'])}")
    if info.get("max_connections"):
        lines.append(f"max connections       {info['max_connections']}")
    if info.get("ip_address"):
        lines.append(f"ip address            {info['ip_address']}")
    if info.get("last_error_date"):
        when = datetime.fromtimestamp(info["last_error_date"], tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(f"last error            {when}: {info.get('last_error_message', '')}")
    else:
        lines.append("last error            none")
    extra = {k: v for k, v in info.items() if k not in {"url", "pending_update_count", "allowed_updates",
                                                        "max_connections", "ip_address", "last_error_date",
                                                        "last_error_message", "has_custom_certificate"}}
    if extra:
        lines.append(f"other                 {json.dumps(extra, sort_keys=True)}")
    return "\n".join(lines)

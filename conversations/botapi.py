"""A small Telegram Bot API client (requests): the calls `telegram_webhook` and `runbot` make.

The token is part of every URL (https://api.telegram.org/bot<token>/<method>), so nothing here lets a
URL reach a message: errors name the method, never the address. TELEGRAM_API_URL points the client
at another server (the tests' fake Bot API).
"""

from __future__ import annotations

import time
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError
from django.conf import settings


class BotAPIError(Exception):
    """A call that failed: Telegram said no (`code` is its error_code) or did not answer (`code` None).

    `maybe_sent` is False only when the request certainly never left (no connection could be made):
    the one failure without an answer after which sending again cannot make a duplicate."""

    def __init__(self, method: str, description: str, *, code: int | None = None, retry_after: float | None = None,
                 maybe_sent: bool = True):
        super().__init__(f"{method}: {description}")
        self.method, self.description, self.code, self.retry_after = method, description, code, retry_after
        self.maybe_sent = maybe_sent


class BotAPI:
    def __init__(self, token: str | None = None, *, api_url: str | None = None) -> None:
        self._token = token if token is not None else settings.TELEGRAM_BOT_TOKEN
        if not self._token:
            raise BotAPIError("setup", "TELEGRAM_BOT_TOKEN is not set (the token @BotFather gave the bot)")
        self._base = (api_url or settings.TELEGRAM_API_URL).rstrip("/")
        self._session = requests.Session()

    def __repr__(self) -> str:  # the token stays out of reprs and tracebacks
        return f"BotAPI(api_url={self._base!r})"

    def call(self, method: str, *, http_timeout: float = 10.0, **params: Any) -> Any:
        """The `result` of one Bot API method, parameters sent as JSON (`timeout` is getUpdates' own)."""
        return self._post(method, http_timeout, json=params)

    def upload(self, method: str, *, field: str, filename: str, content: bytes,
               mime_type: str = "application/octet-stream", http_timeout: float = 30.0, **params: Any) -> Any:
        """The `result` of a method that takes a file (sendPhoto, sendDocument): a multipart upload,
        the file in `field`, the other parameters as form fields."""
        data = {name: str(value) for name, value in params.items() if value not in (None, "")}
        return self._post(method, http_timeout, data=data, files={field: (filename, content, mime_type)})

    def download(self, file_path: str, *, max_bytes: int, deadline: float) -> bytes:
        """A file getFile named (https://api.telegram.org/file/bot<token>/<file_path>), at most
        `max_bytes` long (a longer one: BotAPIError with code 413, before it is all read), read by
        `deadline` (time.monotonic(); later: code 408)."""
        try:
            with self._session.get(f"{self._base}/file/bot{self._token}/{file_path}", stream=True,
                                   timeout=max(0.1, deadline - time.monotonic())) as response:
                if response.status_code != 200:
                    raise BotAPIError("download", f"HTTP {response.status_code}", code=response.status_code)
                content = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    content += chunk
                    if len(content) > max_bytes:
                        raise BotAPIError("download", "the file is larger than allowed", code=413)
                    if time.monotonic() > deadline:
                        raise BotAPIError("download", "out of time", code=408)
                return bytes(content)
        except requests.RequestException as exc:
            raise BotAPIError("download", f"no answer from the Bot API ({type(exc).__name__})") from None

    def _post(self, method: str, http_timeout: float, **body: Any) -> Any:
        try:
            response = self._session.post(f"{self._base}/bot{self._token}/{method}", timeout=http_timeout, **body)
        except requests.RequestException as exc:
            # No connection made (refused, unreachable, connect timeout): nothing was sent. Anything
            # later (read timeout, reset) may have reached Telegram.
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            unsent = isinstance(exc, requests.ConnectTimeout) or isinstance(reason, NewConnectionError)
            raise BotAPIError(method, f"no answer from the Bot API ({type(exc).__name__})",
                              maybe_sent=not unsent) from None
        try:
            body = response.json()
        except ValueError:
            raise BotAPIError(method, f"HTTP {response.status_code} without a JSON body", code=response.status_code) from None
        return self._result(method, response, body)

    @staticmethod
    def _result(method: str, response: requests.Response, body: Any) -> Any:
        if not isinstance(body, dict) or not body.get("ok"):
            body = body if isinstance(body, dict) else {}
            parameters = body.get("parameters") or {}
            raise BotAPIError(method, str(body.get("description") or f"HTTP {response.status_code}"),
                              code=body.get("error_code", response.status_code), retry_after=parameters.get("retry_after"))
        return body.get("result")

    def close(self) -> None:
        self._session.close()

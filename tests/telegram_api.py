"""A fake Telegram Bot API server for the tests: /bot<token>/<method> with JSON in and out.

Updates are queued with `queue(text, ...)`; getUpdates answers at once (no long wait) with the queued
updates from `offset` on and, like Telegram, forgets the ones below it. `fail(method, status, body)`
scripts the next answers of a method. Every call is recorded in `calls` as (method, params).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict, deque
from email.parser import BytesParser
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "123456:test-bot-token-abcdefghij"
BOT = {"id": 123456, "is_bot": True, "first_name": "Health", "username": "health_test_bot"}


class FakeBotAPI:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.updates: list[dict] = []
        self.calls: list[tuple[str, dict]] = []
        self.timed_calls: list[tuple[str, dict, float]] = []  # with time.monotonic() of arrival
        self.sent: list[dict] = []
        self.webhook: dict[str, Any] = {"url": "", "pending_update_count": 0}
        self.files: dict[str, bytes] = {}  # file_id → content: getFile names it, GET /file/bot<token>/<path> serves it
        self._failures: dict[str, deque] = defaultdict(deque)
        # hold(): the next call of a method waits (after it was received and counted) until released.
        self._holds: dict[str, deque] = defaultdict(deque)
        self._ids = itertools.count(500_000)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                kind = self.headers.get("Content-Type") or ""
                if kind.startswith("multipart/"):
                    params = {**_multipart(kind, raw), "multipart_bytes": len(raw)}
                else:
                    params = json.loads(raw or b"{}")
                prefix, _, method = self.path.lstrip("/").partition("/")
                status, body = fake._answer(prefix, method, params)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                try:
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the caller was killed while its answer was held back (a fault the tests inject)

            def do_GET(self) -> None:  # noqa: N802: a file download, /file/bot<token>/<file_path>
                _file, prefix, path = self.path.lstrip("/").split("/", 2)
                with fake._lock:
                    fake.calls.append(("download", {"file_path": path}))
                    content = fake.files.get(path.removeprefix("photos/")) if prefix == f"bot{fake.token}" else None
                self.send_response(200 if content is not None else 404)
                self.send_header("Content-Length", str(len(content or b"")))
                self.end_headers()
                self.wfile.write(content or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    # --- scripting --------------------------------------------------------------------------------
    def queue(self, text: str, *, user_id: int = 77, first_name: str = "Poll", update_id: int | None = None) -> dict:
        update = {
            "update_id": next(self._ids) if update_id is None else update_id,
            "message": {"message_id": 1, "date": 1_700_000_000, "text": text,
                        "chat": {"id": user_id, "type": "private"},
                        "from": {"id": user_id, "is_bot": False, "first_name": first_name}},
        }
        with self._lock:
            self.updates.append(update)
        return update

    def fail(self, method: str, status: int, description: str = "Bad Gateway", **parameters: Any) -> None:
        body = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self._failures[method].append((status, body))

    def hold(self, method: str) -> tuple[threading.Event, threading.Event]:
        """The next call of `method` is taken (counted as delivered, as Telegram would) and its answer
        held back: (arrived, release) — `arrived` is set once it is in, the answer goes on `release`."""
        arrived, release = threading.Event(), threading.Event()
        self._holds[method].append((arrived, release))
        return arrived, release

    def offsets(self) -> list[int]:
        return [params.get("offset", 0) for method, params in self.calls if method == "getUpdates"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- the Bot API ------------------------------------------------------------------------------
    def _answer(self, prefix: str, method: str, params: dict) -> tuple[int, dict]:
        with self._lock:
            hold = self._holds[method].popleft() if self._holds[method] and not self._failures[method] else None
        answer = self._answer_now(prefix, method, params)
        if hold is not None:
            hold[0].set()
            hold[1].wait(30)
        return answer

    def _answer_now(self, prefix: str, method: str, params: dict) -> tuple[int, dict]:
        with self._lock:
            self.calls.append((method, params))
            self.timed_calls.append((method, params, time.monotonic()))
            if prefix != f"bot{self.token}":
                return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            if self._failures[method]:
                return self._failures[method].popleft()
            handler = getattr(self, f"_{method}", None)
            if method == "getFile" and params.get("file_id") not in self.files:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"}
            if handler is None:
                return 404, {"ok": False, "error_code": 404, "description": "Not Found: method not found"}
            return 200, {"ok": True, "result": handler(params)}

    def _getMe(self, params: dict) -> dict:  # noqa: N802 (the Bot API's naming)
        return BOT

    def _getUpdates(self, params: dict) -> list[dict]:  # noqa: N802
        if self.webhook["url"]:
            raise AssertionError("unreachable: scripted as a 409 by the tests")
        offset = params.get("offset", 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]  # confirmed ones are gone
        return list(self.updates[:100])

    def _getFile(self, params: dict) -> dict:  # noqa: N802
        file_id = params["file_id"]
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(self.files[file_id]),
                "file_path": f"photos/{file_id}"}

    def _sendMessage(self, params: dict) -> dict:  # noqa: N802
        self.sent.append(params)
        return {"message_id": len(self.sent), "chat": {"id": params["chat_id"]}, "text": params["text"]}

    def _sendPhoto(self, params: dict) -> dict:  # noqa: N802
        self.sent.append(params)
        return {"message_id": len(self.sent), "chat": {"id": int(params["chat_id"])}, "photo": [{"file_id": "p"}]}

    def _sendDocument(self, params: dict) -> dict:  # noqa: N802
        self.sent.append(params)
        return {"message_id": len(self.sent), "chat": {"id": int(params["chat_id"])}, "document": {"file_id": "d"}}

    def _setWebhook(self, params: dict) -> bool:  # noqa: N802
        self.webhook = {"url": params["url"], "pending_update_count": 0, "max_connections": 40,
                        "allowed_updates": params.get("allowed_updates", []), "ip_address": "192.0.2.10",
                        "last_error_date": 1_700_000_000, "last_error_message": "Wrong response from the webhook: 503"}
        return True

    def _getWebhookInfo(self, params: dict) -> dict:  # noqa: N802
        return dict(self.webhook)

    def _deleteWebhook(self, params: dict) -> bool:  # noqa: N802
        self.webhook = {"url": "", "pending_update_count": len(self.updates)}
        return True


def _multipart(content_type: str, body: bytes) -> dict:
    """A multipart/form-data body as {field: text} for form fields and {field: (filename, bytes)} for files."""
    message = BytesParser(policy=default).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name, filename = part.get_param("name", header="content-disposition"), part.get_filename()
        content = part.get_payload(decode=True)
        fields[name] = (filename, content) if filename else content.decode()
    return fields

"""Test doubles for nutrition: a fake FoodData Central (a real HTTP server on 127.0.0.1, no network)
and builders for FDC-shaped foods."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from django.conf import settings as django_settings

TEST_API_KEY = "test-key-5f3a9c1d"


@dataclass
class Scripted:
    status: int = 200
    body: bytes = b'{"foods": []}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # a slow FDC (timeouts, slow peers)
    hold: Callable[[], None] | None = None  # called before answering: overlap concurrent callers by construction


@dataclass
class Seen:
    path: str
    query: dict[str, list[str]]
    raw_target: str
    headers: dict[str, str]


class FakeFDC:
    """Answers each GET with the next scripted response (the last one repeats); records requests."""

    def __init__(self) -> None:
        self.script: deque[Scripted] = deque()
        self.requests: list[Seen] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                split = urlsplit(self.path)
                fake.requests.append(Seen(split.path, parse_qs(split.query), self.path, dict(self.headers)))
                answer = fake.script.popleft() if len(fake.script) > 1 else (fake.script[0] if fake.script else Scripted())
                if answer.hold is not None:
                    answer.hold()
                time.sleep(answer.delay)
                self.send_response(answer.status)
                for name, value in {"Content-Type": "application/json", **answer.headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A client that gave up (timeout tests) makes the late write fail: that is expected here.
        self.server.handle_error = lambda request, address: None
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def add(self, status: int = 200, body: object = None, *, headers: dict | None = None, delay: float = 0.0,
            raw: bytes | None = None, hold: Callable[[], None] | None = None) -> None:
        """`hold`: called before the answer, e.g. `lambda: waiters.wait_for(n)` (tests.concurrency)."""
        payload = raw if raw is not None else json.dumps({"foods": []} if body is None else body).encode()
        self.script.append(Scripted(status, payload, headers or {}, delay, hold))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def fdc_food(fdc_id: int = 1, description: str = "Test food", nutrients: dict[int, float] | None = None,
             **extra) -> dict:
    """A search-result food in FDC's shape; `nutrients` maps nutrientId → value in the usual unit."""
    units = {1008: "KCAL", 1093: "MG"}
    return {
        "fdcId": fdc_id,
        "description": description,
        "dataType": "SR Legacy",
        "foodNutrients": [
            {"nutrientId": nid, "nutrientNumber": "0", "unitName": units.get(nid, "G"), "value": value}
            for nid, value in (nutrients or {}).items()
        ],
        **extra,
    }


# The keys of every food dict, whichever provider made it (ARCHITECTURE.md §6).
FOOD_FIELDS = frozenset({"fdc_id", "description", "data_type", "brand", "kcal", "protein", "fat", "carbs",
                         "fiber", "sugars", "sodium_mg", "serving_size", "serving_unit", "portions",
                         "source"})
BANANA_NUTRIENTS = {1008: 89, 1003: 1.09, 1004: 0.33, 1005: 22.84, 1079: 2.6, 2000: 12.23, 1093: 1}


def samples_dir() -> Path:
    """The shared saved FDC responses, beside the project (or where FDC_SAMPLES_DIR says, for a
    checkout elsewhere); they are never copied into the repo."""
    if configured := os.environ.get("FDC_SAMPLES_DIR"):
        return Path(configured)
    return Path(django_settings.BASE_DIR).parent / "shared" / "fdc-samples"

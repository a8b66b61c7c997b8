"""Slow peers against a running server: do /healthz and the webhook keep answering?

Opens N connections that each send a request line and then one header line every INTERVAL seconds
(never finishing the request: the "slowloris" pattern), holds them for HOLD seconds, and meanwhile
probes `GET /healthz` and a webhook text turn once a second each. With `--slow-food`, two users
also keep asking `/food <new query>`, one lookup at a time each (a food the cache has not seen: a
lookup in the FDC that `USDA_API_URL` points at, e.g. `python -m bench.fake_fdc --latency-ms 5000`),
so the probes show whether other users' turns wait for them.

    python -m bench.slow_peers --url http://127.0.0.1:8000 --secret S --connections 16 --hold 60

It prints one JSON object: probes sent and answered (a 200 within --probe-timeout) per kind, and
how many of the slow connections the server had closed by the end. tests/test_slow_peers.py runs it
against the production server configuration; the answer counts, not the times, are what it judges.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import socket
import string
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Tally:
    sent: int = 0
    answered: int = 0
    failures: list[str] = field(default_factory=list)

    def record(self, ok: bool, why: str = "") -> None:
        self.sent += 1
        if ok:
            self.answered += 1
        elif len(self.failures) < 5:
            self.failures.append(why)


def _slow_peer(host: str, port: int, interval: float, stop: threading.Event, closed: list[int], index: int) -> None:
    try:
        sock = socket.create_connection((host, port), timeout=5)
    except OSError:
        closed.append(index)
        return
    try:
        sock.sendall(f"POST /telegram/webhook/ HTTP/1.1\r\nHost: {host}\r\n".encode())
        for n in itertools.count():
            if stop.wait(interval):
                break
            sock.sendall(f"X-Slow-{n}: {'a' * 10}\r\n".encode())
    except OSError:
        closed.append(index)
    finally:
        sock.close()


def _request(url: str, *, timeout: float, data: bytes | None = None, headers: dict | None = None) -> tuple[bool, str]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return response.status == 200, str(response.status)
    except urllib.error.HTTPError as error:
        return False, f"HTTP {error.code}"
    except OSError as error:
        return False, type(error).__name__


def _new_word() -> str:
    """A food nobody asked for before: letters only (queries are normalised, digits dropped)."""
    return "slow" + "".join(random.choice(string.ascii_lowercase) for _ in range(12))


def _update(update_id: int, user_id: int, text: str) -> bytes:
    return json.dumps({"update_id": update_id, "message": {
        "message_id": 1, "date": 1_700_000_000, "chat": {"id": user_id, "type": "private"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Probe"}, "text": text}}).encode()


def run(*, url: str, secret: str, connections: int, interval: float, hold: float, probe_timeout: float,
        slow_food: bool, update_ids: itertools.count | None = None) -> dict:
    split = urlsplit(url)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    ids = update_ids or itertools.count(int(time.time() * 1000) % 10**12)
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
    stop, closed = threading.Event(), []
    peers = [threading.Thread(target=_slow_peer, args=(host, port, interval, stop, closed, i), daemon=True)
             for i in range(connections)]
    for peer in peers:
        peer.start()
    food = Tally()
    food_threads: list[threading.Thread] = []

    def ask_food(user_id: int) -> None:  # one at a time: about 12 turns a minute, under the turn rate
        while not stop.is_set():
            ok, why = _request(f"{url}/telegram/webhook/", timeout=hold, headers=headers,
                               data=_update(next(ids), user_id, f"/food {_new_word()}"))
            food.record(ok, why)

    if slow_food:
        food_threads = [threading.Thread(target=ask_food, args=(user,), daemon=True) for user in (900_001, 900_002)]
        for thread in food_threads:
            thread.start()
    healthz, webhook = Tally(), Tally()
    time.sleep(min(2 * interval, hold / 4))  # the slow peers have sent their first lines
    deadline = time.monotonic() + hold - min(2 * interval, hold / 4)
    users = itertools.cycle(range(900_010, 900_020))
    while time.monotonic() < deadline:
        started = time.monotonic()
        healthz.record(*_request(f"{url}/healthz", timeout=probe_timeout))
        webhook.record(*_request(f"{url}/telegram/webhook/", timeout=probe_timeout, headers=headers,
                                 data=_update(next(ids), next(users), "hello")))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    still_open = connections - len(closed)
    stop.set()
    for thread in (*peers, *food_threads):
        thread.join(timeout=probe_timeout + 10)
    return {"connections": connections, "held_s": hold, "slow_peers_still_open_at_end": still_open,
            "healthz": vars(healthz), "webhook": vars(webhook), "slow_food": vars(food) if slow_food else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--secret", required=True, help="TELEGRAM_WEBHOOK_SECRET of the server")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between a slow peer's header lines")
    parser.add_argument("--hold", type=float, default=60.0, help="seconds the slow peers are held")
    parser.add_argument("--probe-timeout", type=float, default=1.0)
    parser.add_argument("--slow-food", action="store_true", help="two users keep asking foods of a slow FDC")
    args = parser.parse_args()
    print(json.dumps(run(url=args.url, secret=args.secret, connections=args.connections, interval=args.interval,
                         hold=args.hold, probe_timeout=args.probe_timeout, slow_food=args.slow_food), indent=1))


if __name__ == "__main__":
    main()

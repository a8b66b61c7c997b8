"""A fake FoodData Central for the benchmarks: `GET /v1/foods/search` after a configurable latency.

Answers are FDC-shaped (ARCHITECTURE.md §6) and about as large as real ones — each food carries the fields
and ~40 nutrient entries a real search result has, so parsing costs what it costs in production —
and deterministic: the same query always gets the same foods. It counts the searches it answered:

    GET  /__bench__/count   →  {"searches": N}
    POST /__bench__/reset   →  zero the count
    POST /__bench__/latency?ms=1000  →  answer searches after 1000 ms from now on (the slow-upstream case)

Run alone: `python -m bench.fake_fdc --latency-ms 150` prints `listening on http://127.0.0.1:<port>`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_MAIN = {1008: ("Energy", "208", "KCAL"), 1003: ("Protein", "203", "G"), 1004: ("Total lipid (fat)", "204", "G"),
         1005: ("Carbohydrate, by difference", "205", "G"), 1079: ("Fiber, total dietary", "291", "G"),
         2000: ("Total Sugars", "269", "G"), 1093: ("Sodium, Na", "307", "MG")}
# Micronutrients FDC lists too: the parser skips them, but they are bytes on the wire and in json.loads.
_OTHER = [(1087 + i, f"Nutrient {1087 + i}", str(301 + i), "MG") for i in range(33)]


def _food(query: str, index: int) -> dict:
    seed = int.from_bytes(hashlib.sha1(f"{query}:{index}".encode()).digest()[:8], "big")
    scale = (seed % 1000) / 1000
    values = {1008: round(40 + 500 * scale, 1), 1003: round(30 * scale, 2), 1004: round(25 * (1 - scale), 2),
              1005: round(60 * scale, 2), 1079: round(8 * scale, 2), 2000: round(20 * scale, 2), 1093: round(700 * scale)}
    nutrients = [(nid, *_MAIN[nid], values[nid]) for nid in _MAIN]
    nutrients += [(nid, name, number, unit, round((seed >> (i % 40)) % 100 / 10, 2))
                  for i, (nid, name, number, unit) in enumerate(_OTHER)]
    return {
        "fdcId": 100_000 + seed % 2_000_000,
        "description": f"{query.title()}, variety {index + 1}",
        "dataType": "SR Legacy" if index % 2 else "Foundation",
        "publishedDate": "2019-04-01",
        "foodCategory": "Benchmark Foods",
        "brandOwner": "",
        "servingSizeUnit": "GRM",
        "servingSize": 100.0,
        "score": 900.0 - index,
        "foodNutrients": [
            {"nutrientId": nid, "nutrientName": name, "nutrientNumber": number, "unitName": unit,
             "derivationCode": "A", "derivationDescription": "Analytical", "value": value,
             "foodNutrientSourceId": 1, "foodNutrientSourceCode": "1",
             "foodNutrientSourceDescription": "Analytical or derived from analytical", "rank": 100 + k}
            for k, (nid, name, number, unit, value) in enumerate(nutrients)
        ],
    }


def search_response(query: str, page_size: int) -> dict:
    foods = [_food(query, i) for i in range(max(1, min(page_size, 50)))]
    return {"totalHits": 1000, "currentPage": 1, "totalPages": 1000 // len(foods),
            "foodSearchCriteria": {"query": query, "pageSize": page_size}, "foods": foods}


class FakeFDC:
    """The server, on 127.0.0.1 (port 0: a free one), in a daemon thread of this process."""

    def __init__(self, *, latency: float, port: int = 0) -> None:
        self.latency = latency
        self.searches = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as api.nal.usda.gov does

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                split = urlsplit(self.path)
                if split.path == "/__bench__/count":
                    return self._answer({"searches": fake.searches})
                if split.path != "/v1/foods/search":
                    return self._answer({"error": {"code": "NOT_FOUND"}}, status=404)
                query = parse_qs(split.query)
                with fake._lock:
                    fake.searches += 1
                time.sleep(fake.latency)
                self._answer(search_response(query.get("query", [""])[0], int(query.get("pageSize", ["50"])[0])))

            def do_POST(self) -> None:  # noqa: N802
                split = urlsplit(self.path)
                if split.path == "/__bench__/latency":
                    fake.latency = float(parse_qs(split.query)["ms"][0]) / 1000
                    return self._answer({"latency_ms": fake.latency * 1000})
                if split.path != "/__bench__/reset":
                    return self._answer({}, status=404)
                with fake._lock:
                    fake.searches = 0
                self._answer({"searches": 0})

            def _answer(self, payload: dict, status: int = 200) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    fake = FakeFDC(latency=args.latency_ms / 1000, port=args.port)
    print(f"listening on {fake.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.close()


if __name__ == "__main__":
    sys.exit(main())

"""Settings for the benchmark's gunicorn: the application's own, plus the floor's URL and (unless
BENCH_COUNTING=0) the counting middleware.

Its URLs add the floor view (bench/floor.py). Everything else — database, Redis, cache on or off — comes from the
environment exactly as in production; the middleware only adds response headers (bench/middleware.py). With
BENCH_COUNTING=0 it is left out: the server that measures CPU and throughput against the floor runs no
bench-only code in a turn's path (the floor's view is only routed, never on the bot's path).
"""

import os

from healthagent.settings import *  # noqa: F401,F403
from healthagent.settings import MIDDLEWARE

if os.environ.get("BENCH_COUNTING", "1") != "0":
    # First, so its clock and its query counter cover every other middleware too.
    MIDDLEWARE = ["bench.middleware.count_sql", *MIDDLEWARE]
ROOT_URLCONF = "bench.urls"

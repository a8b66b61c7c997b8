"""Settings for the benchmark's gunicorn: the application's own, plus the SQL-counting middleware.

Its URLs add the floor view (bench/floor.py). Everything else — database, Redis, cache on or off — comes from the environment exactly as in
production; the middleware only adds response headers (bench/middleware.py).
"""

from healthagent.settings import *  # noqa: F401,F403
from healthagent.settings import MIDDLEWARE

# First, so its clock and its query counter cover every other middleware too.
MIDDLEWARE = ["bench.middleware.count_sql", *MIDDLEWARE]
ROOT_URLCONF = "bench.urls"

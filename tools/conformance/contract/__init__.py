"""`make contract`: Django's own cache test suite (BaseCacheTests) run against our backend.

The suite is not vendored: `run.py` downloads the sdist of the installed Django version with pip
into a cache directory outside the repository, extracts `tests/cache/` (and `runtests.py`, whose
warning filters it runs under), and runs it in a fresh process per Redis (embedded, and the real
one when REDIS_URL is set) with the production CACHES setting. Culling is the only part skipped —
Redis evicts by itself (maxmemory-policy).
"""

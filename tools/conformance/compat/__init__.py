"""`make compat`: django-redis's own test suite run against our backend (caching/backend/cache.py).

The suite is not vendored: `run.py` downloads the sdist of the installed django-redis version with
pip into a cache directory outside the repository, runs its `tests/` with the project's CACHES
(`settings.py`) against a redis-server of its own, and compares the failures with the intended
deviations listed in `run.py` (and in README).
"""

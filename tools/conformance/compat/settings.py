"""django-redis's test settings (its tests/settings/sqlite.py), with the project's CACHES.

`default` is exactly the service's CACHES["default"] from healthagent/settings.py, pointed at the
runner's redis-server (REDIS_URL). The suite's other aliases are the same configuration at the
locations its tests expect: `doesnotexist` (nothing listens there), `sample` (django-redis's
comma-separated primary/replica form) and `with_prefix`.
"""

import copy
import os

from healthagent.settings import CACHES as _SERVICE_CACHES

_url = os.environ["REDIS_URL"]
_unreachable = os.environ["COMPAT_UNREACHABLE_URL"]


def _alias(location, **extra):
    return {**copy.deepcopy(_SERVICE_CACHES["default"]), "LOCATION": location, **extra}


SECRET_KEY = "django_tests_secret_key"
CACHES = {
    "default": _alias(_url),
    "doesnotexist": _alias(_unreachable),
    "sample": _alias(f"{_url},{_url}"),
    "with_prefix": _alias(_url, KEY_PREFIX="test-prefix"),
}
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions"]
USE_TZ = False

"""Settings for one contract run: production's CACHES (from the environment, as for the service),
plus Django's `cache` test app and an in-memory database for its Poll model."""

from healthagent.settings import *  # noqa: F403 - the CACHES under test are exactly the service's

INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "caching", "cache"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
MIDDLEWARE: list[str] = []
ROOT_URLCONF = __name__  # the suite resolves no URLs; the project's URLconf needs apps not loaded here
urlpatterns: list = []

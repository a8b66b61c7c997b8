import os

from django.core.exceptions import ImproperlyConfigured
from django.core.asgi import get_asgi_application

from healthagent import env, startup_errors

env.load()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthagent.settings")
try:
    application = get_asgi_application()
except ImproperlyConfigured as exc:
    startup_errors.exit(str(exc))

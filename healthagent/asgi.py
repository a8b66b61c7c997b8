import os

from django.core.exceptions import ImproperlyConfigured
from django.core.asgi import get_asgi_application

from healthagent import env, startup_errors

env.load()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthagent.settings")
try:
    # Settings first, and what a server cannot work with, before the apps start (and log).
    if (problem := startup_errors.serving_problem() or startup_errors.redis_tls_problem()) is not None:
        startup_errors.exit(problem)
    application = get_asgi_application()
except ImproperlyConfigured as exc:
    startup_errors.exit(str(exc))

"""The application's URLs plus the floor view (bench/floor.py), for the benchmark's gunicorn only."""

from django.urls import path

from healthagent.urls import urlpatterns as application

from .floor import floor_webhook
from .loadgen import FLOOR_PATH

urlpatterns = [*application, path(FLOOR_PATH.strip("/") + "/", floor_webhook, name="bench-floor")]

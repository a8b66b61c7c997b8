"""The application's URLs plus the floor view (bench/floor.py) and the workers' own report of what
they are, for the benchmark's gunicorn only."""

from django.urls import path

from healthagent.urls import urlpatterns as application

from .floor import floor_webhook, worker_view
from .loadgen import FLOOR_PATH

urlpatterns = [*application, path(FLOOR_PATH.strip("/") + "/", floor_webhook, name="bench-floor"),
               path("bench/worker/", worker_view, name="bench-worker")]

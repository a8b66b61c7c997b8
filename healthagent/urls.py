from django.contrib import admin
from django.urls import path

from caching.api import dashboard_urls
from conversations.views import telegram_webhook

from .metrics import metrics
from .views import favicon, healthz

# The service has no public site: no "View site" link to a 404.
admin.site.site_url = None

urlpatterns = [
    # Before admin.site.urls, whose catch-all would otherwise answer /admin/cache/ with a 404.
    *dashboard_urls(),
    path("admin/", admin.site.urls),
    # Telegram does not follow redirects: the webhook answers with and without the trailing slash.
    path("telegram/webhook/", telegram_webhook, name="telegram-webhook"),
    path("telegram/webhook", telegram_webhook),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("metrics", metrics, name="metrics"),
]

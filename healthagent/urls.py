from django.contrib import admin
from django.urls import path

from caching import dashboard
from conversations.views import telegram_webhook

from .views import healthz

urlpatterns = [
    # Before admin.site.urls, whose catch-all would otherwise answer /admin/cache/ with a 404.
    *dashboard.urls(),
    path("admin/", admin.site.urls),
    path("telegram/webhook/", telegram_webhook, name="telegram-webhook"),
    path("healthz", healthz, name="healthz"),
]

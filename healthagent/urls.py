from django.contrib import admin
from django.urls import path

from conversations.views import telegram_webhook

from .views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("telegram/webhook/", telegram_webhook, name="telegram-webhook"),
    path("healthz", healthz, name="healthz"),
]

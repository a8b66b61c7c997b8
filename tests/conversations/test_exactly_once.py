"""Concurrent redeliveries of one update: one processing, same answer (real transactions)."""

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from conversations.models import Message, ProcessedUpdate

from tests.telegram import make_update


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_update_store_one_message(webhook_secret, settings):
    if connection.vendor == "sqlite" and "memory" in str(connection.settings_dict["NAME"]):
        pytest.skip("an in-memory SQLite database is not shared between threads")
    settings.NUTRITION_PROVIDER = "sample"
    update = make_update("/pref coffee black", update_id=4242)
    results, barrier = [], threading.Barrier(4)

    def deliver():
        barrier.wait()
        response = Client().post("/telegram/webhook/", data=json.dumps(update), content_type="application/json",
                                 HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=webhook_secret)
        results.append((response.status_code, json.loads(response.content)))
        connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in results] == [200] * 4
    assert all(body == results[0][1] for _, body in results)
    assert results[0][1]["text"] == "Noted: coffee = black"
    assert Message.objects.filter(role="user").count() == 1
    assert ProcessedUpdate.objects.count() == 1

"""Building Telegram updates and posting them to the webhook, as Telegram does."""

import itertools
import json


_update_ids = itertools.count(1000)


def make_update(text, *, user_id=42, update_id=None, first_name="Ada", username="ada", language_code=None):
    sender = {"id": user_id, "is_bot": False, "first_name": first_name, "username": username}
    if language_code is not None:
        sender["language_code"] = language_code
    return {
        "update_id": next(_update_ids) if update_id is None else update_id,
        "message": {
            "message_id": 7,
            "date": 1_700_000_000,
            "chat": {"id": user_id, "type": "private"},
            "from": sender,
            "text": text,
        },
    }


class Bot:
    """Posts updates to the webhook like Telegram does and returns the parsed reply."""

    def __init__(self, client, secret):
        self.client = client
        self.secret = secret

    def post(self, body, *, secret=None, raw=False):
        data = body if raw else json.dumps(body)
        headers = {} if secret is False else {"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": secret or self.secret}
        return self.client.post("/telegram/webhook/", data=data, content_type="application/json", **headers)

    def say(self, text, **kwargs):
        response = self.post(make_update(text, **kwargs))
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["method"] == "sendMessage"
        assert len(body["text"]) <= 4096
        return body["text"]

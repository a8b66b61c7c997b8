"""Generated Update bodies through the webhook view, as an attacker and as Telegram would send them.

Whatever arrives, the answer is 200, a 4xx or a 503 — never a 500, which Telegram would redeliver
forever — and a 200 is `{}` or a sendMessage of at most 4096 characters of well-formed Telegram HTML
in which user text is escaped (replies use only <b> and <i>; any other tag can only be user text
that escaped unescaped).

`make test` runs FUZZ_EXAMPLES (default 400) examples, derandomized so a run is repeatable;
`make fuzz` runs 5 000 fresh ones (FUZZ_EXAMPLES=5000 FUZZ_RANDOM=true).
"""

import json
import os
import re

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.telegram import make_update

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
RANDOM = os.environ.get("FUZZ_RANDOM", "").lower() in {"1", "true", "yes"}
ALLOWED_STATUSES = {200, 400, 403, 405, 413, 503}
BIGINT = 2**63
COMMANDS = ("start", "help", "profile", "set", "pref", "prefs", "food", "log", "today", "history", "forget",
            "nosuch", "start@SomeBot", "HISTORY")

# Every code point, lone surrogates and NUL included (JSON can carry both as \u escapes).
any_char = st.characters(codec=None, exclude_categories=())
any_text = st.text(any_char, max_size=60)
markup = st.sampled_from(["<b>", "</b>", "<i>x</i>", "<u>", "<a href='x'>", "<script>", "<zz>", "&", "&amp;",
                          "&lt;tag&gt;", "<3 apples and then 2>1 bananas", "<", ">", "\x00", "\ud800", "\n"])
digits = st.text(st.sampled_from("0123456789²①٣߁ 	-+."), max_size=8) | st.just("9" * 5000) | st.just("0" * 4000 + "7")
words = st.sampled_from(["weight_kg", "height_cm", "age", "sex", "name", "kcal_target", "activity", "goal", "diet",
                         "banana", "apple", "g", "kg", "oz", "ml", "-", "female", "lose", "very active", "before",
                         "what did I say before?", "hi", "calories", "bmi", "thanks"])
argument = st.lists(words | digits | markup | any_text, max_size=4).map(" ".join)
command = st.builds(lambda name, args: f"/{name} {args}", st.sampled_from(COMMANDS), argument)
text = command | argument | any_text | st.just("x" * 5000)

edge_ids = st.sampled_from([0, 1, -1, BIGINT - 1, -BIGINT, BIGINT, -BIGINT - 1, 10**30, -(10**30)])
users = st.integers(1, 4) | edge_ids  # a few users, so turns build on earlier ones
ids = st.integers(-BIGINT, BIGINT - 1) | edge_ids
junk = st.none() | st.booleans() | st.floats() | any_text | st.lists(st.integers(), max_size=2)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | any_text,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
                           max_leaves=12)


def _message(draw, *, clean: bool):
    """A message; `clean`: one Telegram could send (only the text and names vary), else any field may
    be junk, missing or extra."""
    user = draw(users)
    names = any_text | markup if clean else any_text | junk | markup
    sender = {"id": user, "is_bot": False, "first_name": draw(names)}
    if draw(st.booleans()):
        sender["username"] = draw(names)
    message = {"message_id": draw(st.integers(1, 10**6)), "date": 1_700_000_000,
               "chat": {"id": user, "type": "private"}, "from": sender, "text": draw(text)}
    if clean:
        return message
    sender.update(id=draw(users | junk), is_bot=draw(st.booleans() | junk))
    message.update(message_id=draw(ids | junk), date=draw(st.integers() | junk), text=draw(text | junk))
    message["chat"]["id"] = draw(st.just(user) | ids | junk)
    for field in draw(st.lists(st.sampled_from(["message_id", "date", "chat", "from", "text"]), max_size=2)):
        message.pop(field, None)
    if draw(st.booleans()):
        message[draw(any_text)] = draw(json_values)
    return message


@st.composite
def update_bodies(draw):
    """JSON-encoded bodies: mostly Updates Telegram could send, some with junk fields, some random
    JSON, some raw bytes."""
    kind = draw(st.integers(0, 19))
    if kind == 0:
        return draw(st.binary(max_size=64))
    if kind == 1:
        return json.dumps(draw(json_values)).encode()
    if kind == 2:
        depth = draw(st.integers(20, 3000))
        return ("[" * depth + "]" * depth).encode() if draw(st.booleans()) else b'{"update_id": 1, "a": ' + b"[" * depth
    clean = kind >= 8
    update = {"update_id": draw(st.integers(1, 10**6)) if clean else draw(ids | junk)}
    payload = "message" if clean else draw(st.sampled_from(["message", "edited_message", "channel_post",
                                                            "callback_query"]))
    update[payload] = _message(draw, clean=clean)
    return json.dumps(update).encode()  # ensure_ascii: NUL and lone surrogates as \u escapes


def _table_row(text="/start", **fields):
    """A body for one row of issue 10's table of inputs that once cost a 500."""
    update = make_update(text, update_id=fields.pop("update_id", None))
    message = update["message"]
    for name, value in fields.items():
        target = {"sender_id": (message["from"], "id"), "chat_id": (message["chat"], "id"),
                  "message_id": (message, "message_id"), "first_name": (message["from"], "first_name"),
                  "username": (message["from"], "username")}[name]
        target[0][target[1]] = value
    return json.dumps(update).encode()


_ALLOWED_TAGS = re.compile(r"</?(b|i)>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")


def well_formed_html(text: str) -> bool:
    """Telegram's HTML rules for our replies: only <b>/<i>, properly nested; no bare < or >; every &
    starts an entity."""
    open_tags: list[str] = []
    for token in re.split(r"(<[^<>]*>)", text):
        if token.startswith("<") and token.endswith(">"):
            match = _ALLOWED_TAGS.fullmatch(token)
            if match is None:
                return False
            if token.startswith("</"):
                if not open_tags or open_tags.pop() != match.group(1):
                    return False
            else:
                open_tags.append(match.group(1))
        elif "<" in token or ">" in token:
            return False
        elif any(_ENTITY.match(token, m.start()) is None for m in re.finditer("&", token)):
            return False
    return not open_tags


def check_answer(response) -> None:
    assert response.status_code in ALLOWED_STATUSES, (response.status_code, response.content[:300])
    if response.status_code != 200:
        event(f"status {response.status_code}")  # what the run covered: --hypothesis-show-statistics
        return
    body = response.json()
    event("200 {}" if body == {} else "200 sendMessage")
    if body == {}:
        return
    assert set(body) == {"method", "chat_id", "text", "parse_mode"}, body
    assert body["method"] == "sendMessage" and body["parse_mode"] == "HTML"
    assert type(body["chat_id"]) is int and -BIGINT <= body["chat_id"] < BIGINT
    assert type(body["text"]) is str and 1 <= len(body["text"]) <= 4096
    assert "\x00" not in body["text"]
    assert well_formed_html(body["text"]), body["text"]


@pytest.fixture
def post(bot):
    return lambda body: bot.post(body, raw=True)


@settings(
    max_examples=EXAMPLES,
    derandomize=not RANDOM,
    database=None,  # no .hypothesis/ directory in the project
    deadline=None,  # a turn's time depends on the machine; this test asserts answers, never time
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
@given(body=update_bodies())
# The table of inputs that once answered 500:
@example(body=_table_row("/history ²"))
@example(body=_table_row("/history ①"))
@example(body=_table_row("/history " + "9" * 5000))
@example(body=_table_row(update_id=BIGINT))
@example(body=_table_row(sender_id=BIGINT))
@example(body=_table_row(chat_id=-BIGINT - 1))
@example(body=_table_row(message_id=BIGINT))
@example(body=_table_row(first_name="A\x00da"))
@example(body=_table_row(username="a\x00da"))
@example(body=_table_row(first_name="A\ud800da"))
@example(body=_table_row(username="a\udfffda"))
@example(body=b"[" * 2000 + b"]" * 2000)
@example(body=b'{"update_id": 1, "message": ' + b"[" * 1000 + b"]" * 1000 + b"}")
# ... and the smaller ones: user text as HTML, /forget, replies near the length limit.
@example(body=_table_row("I ate <3 apples and then 2>1 bananas"))
@example(body=_table_row("&lt;tag&gt;"))
@example(body=_table_row("/forget yes"))
@example(body=_table_row("/history 50"))
@example(body=_table_row("/food " + "<b>" * 40))
def test_every_generated_body_gets_a_2xx_4xx_or_503_and_a_well_formed_reply(post, body):
    check_answer(post(body))


def test_the_html_check_can_fail():
    assert well_formed_html("<b>Hi</b> &lt;3 &amp; <i>x</i>")
    for bad in ("<b>x", "</b>", "<u>x</u>", "2>1", "<3", "a & b", "<b><i>x</b></i>", "<script>"):
        assert not well_formed_html(bad), bad

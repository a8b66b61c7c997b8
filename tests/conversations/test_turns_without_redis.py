"""Redis stopped mid-conversation: every bot turn is still answered, exactly as with Redis; once
the breaker is open no connection is attempted; after a restart caching resumes."""

import time

import pytest

from caching.backend import stats
from caching.backend.breaker import breaker_state
from tests.redis_server import connect_attempts, redis_server, use_redis  # noqa: F401

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis_server]
SCRIPT = ["/set weight_kg 70", "/pref diet vegan", "/profile", "/prefs", "/food banana", "/log 100 g banana",
          "what did I say before?", "/history 3"]


def _conversation(bot, user_id):
    return [bot.say(text, user_id=user_id) for text in SCRIPT]


def test_bot_answers_the_same_with_redis_stopped_and_resumes_caching(bot, redis_server, use_redis,
                                                                        connect_attempts):
    cache = use_redis(redis_server.url, BREAKER_FAILURES=3, BREAKER_COOLDOWN=60)
    bot.say("/start", user_id=1)
    with_redis = _conversation(bot, 1)

    redis_server.stop()
    bot.say("/start", user_id=2)  # its cache calls fail and open the breaker
    assert breaker_state() == "open"
    attempts = connect_attempts.count
    assert _conversation(bot, 2) == with_redis
    assert connect_attempts.count == attempts  # open: not one connection tried

    redis_server.start()
    cache.breaker.cooldown = 0.05  # let the next call probe soon
    for _ in range(100):
        bot.say("/profile", user_id=2)
        if breaker_state() == "closed":
            break
        time.sleep(0.05)
    assert breaker_state() == "closed"
    bot.say("/profile", user_id=2)
    with stats.capture() as events:
        bot.say("/profile", user_id=2)
    assert ("user_memory", "hit") in events and ("conversation_history", "hit") in events

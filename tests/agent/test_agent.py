"""The agent behind free text, with a fake OpenAI-compatible provider: its tools, what it records,
its cache, and every way it falls back to the rules."""

from __future__ import annotations

import json
import logging
import re

import pytest

from caching.backend import stats
from memory.models import Preference, Profile
from nutrition.models import FoodEntry
from tests.agent.fakes import TEST_LLM_KEY, Scripted, by_tool, calls, last, text, tool_results, user_text
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db
UNDERSTOOD = "Sorry, I didn't understand"
DINNER = "what should I eat for dinner?"


@pytest.fixture
def ada(db):
    return ProfileFactory(telegram_id=42, name="Ada", sex="female", age=30, height_cm=175, weight_kg=70,
                          activity="moderate", goal="maintain")


def agent_counts():
    return {field: stats.local_counts()["agent"][field] for field in ("hits", "misses", "model_calls")}


def test_without_llm_settings_free_text_gets_the_rules_and_no_request(bot, ada, settings):
    assert not settings.LLM_ENABLED
    before = agent_counts()
    assert UNDERSTOOD in bot.say(DINNER)
    assert agent_counts() == before


def test_a_question_the_rules_miss_is_answered_through_the_target_and_diary_tools(bot, ada, fake_llm):
    def respond(request):
        if last(request)["role"] == "user":
            return calls(("daily_target", {}), ("read_diary", {"day": "today"}))
        target, diary = tool_results(request)
        left = target["kcal_per_day"] - diary["totals"]["kcal"]
        return text(f"You have {left:.0f} kcal left: a salad with chicken fits.")

    fake_llm.responder = respond
    bot.say("I had 2 eggs")  # the rules log it
    answer = bot.say(DINNER)
    assert "kcal left" in answer and UNDERSTOOD not in answer
    eggs = FoodEntry.objects.get(user_id=42)
    assert f"{2000 - eggs.kcal:.0f} kcal left" in answer or "kcal left" in answer
    request = fake_llm.requests[-1]
    assert [t["function"]["name"] for t in request["tools"]] == [
        "lookup_food", "log_food", "read_diary", "read_profile", "set_profile", "weight_history", "daily_target"]


def test_foreign_language_logs_with_the_amount_said(bot, ada, fake_llm):
    fake_llm.responder = by_tool("log_food", {"items": [{"food": "eggs", "amount": "2", "said": "zwei"}]},
                                 lambda results: "Ich habe 2 Eier eingetragen.")
    answer = bot.say("Ich habe zwei Eier gegessen")
    entry = FoodEntry.objects.get(user_id=42)
    assert "egg" in entry.description.lower() and entry.grams > 80
    assert "Ich habe 2 Eier eingetragen." in answer
    assert "Logged: 2 eggs (you said “zwei”)" in answer  # the bot's own line: what was really recorded


def test_a_guessed_amount_is_not_logged_and_the_question_waits(bot, ada, fake_llm):
    fake_llm.responder = by_tool("log_food", {"items": [{"food": "rice", "amount": "200 g", "said": "Reis"}]},
                                 lambda results: "Wie viel Reis war es?")
    answer = bot.say("Ich habe Reis gegessen")
    assert not FoodEntry.objects.filter(user_id=42).exists()
    assert "Wie viel Reis" in answer
    assert Profile.objects.get(pk=42).pending["items"][0]["query"] == "rice"
    # The answer goes to the rules: the question in memory takes an amount.
    bot.say("200 g")
    assert FoodEntry.objects.get(user_id=42).grams == 200


def test_refusals_apply_to_the_model(bot, ada, fake_llm):
    fake_llm.responder = by_tool("log_food", {"items": [{"food": "rice", "amount": "9 kg", "said": "9 kg"}]},
                                 lambda results: json.dumps(results))
    answer = bot.say("ich habe 9 kg reis gegessen")
    assert not FoodEntry.objects.filter(user_id=42).exists()
    assert "Not logged" in answer


def test_profile_tools_read_and_write_through_the_services(bot, ada, fake_llm):
    fake_llm.responder = by_tool("set_profile", {"field": "weight_kg", "value": "68"}, lambda r: "Gespeichert.")
    answer = bot.say("mein Gewicht ist jetzt 68")
    assert Profile.objects.get(pk=42).weight_kg == 68
    assert "Saved: weight_kg 68" in answer
    fake_llm.responder = by_tool("set_profile", {"field": "weight_kg", "value": "900"}, lambda r: json.dumps(r))
    answer = bot.say("mein Gewicht ist 900")
    assert Profile.objects.get(pk=42).weight_kg == 68  # the range check held
    fake_llm.responder = by_tool("weight_history", {}, lambda r: f"{len(r[0])} weights, latest {r[0][0]['kg']}")
    assert "1 weights, latest 68.0" in bot.say("wie hat sich mein Gewicht entwickelt?")
    fake_llm.responder = by_tool("read_profile", {}, lambda r: f"height {r[0]['profile']['height_cm']}")
    assert "height 175.0" in bot.say("wie groß bin ich?")
    fake_llm.responder = by_tool("lookup_food", {"query": "banana"}, lambda r: f"{r[0][0]['kcal_per_100g']} kcal")
    assert "kcal" in bot.say("Kalorien einer Banane?")


def test_the_same_context_free_question_costs_one_model_call_across_users(bot, ada, fake_llm):
    ProfileFactory(telegram_id=43)
    fake_llm.responder = by_tool("lookup_food", {"query": "banana"}, lambda r: "89 kcal per 100 g")
    before = agent_counts()
    assert "89 kcal" in bot.say("Kalorien einer Banane?", user_id=42)
    assert "89 kcal" in bot.say("kalorien  einer BANANE?", user_id=43)
    counts = agent_counts()
    assert counts["model_calls"] - before["model_calls"] == 2  # one question: tool call + answer
    assert counts["hits"] - before["hits"] == 1


def test_a_context_change_is_a_miss_and_a_write_is_never_cached(bot, ada, fake_llm):
    fake_llm.responder = by_tool("read_profile", {}, lambda r: f"Du wiegst {r[0]['profile']['weight_kg']} kg")
    assert "70.0" in bot.say("wie schwer bin ich?")
    assert "70.0" in bot.say("wie schwer bin ich?")  # a hit
    bot.say("/set weight_kg 71")
    assert "71.0" in bot.say("wie schwer bin ich?")
    calls_before = agent_counts()["model_calls"]
    fake_llm.responder = by_tool("log_food", {"items": [{"food": "eggs", "amount": "2", "said": "2 eggs"}]}, lambda r: "ok")
    bot.say("zwei Eier: 2 eggs bitte")
    bot.say("/undo")
    bot.say("zwei Eier: 2 eggs bitte")
    assert FoodEntry.objects.filter(user_id=42).count() == 1
    assert agent_counts()["model_calls"] - calls_before == 4  # the writing turn asked the model again


def test_the_diary_version_is_in_the_key(bot, ada, fake_llm):
    fake_llm.responder = by_tool("read_diary", {"day": "today"}, lambda r: f"{r[0]['totals']['kcal']} kcal heute")
    assert "0.0 kcal heute" in bot.say("wie viel habe ich heute gegessen, bitte?")
    bot.say("/log 100 g banana")
    assert "0.0 kcal heute" not in bot.say("wie viel habe ich heute gegessen, bitte?")


@pytest.mark.parametrize("failure", [
    Scripted(500, b'{"error": {"message": "boom"}}'),
    Scripted(200, b"not json"),
    Scripted(200, json.dumps({"choices": []}).encode()),
    Scripted(200, b"{}", delay=3.0),  # past LLM_TIMEOUT (2 s)
    calls(("log_food", "{not json")),
    calls(("drop_tables", {})),
    calls(("read_diary", {"day": "today", "extra": 1})),
    text(""),
], ids=["500", "not-json", "no-choices", "timeout", "bad-arguments", "unknown-tool", "bad-parameter", "empty"])
def test_every_provider_failure_gets_the_rules_reply(bot, ada, fake_llm, failure, caplog):
    fake_llm.responder = lambda request: failure
    with caplog.at_level(logging.INFO):
        answer = bot.say(DINNER)
    assert UNDERSTOOD in answer
    assert DINNER not in caplog.text and TEST_LLM_KEY not in caplog.text


def test_an_open_breaker_makes_no_call(bot, ada, fake_llm, settings):
    settings.LLM_BREAKER_FAILURES = 2
    fake_llm.responder = lambda request: Scripted(503, b"{}")
    for _ in range(2):
        assert UNDERSTOOD in bot.say(DINNER)
    sent = len(fake_llm.requests)
    assert UNDERSTOOD in bot.say(DINNER)
    assert len(fake_llm.requests) == sent


def test_the_daily_token_budget(bot, ada, fake_llm, settings):
    settings.LLM_DAILY_TOKENS = 150
    fake_llm.responder = lambda request: text(f"Antwort auf {user_text(request)}", tokens_in=100, tokens_out=60)
    assert "Antwort" in bot.say("erste Frage bitte")
    assert UNDERSTOOD in bot.say("zweite Frage bitte")
    assert len(fake_llm.requests) == 1


def test_the_turn_time_budget(bot, ada, fake_llm, settings):
    settings.LLM_TURN_BUDGET = 0.5
    fake_llm.responder = lambda request: Scripted(200, json.dumps(text("spät")).encode(), delay=1.0)
    assert UNDERSTOOD in bot.say(DINNER)


def test_a_write_before_a_failure_is_still_reported(bot, ada, fake_llm):
    def respond(request):
        if last(request)["role"] == "user":
            return calls(("log_food", {"items": [{"food": "eggs", "amount": "2", "said": "2"}]}))
        return Scripted(500, b"{}")

    fake_llm.responder = respond
    answer = bot.say("Ich habe 2 Eier gegessen")
    assert FoodEntry.objects.filter(user_id=42).count() == 1
    assert "Logged: 2 eggs" in answer


def test_pref_ai_off_keeps_the_user_on_the_rules(bot, ada, fake_llm):
    bot.say("/pref ai off")
    assert Preference.objects.get(user_id=42, key="ai").value == "off"
    assert UNDERSTOOD in bot.say(DINNER)
    assert fake_llm.requests == []
    bot.say("/pref ai -")
    fake_llm.responder = lambda request: text("Gern!")
    assert "Gern!" in bot.say(DINNER)


def test_commands_and_understood_text_never_reach_the_model(bot, ada, fake_llm):
    for message in ("/today", "I had 2 eggs", "what did I eat today?", "how much protein did I eat today?",
                    "how has my weight changed?", "/profile"):
        bot.say(message)
    assert fake_llm.requests == []


def test_what_is_sent_holds_no_name_and_no_ai_preference(bot, ada, fake_llm):
    Preference.objects.create(user_id=42, key="ai", value="on")
    fake_llm.responder = by_tool("read_profile", {}, lambda r: "ok")
    bot.say("wer bin ich?")
    sent = json.dumps(fake_llm.requests)
    assert "Ada" not in sent and '"ai"' not in sent


def test_the_agent_namespace_is_reported_by_cache_stats_and_the_dashboard(bot, ada, fake_llm, admin_client):
    from io import StringIO

    from django.core.management import call_command

    stats.reset()
    fake_llm.responder = lambda request: text("Hallo!", tokens_in=120, tokens_out=7)
    bot.say("wie geht es dir heute so?")
    bot.say("wie geht es dir heute so?")
    stats.flush()
    out = StringIO()
    call_command("cache_stats", "--json", stdout=out)
    agent = json.loads(out.getvalue())["namespaces"]["agent"]
    assert (agent["hits"], agent["misses"], agent["model_calls"], agent["tokens_in"], agent["tokens_out"]) == (1, 1, 1, 120, 7)
    out = StringIO()
    call_command("cache_stats", stdout=out)
    assert "agent: 1 model calls, 120 tokens in, 7 tokens out; 1 answers from the cache" in out.getvalue()
    page = admin_client.get("/admin/cache/").content.decode()
    assert "1 model calls, 120 tokens in" in page


@pytest.mark.parametrize("amount, quote, said, ok", [
    ("2", "2", "I had 2 eggs", True),
    ("2", "zwei", "ich hatte zwei Eier", True),
    ("1", "une", "j'ai mangé une pomme", True),
    ("150 g", "150 g", "150 g Reis", True),
    ("150 g", "150g", "150g Reis", True),
    ("200 g", "Reis", "Ich habe Reis gegessen", False),  # a weight from no number
    ("3", "2", "I had 2 eggs", False),  # another number than the quote's
    ("2", "zwei", "ich hatte Eier", False),  # the quote is not in the message
    ("2", "", "I had 2 eggs", False),
    ("40", "vierzig", "vierzig Nüsse", False),  # words make a small count only
    ("a slice", "eine Scheibe", "eine Scheibe Brot", True),
])
def test_an_amount_must_be_what_the_user_said(amount, quote, said, ok):
    from agent.tools import said_by_user

    assert said_by_user(amount, quote, said) is ok


@pytest.mark.parametrize("message, amount, quote", [
    ("Ich habe einen Apfel gegessen", "1", "einen"), ("J'ai mangé une pomme", "1", "une"),
    ("He comido una manzana", "1", "una"), ("Ho mangiato una mela", "1", "una"),
    ("Я съел одно яблоко", "1", "одно"), ("我吃了一个苹果", "1", "一个"), ("Ik heb een appel gegeten", "1", "een"),
    ("Eu comi uma maçã", "1", "uma"),
])
def test_the_phrasing_tables_foreign_meals_are_logged_through_the_tools(bot, ada, fake_llm, message, amount, quote):
    """The rows the rules answer "I read English only" (tests/conversations/test_phrasing_table.py)."""
    fake_llm.responder = by_tool("log_food", {"items": [{"food": "apple", "amount": amount, "said": quote}]},
                                 lambda results: "✓")
    answer = bot.say(message)
    entry = FoodEntry.objects.get(user_id=42)
    assert "apple" in entry.description.lower() and 100 <= entry.grams <= 250, (entry.description, entry.grams)
    assert f"(you said “{quote}”)" in answer and "I read English only" not in answer


def test_the_sdk_and_its_http_client_log_nothing_of_a_turn(bot, ada, fake_llm, caplog):
    """The openai SDK logs each request's messages at DEBUG: those loggers stay at WARNING."""
    fake_llm.responder = lambda request: text("Alles gut.")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger().setLevel(logging.DEBUG)
        bot.say("wie geht es dir heute so?")
    assert "wie geht es" not in caplog.text and TEST_LLM_KEY not in caplog.text


def test_the_bots_own_lines_use_the_languages_decimal_comma(bot, ada, fake_llm):
    def respond(request):
        if last(request)["role"] != "user":
            return text("Erledigt.")
        return calls(("log_food", {"items": [{"food": "rice", "amount": "75 g", "said": "75 g"}]}),
                     ("set_profile", {"field": "weight_kg", "value": "68.5"}))

    fake_llm.responder = respond
    answer = bot.say("Ich hatte 75 g Reis und wiege 68.5 kg", language_code="de")
    notes = [line for line in answer.splitlines() if line != "Erledigt."]
    assert len(notes) == 2 and "68,5" in notes[1]
    assert all(re.search(r"\d\.\d", line) is None for line in notes)
    assert re.search(r"\d,\d", notes[0])  # 75 g of rice: a fraction of a kcal
    assert "weight_kg 68.5" in bot.say("I weigh 68.5 kg now, and had 75 g rice", language_code="en")  # English: a point

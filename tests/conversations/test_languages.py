"""Replies in the user's language: Telegram's `language_code`, or the one chosen with /set language
(kept on the profile); English, German and Spanish, numbers and dates written as each language
writes them. Commands and the words of food stay English (the bot reads those in English only)."""

from __future__ import annotations

import gettext
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import outgoing
from conversations.models import OutgoingMessage
from memory.models import Profile
from tests.telegram import make_update

pytestmark = pytest.mark.django_db(transaction=True)
LOCALE = Path(settings.BASE_DIR) / "locale"


@pytest.mark.parametrize(("code", "greeting", "target_word"), [
    ("en", "Hi Ada! I'm your health assistant", "No daily target yet"),
    ("en-GB", "Hi Ada! I'm your health assistant", "No daily target yet"),
    ("de", "Hallo Ada! Ich bin dein Gesundheitsassistent", "Noch kein Tagesziel"),
    ("de-AT", "Hallo Ada! Ich bin dein Gesundheitsassistent", "Noch kein Tagesziel"),
    ("es", "¡Hola, Ada! Soy tu asistente de salud", "Aún no hay objetivo diario"),
    ("es-419", "¡Hola, Ada! Soy tu asistente de salud", "Aún no hay objetivo diario"),
    ("fr", "Hi Ada! I'm your health assistant", "No daily target yet"),  # not spoken: English
    ("", "Hi Ada! I'm your health assistant", "No daily target yet"),
])
def test_telegram_language_code_picks_the_language(bot, code, greeting, target_word):
    assert bot.say("/start", language_code=code).startswith(greeting)
    assert target_word in bot.say("/today", language_code=code)


def test_german_numbers_and_dates(bot):
    bot.say("/start", language_code="de")
    logged = bot.say("/log 150 g banana", language_code="de")
    assert logged.startswith("150 g banana eingetragen: <b>Bananas, raw</b> — 134 kcal · E 1,6 g · F 0,5 g · KH 34,3 g")
    assert "/undo entfernt es" in logged
    assert bot.say("/set weight_kg 72.5", language_code="de") == "Gespeichert: Gewicht 72,5 kg."
    weight = bot.say("/weight", language_code="de")
    month = ("Jan Feb Mär Apr Mai Jun Jul Aug Sep Okt Nov Dez").split()
    assert weight.startswith("<b>Dein Gewicht</b>: 72,5 kg (") and any(f" {m})" in weight.split("\n")[0] for m in month)
    today = bot.say("/today", language_code="de")
    assert today.startswith("<b>Heute</b>\n1. 150 g Bananas, raw — 134 kcal\nSumme: 134 kcal · E 1,6 g")


def test_spanish_numbers_errors_and_free_text(bot):
    bot.say("/start", language_code="es")
    assert bot.say("/log 1,5 kg banana", language_code="es").startswith(
        "Registrado 1500 g banana: <b>Bananas, raw</b> — 1335 kcal · P 16,4 g · G 5,0 g · HC 342,6 g")
    assert bot.say("/set age 7", language_code="es") == ("age debe ser un número entero de 13 a 120 años, "
                                                         "p. ej. /set age 34")
    assert bot.say("hello", language_code="es") == "¡Hola, Ada! Dime qué has comido, pregunta por un alimento o envía /help."
    assert bot.say("/tody", language_code="es").startswith("No conozco /tody. ¿Quisiste decir /today?")


def test_set_language_overrides_telegram_and_is_kept_on_the_profile(bot):
    bot.say("/start", language_code="de")
    assert bot.say("/set language es", language_code="de") == "Guardado: idioma Español."
    assert Profile.objects.get(pk=42).language == "es"
    assert bot.say("/today", language_code="de").startswith("Hoy aún no hay nada registrado")
    assert bot.say("/set language english", language_code="de") == "Saved: language English."
    assert bot.say("/today", language_code="de").startswith("Nothing logged today")
    assert bot.say("/set language auto", language_code="de") == "Gespeichert: Sprache automatisch (die deiner Telegram-App)."
    assert Profile.objects.get(pk=42).language == ""
    assert bot.say("/today", language_code="de").startswith("Heute noch nichts eingetragen")
    assert "/profile" not in bot.say("/set language klingon")  # refused, with the languages it knows
    assert "en (English), de (Deutsch), es (Español)" in bot.say("/set language klingon")


def test_replies_before_the_profile_is_read_use_telegrams_language(bot):
    update = make_update("", language_code="de")
    del update["message"]["text"]
    update["message"]["sticker"] = {"file_id": "s"}
    assert bot.post(update).json()["text"].startswith("Ich lese nur Text")
    group = make_update("/start", language_code="es")
    group["message"]["chat"] = {"id": -100, "type": "group"}
    assert bot.post(group).json()["text"].startswith("Solo hablo en chats privados")


def test_week_and_export_in_german(bot):
    with outgoing.delivered_here():
        bot.say("/start", language_code="de")
        bot.say("/log 150 g banana", language_code="de")
        assert bot.say("/week", language_code="de").startswith(
            "Letzte 7 Tage: im Schnitt 134 kcal am Tag an 1 eingetragenen Tag")
        assert bot.say("/export", language_code="de") == "Deine Daten als CSV-Datei: 1 Tagebucheintrag und 0 Gewichte."
    chart, csv_file = OutgoingMessage.objects.order_by("pk")
    assert chart.text.startswith("Deine Woche: ")
    assert ",150.0,133.5,1.6,0.5,34.3," in bytes(csv_file.file).decode("utf-8-sig")  # a decimal point in every language


def test_a_warm_turn_in_german_costs_what_an_english_one_does(bot, redis_round_trips):
    for text in ("/start", "/set weight_kg 70", "hallo"):
        bot.say(text, language_code="de")
    redis_round_trips.clear()
    with CaptureQueriesContext(connection) as ctx:
        assert "Vorhin hast du gesagt" in bot.say("what did I say before?", language_code="de")
    statements = [q["sql"].split()[0].upper() for q in ctx.captured_queries]
    finish = ["WITH"] if connection.vendor == "postgresql" else ["INSERT", "UPDATE"]
    assert [s for s in statements if s not in ("BEGIN", "COMMIT")] == ["INSERT", *finish]
    assert redis_round_trips == [["MGET"], ["EVALSHA"]]


@pytest.mark.parametrize("language", ["de", "es"])
def test_catalogs_are_complete_and_compiled(language, tmp_path):
    po, mo = LOCALE / language / "LC_MESSAGES" / "django.po", LOCALE / language / "LC_MESSAGES" / "django.mo"
    with mo.open("rb") as committed:
        catalog = gettext.GNUTranslations(committed)._catalog  # type: ignore[attr-defined]
    assert len(catalog) > 200
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("msgfmt (gettext) is not installed: the .po cannot be checked against the .mo")
    out = subprocess.run([msgfmt, "--check-format", "--statistics", "-o", str(tmp_path / "fresh.mo"), str(po)],
                         capture_output=True, text=True, check=True)
    assert "untranslated" not in out.stderr and "fuzzy" not in out.stderr, out.stderr
    with (tmp_path / "fresh.mo").open("rb") as fresh:
        assert gettext.GNUTranslations(fresh)._catalog == catalog, "locale/*.mo is older than its .po: make messages"


def test_every_reply_string_is_in_the_catalogs(tmp_path):
    """A string wrapped in gettext but missing from the .po files would stay English."""
    from django.core.management import call_command

    if shutil.which("xgettext") is None:
        pytest.skip("xgettext (gettext) is not installed")
    for app in ("conversations", "memory", "nutrition"):
        shutil.copytree(Path(settings.BASE_DIR) / app, tmp_path / app, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "locale").mkdir()
    import os

    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        call_command("makemessages", locale=["de"], verbosity=0, stdout=io.StringIO())
    finally:
        os.chdir(cwd)
    fresh = _msgids(tmp_path / "locale" / "de" / "LC_MESSAGES" / "django.po")
    kept = _msgids(LOCALE / "de" / "LC_MESSAGES" / "django.po")
    assert fresh - kept == set(), "run `make messages` and translate the new strings"


def _msgids(path: Path) -> set[str]:
    """The msgids of a .po file (continuation lines joined; escapes left as written)."""
    ids, current, inside = set(), [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("msgid "):
            current, inside = [line[7:-1]], True
        elif inside and line.startswith('"'):
            current.append(line[1:-1])
        else:
            if inside and "".join(current):
                ids.add("".join(current))
            inside = False
    return ids

"""What `/set` accepts for each profile field, and the message that says so when a value is wrong."""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from decimal import Decimal, InvalidOperation
from typing import Callable

from django.utils import formats
from django.utils.translation import get_language, gettext as _, gettext_lazy

from healthagent.errors import ApplicationError

from .models import Profile


# Plain decimals, as /log takes them: no signs, exponents ("1e4"), "nan" or "inf".
_PLAIN = re.compile(r"\d+(?:[.,]\d+)?", re.ASCII)


def _number(raw: str, field: str, low: float, high: float, unit: str, *, whole: bool) -> Decimal | int:
    hint = (_("{field} must be a whole number from {low} to {high}{unit}, e.g. /set {field} {example}") if whole else
            _("{field} must be a number from {low} to {high}{unit}, e.g. /set {field} {example}")).format(
        field=field, low=f"{low:g}", high=f"{high:g}", unit=unit, example=_EXAMPLES[field])
    if field == "kcal_target":
        hint += _(" (or /set kcal_target auto for the estimate from your profile)")
    raw = unicodedata.normalize("NFKC", raw).strip()
    if not _PLAIN.fullmatch(raw):
        raise ApplicationError(hint)
    try:
        value = Decimal(raw.replace(",", "."))
    except InvalidOperation:
        raise ApplicationError(hint) from None
    if not value.is_finite() or not (low <= value <= high):
        raise ApplicationError(hint)
    if whole:
        if value != value.to_integral_value():
            raise ApplicationError(hint)
        return int(value)
    return value.quantize(Decimal("0.1"))


def _choice(raw: str, field: str, choices: list[str]) -> str:
    value = raw.strip().lower().replace(" ", "_").replace("-", "_")
    if value not in choices:
        raise ApplicationError(_("{field} must be one of: {choices}, e.g. /set {field} {example}").format(
            field=field, choices=", ".join(choices), example=_EXAMPLES[field]))
    return value


def _name(raw: str) -> str:
    value = " ".join(raw.split())
    if not 1 <= len(value) <= 100:
        raise ApplicationError(_("name must be 1 to 100 characters, e.g. /set name Alex"))
    return value


def _zone(raw: str) -> str:
    hint = _("tz must be a time zone name like Europe/Berlin, America/New_York or Asia/Tokyo "
             "(see en.wikipedia.org/wiki/List_of_tz_database_time_zones), e.g. /set tz Europe/Berlin")
    value = raw.strip()
    names = {name.casefold(): name for name in zoneinfo.available_timezones()}
    name = names.get(value.casefold()) or names.get(value.replace(" ", "_").casefold())
    if name is None:
        raise ApplicationError(hint)
    return name


# What /set language takes for each language the bot speaks (settings.LANGUAGES), in those languages.
LANGUAGE_NAMES = {
    "en": "en", "english": "en", "englisch": "en", "inglés": "en", "ingles": "en",
    "de": "de", "german": "de", "deutsch": "de", "alemán": "de", "aleman": "de",
    "es": "es", "spanish": "es", "spanisch": "es", "español": "es", "espanol": "es", "castellano": "es",
}


def _language(raw: str) -> str:
    value = unicodedata.normalize("NFKC", raw).strip().casefold()
    if value in AUTO_WORDS or value == "telegram":
        return ""  # back to the language Telegram says the user's app is set to
    code = LANGUAGE_NAMES.get(value) or LANGUAGE_NAMES.get(value.split("-")[0].split("_")[0])
    if code is None:
        raise ApplicationError(_("language must be one of: en (English), de (Deutsch), es (Español), or auto "
                                 "for your Telegram app's language, e.g. /set language de"))
    return code


_YEARS = gettext_lazy(" years")

# `/set kcal_target auto` (or any of these): no own target, back to the estimate from the profile.
AUTO_WORDS = frozenset({"auto", "-", "none", "0", "off", "reset", "estimate", "default", "clear", "unset"})

_EXAMPLES = {
    "name": "Alex", "age": "34", "sex": "female", "height_cm": "172", "weight_kg": "70.5",
    "activity": "moderate", "goal": "maintain", "kcal_target": "2000", "tz": "Europe/Berlin",
    "language": "de",
}

PARSERS: dict[str, Callable[[str], object]] = {
    "name": _name,
    "age": lambda raw: _number(raw, "age", 13, 120, str(_YEARS), whole=True),
    "sex": lambda raw: _choice(raw, "sex", Profile.Sex.values),
    "height_cm": lambda raw: _number(raw, "height_cm", 50, 272, " cm", whole=False),
    "weight_kg": lambda raw: _number(raw, "weight_kg", 20, 400, " kg", whole=False),
    "activity": lambda raw: _choice(raw, "activity", Profile.Activity.values),
    "goal": lambda raw: _choice(raw, "goal", Profile.Goal.values),
    "kcal_target": lambda raw: None if raw.strip().casefold() in AUTO_WORDS else _number(
        raw, "kcal_target", 800, 10000, " kcal", whole=True),
    "tz": _zone,
    "language": _language,
}
# What people call each field (/profile, confirmations), and how a value is shown.
LABELS = {
    "name": gettext_lazy("Name"), "age": gettext_lazy("Age"), "sex": gettext_lazy("Sex"),
    "height_cm": gettext_lazy("Height"), "weight_kg": gettext_lazy("Weight"), "activity": gettext_lazy("Activity"),
    "goal": gettext_lazy("Goal"), "kcal_target": gettext_lazy("Daily target"), "tz": gettext_lazy("Time zone"),
    "language": gettext_lazy("Language"),
}
UNITS = {"height_cm": " cm", "weight_kg": " kg", "kcal_target": " kcal", "age": _YEARS}
# How a choice is shown (the value stays the English word /set takes).
CHOICE_NAMES = {
    "male": gettext_lazy("male"), "female": gettext_lazy("female"), "other": gettext_lazy("other"),
    "sedentary": gettext_lazy("sedentary"), "light": gettext_lazy("light"), "moderate": gettext_lazy("moderate"),
    "active": gettext_lazy("active"), "very_active": gettext_lazy("very active"), "lose": gettext_lazy("lose"),
    "maintain": gettext_lazy("maintain"), "gain": gettext_lazy("gain"),
    "en": "English", "de": "Deutsch", "es": "Español",
}


def label_in_text(field: str) -> str:
    """A field's label inside a sentence ("Saved: weight 70 kg"): lower case, but German keeps its nouns'
    capitals ("Gespeichert: Gewicht 70 kg")."""
    label = str(LABELS.get(field, field))
    return label if get_language() == "de" else label.lower()


def shown(field: str, value: object) -> str:
    """A field's value as a person reads it: "70 kg", "very active", "—" when unset."""
    if value in (None, ""):
        return _("auto (your Telegram app's)") if field == "language" else "—"
    if isinstance(value, (float, Decimal)):
        value = f"{float(value):g}".replace(".", formats.get_format("DECIMAL_SEPARATOR"))
    text = str(CHOICE_NAMES.get(str(value), value)) if field in ("activity", "sex", "goal", "language") else str(value)
    return text + str(UNITS.get(field, ""))
FIELDS = tuple(PARSERS)
# The names people type for a field ("/set weight 70"), beside the field's own.
ALIASES = {
    "weight": "weight_kg", "height": "height_cm", "years": "age", "gender": "sex",
    "target": "kcal_target", "kcal": "kcal_target", "calories": "kcal_target",
    "timezone": "tz", "time_zone": "tz", "zone": "tz",
    "lang": "language", "sprache": "language", "idioma": "language",
}


def canonical_field(field: str) -> str:
    """The field `field` names ("Weight" -> "weight_kg"); unknown names are returned as typed, lowercased."""
    field = field.strip().lower().replace("-", "_")
    return ALIASES.get(field, field)


def parse_field(field: str, raw: str) -> object:
    field = canonical_field(field)
    if field not in PARSERS:
        raise ApplicationError(_("I can't set {field}. Fields: {fields}, e.g. /set weight_kg 70").format(
            field=repr(field[:30]), fields=", ".join(FIELDS)))
    if not raw.strip():
        raise ApplicationError(_("Give a value, e.g. /set {field} {example}").format(field=field, example=_EXAMPLES[field]))
    return PARSERS[field](raw.strip())

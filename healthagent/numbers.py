"""Numbers as the active language writes them: "72.5" in English, "72,5" in German and Spanish.
Shared by the conversation's replies and the lines the agent adds itself."""

from typing import SupportsFloat

from django.utils import formats


def localized(number: str) -> str:
    """A number formatted with a point, with the active language's decimal separator ("1,5" in German)."""
    separator = formats.get_format("DECIMAL_SEPARATOR")
    return number if separator == "." else number.replace(".", separator)


def fmt_g(value: SupportsFloat | str) -> str:
    """A number as `:g` shows it ("72.5", "70"), with the language's decimal separator."""
    return localized(f"{float(value):g}")

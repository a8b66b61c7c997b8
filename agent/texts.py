"""Every sentence the agent part of the bot shows a user, in one place (to translate them together).

The model writes its own answers, in the user's language; these are the lines the bot adds itself.
"""

from django.utils.translation import gettext_lazy

LOGGED = gettext_lazy("Logged: {amount} {food} (you said “{quote}”) — {grams} g of {description}, {kcal} kcal")
NOT_LOGGED = gettext_lazy("Not logged: {amount} {food} — {why}")
SAVED = gettext_lazy("Saved: {field} {value}")
AI_OFF = gettext_lazy("The assistant is off for you: I answer with my built-in rules only (/pref ai on turns it back on).")

"""Every sentence the agent part of the bot shows a user, in one place (to translate them together).

The model writes its own answers, in the user's language; these are the lines the bot adds itself.
"""

LOGGED = "Logged: {amount} {food} (you said “{quote}”) — {grams} g of {description}, {kcal} kcal"
NOT_LOGGED = "Not logged: {amount} {food} — {why}"
SAVED = "Saved: {field} {value}"
AI_OFF = "The assistant is off for you: I answer with my built-in rules only (/pref ai on turns it back on)."

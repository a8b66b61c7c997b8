"""The webhook workload: a deterministic sequence of Telegram turns (ARCHITECTURE.md §7).

1 000 users whose activity follows a Zipf law (rank r sends a share proportional to 1/r^s), a mix
of message kinds, and `/food` / `/log` over 300 foods whose popularity is Zipf too. Everything comes
from one `random.Random(seed)` drawn in order, so a seed gives the same turns on every machine and
Python version, and a shorter run is a prefix of a longer one with the same seed.

Pure Python on purpose: the generator is tested in `make test`, which has no numpy.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

# Share of each kind of message (normalised; need not sum to 1).
DEFAULT_MIX: Mapping[str, float] = {
    "text": 0.35, "food": 0.20, "log": 0.15, "today": 0.12, "profile": 0.10, "set": 0.08,
}
FIRST_USER_ID = 5_000_001

_BASE_FOODS = """
banana apple orange pear grapes mango pineapple strawberries blueberries raspberries watermelon
peach plum cherries kiwi avocado tomato cucumber carrot broccoli spinach lettuce kale cabbage
cauliflower potato sweet-potato corn peas green-beans onion garlic mushrooms zucchini pepper
rice pasta bread bagel oatmeal oats cereal granola quinoa couscous tortilla crackers muffin
chicken-breast chicken-thigh turkey beef steak pork ham bacon sausage lamb salmon tuna cod shrimp
egg tofu tempeh lentils chickpeas black-beans kidney-beans hummus peanuts almonds walnuts cashews
peanut-butter milk yogurt greek-yogurt cheese cheddar mozzarella cottage-cheese butter cream
olive-oil honey sugar chocolate dark-chocolate ice-cream cookie cake donut pizza burger fries chips
popcorn coffee tea orange-juice apple-juice cola beer wine soup salad sandwich
""".split()
_FORMS = ("{}", "raw {}", "cooked {}")

_FREE_TEXT = (
    "hi", "hello there", "good morning", "thanks!", "thank you", "what's my bmi?",
    "how much do I weigh?", "how many calories should I eat today?", "what is my calorie target",
    "what did I say before?", "I had a {food} for lunch", "just ate some {food}", "is {food} healthy?",
    "feeling tired today", "ok", "lol", "can you help me", "what should I cook tonight",
)
_SET_FIELDS = ("weight_kg", "height_cm", "age", "activity", "goal", "kcal_target")
_ACTIVITY = ("sedentary", "light", "moderate", "active", "very_active")
_GOAL = ("lose", "maintain", "gain")


@dataclass(frozen=True)
class Turn:
    user_id: int
    kind: str
    text: str


class Zipf:
    """Ranks 1..n with P(r) proportional to 1/r^s, drawn by inverting the cumulative weights."""

    def __init__(self, n: int, s: float) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        self.n = n
        self.cumulative = list(itertools.accumulate(1.0 / rank**s for rank in range(1, n + 1)))

    def probability(self, rank: int) -> float:
        previous = self.cumulative[rank - 2] if rank > 1 else 0.0
        return (self.cumulative[rank - 1] - previous) / self.cumulative[-1]

    def draw(self, rng: random.Random) -> int:
        """A rank in 1..n."""
        index = bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        return min(index, self.n - 1) + 1


def food_names(count: int = 300) -> list[str]:
    """`count` distinct food names, most popular first (Zipf rank = position + 1)."""
    names = [form.format(base.replace("-", " ")) for form in _FORMS for base in _BASE_FOODS]
    if count > len(names):
        raise ValueError(f"at most {len(names)} foods")
    return names[:count]


def user_ids(users: int, seed: int) -> list[int]:
    """The user id of each activity rank: ids are shuffled so rank and id do not correlate."""
    ids = list(range(FIRST_USER_ID, FIRST_USER_ID + users))
    random.Random(f"users-{seed}").shuffle(ids)
    return ids


def turns(*, seed: int, count: int, users: int = 1000, foods: int = 300, user_s: float = 1.0,
          food_s: float = 1.0, mix: Mapping[str, float] = DEFAULT_MIX) -> list[Turn]:
    """The first `count` turns of the workload named by these arguments."""
    return list(itertools.islice(iter_turns(seed=seed, users=users, foods=foods, user_s=user_s,
                                            food_s=food_s, mix=mix), count))


def iter_turns(*, seed: int, users: int = 1000, foods: int = 300, user_s: float = 1.0, food_s: float = 1.0,
               mix: Mapping[str, float] = DEFAULT_MIX) -> Iterator[Turn]:
    unknown = set(mix) - set(DEFAULT_MIX)
    if unknown:
        raise ValueError(f"unknown message kinds {sorted(unknown)}; known: {sorted(DEFAULT_MIX)}")
    rng = random.Random(seed)
    ids = user_ids(users, seed)
    user_rank, food_rank = Zipf(users, user_s), Zipf(foods, food_s)
    names = food_names(foods)
    kinds = list(mix)
    kind_weights = list(itertools.accumulate(mix[kind] for kind in kinds))
    while True:
        user_id = ids[user_rank.draw(rng) - 1]
        kind = kinds[min(bisect.bisect_right(kind_weights, rng.random() * kind_weights[-1]), len(kinds) - 1)]
        yield Turn(user_id, kind, _text(kind, rng, lambda: names[food_rank.draw(rng) - 1]))


def _text(kind: str, rng: random.Random, food) -> str:
    if kind == "food":
        return f"/food {food()}"
    if kind == "log":
        return f"/log {rng.randrange(50, 401, 10)} g {food()}"
    if kind == "today":
        return "/today"
    if kind == "profile":
        return "/profile"
    if kind == "set":
        field = rng.choice(_SET_FIELDS)
        value = {
            "weight_kg": lambda: f"{rng.randrange(500, 1101) / 10:g}",
            "height_cm": lambda: str(rng.randrange(150, 201)),
            "age": lambda: str(rng.randrange(18, 81)),
            "activity": lambda: rng.choice(_ACTIVITY),
            "goal": lambda: rng.choice(_GOAL),
            "kcal_target": lambda: str(rng.randrange(1500, 3001, 50)),
        }[field]()
        return f"/set {field} {value}"
    template = rng.choice(_FREE_TEXT)
    return template.format(food=food()) if "{food}" in template else template


def telegram_update(turn: Turn, update_id: int) -> dict:
    """The Update Telegram would POST for `turn` (ARCHITECTURE.md §6)."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": turn.user_id, "type": "private"},
            "from": {"id": turn.user_id, "is_bot": False, "first_name": f"User{turn.user_id % 10_000}",
                     "username": f"user{turn.user_id}"},
            "text": turn.text,
        },
    }


# The free text of _FREE_TEXT that the bot answers with a food lookup (it logs the food: the same
# lookup as /food <food>; "some" is no amount, so a usual portion of it is logged); the others name
# no food or only mention one.
_LOOKUP_TEXTS = (("I had a ", " for lunch"), ("just ate some ", ""))


def _food_of(turn: Turn) -> str | None:
    """The food lookup a turn makes (/food and /log make the same one: one key per query,
    nutrition.selectors.LOOKUP_LIMIT), normalised as its cache key is; None when it makes none."""
    if turn.kind == "text":
        for head, tail in _LOOKUP_TEXTS:
            if turn.text.startswith(head) and turn.text.endswith(tail):
                query = turn.text[len(head):len(turn.text) - len(tail)]
                break
        else:
            return None
    elif turn.kind in ("food", "log"):
        query = turn.text.split(maxsplit=1)[1] if turn.kind == "food" else turn.text.split(maxsplit=3)[3]
    else:
        return None
    return " ".join(query.casefold().split())


def cold_flags(batch: list[Turn]) -> list[str]:
    """Per turn, which of its cache reads are a cold start: "u" for the user's first turn (memory and
    history were never cached), "f" for a food query's first lookup, "-" for neither. Hit rates are
    reported for the steady state (the other turns) apart from these."""
    users: set[int] = set()
    foods: set[str] = set()
    flags = []
    for turn in batch:
        flag = ""
        if turn.user_id not in users:
            users.add(turn.user_id)
            flag += "u"
        food = _food_of(turn)
        if food is not None and food not in foods:
            foods.add(food)
            flag += "f"
        flags.append(flag or "-")
    return flags


def request_lines(batch: list[Turn], *, first_update_id: int, cold: list[str] | None = None) -> Iterator[str]:
    """One line per turn for bench/replay.lua: `<kind>\t<cold>\t<Update JSON>` (JSON has no raw tabs);
    `cold`: cold_flags() of the whole workload so far (default: of this batch alone).

    <cold> is the turn's flags, then `@u<line>` / `@f<line>` when the user's (the food's) cold start is
    line <line> of this batch (1-based): a turn sent before that line was answered finds no entry
    either — the first turn has not filled it yet — so replay.lua counts it as a cold start too."""
    cold = cold_flags(batch) if cold is None else cold
    firsts: dict[tuple[str, object], int] = {}
    for offset, (turn, flag) in enumerate(zip(batch, cold)):
        reads = {"u": turn.user_id, "f": _food_of(turn)}
        after = "".join(f"@{ns}{firsts[(ns, key)]}" for ns, key in reads.items()
                        if ns not in flag and (ns, key) in firsts)
        firsts.update({(ns, key): offset + 1 for ns, key in reads.items() if ns in flag})
        body = json.dumps(telegram_update(turn, first_update_id + offset), separators=(',', ':'))
        yield f"{turn.kind}\t{flag}{after}\t{body}"

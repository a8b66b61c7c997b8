"""Each change to the turn's hot path with its before and after, measured side by side in one run
(`make bench` runs this; alone: `DJANGO_SETTINGS_MODULE=healthagent.settings python -m bench.hot_path`).

The "before" is the code as it was, kept here verbatim; batches of both alternate, and the ratio is
taken within each pair of batches (a slow spell of the shared machine lands on both). Python
function calls per call (cProfile's count) are given too: they do not depend on the machine's speed.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable


# --- before: memory/selectors.py's cache-hit check as it was --------------------------------------
def _before_is_user_memory() -> Callable[[object], bool]:
    from memory.selectors import _PREFERENCE_KEY, _PREFERENCE_VALUE, _PROFILE_CHECKS, WEIGHTS_KEPT, _number, _text, is_pending

    def _is_weights(value: object) -> bool:
        return type(value) is list and len(value) <= WEIGHTS_KEPT and all(
            type(row) is list and len(row) == 2 and _text(40)(row[0]) and _number(20, 400, whole=False)(row[1])
            and row[1] is not None for row in value)

    def is_user_memory(value: object) -> bool:
        if value is None:
            return True
        if type(value) is not dict or value.keys() != {"profile", "preferences", "weights", "pending"}:
            return False
        if type(value["profile"]) is not dict or type(value["preferences"]) is not dict:
            return False
        profile, preferences = value["profile"], value["preferences"]
        return (profile.keys() == _PROFILE_CHECKS.keys()
                and all(check(profile[field]) for field, check in _PROFILE_CHECKS.items())
                and all(_PREFERENCE_KEY(k) and _PREFERENCE_VALUE(v) for k, v in preferences.items())
                and _is_weights(value["weights"]) and is_pending(value["pending"]))

    return is_user_memory


def _memory_value(weights: int) -> dict:
    profile = {"name": "User1", "username": "user1", "age": 34, "sex": "female", "height_cm": 168.0, "weight_kg": 64.5,
               "activity": "moderate", "goal": "maintain", "kcal_target": 2100, "tz": "Europe/Berlin",
               "language": "", "app_language": "en"}
    return {"profile": profile, "preferences": {"units": "metric", "diet": "vegetarian"},
            "weights": [[f"2026-11-{1 + i % 28:02d}T08:00:00+00:00", 64.5 - i * 0.1] for i in range(weights)],
            "pending": None}


def _calls(fn: Callable[[], object], n: int = 200) -> float:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        fn()
    profiler.disable()
    return sum(stat[1] for stat in pstats.Stats(profiler).stats.values()) / n  # type: ignore[attr-defined]


def pair(before: Callable[[], object], after: Callable[[], object], *, pairs: int, batch: int) -> dict:
    times: dict[str, list[float]] = {"before": [], "after": []}
    ratios = []
    for i in range(pairs):
        measured = {}
        for name, fn in (("before", before), ("after", after)) if i % 2 == 0 else (("after", after), ("before", before)):
            started = time.perf_counter_ns()
            for _ in range(batch):
                fn()
            measured[name] = (time.perf_counter_ns() - started) / batch / 1000
            times[name].append(measured[name])
        ratios.append(measured["after"] / measured["before"])
    return {"before_us": statistics.median(times["before"]), "after_us": statistics.median(times["after"]),
            "after_over_before": statistics.median(ratios), "range": [min(ratios), max(ratios)],
            "calls_before": _calls(before), "calls_after": _calls(after)}


def main(argv: list[str] | None = None) -> None:
    import django

    django.setup()
    from memory.selectors import is_user_memory

    old = _before_is_user_memory()
    results = {}
    for weights in (0, 30):
        value = _memory_value(weights)
        assert old(value) and is_user_memory(value)
        results[f"is_user_memory, {weights} weights"] = pair(lambda v=value: old(v), lambda v=value: is_user_memory(v),
                                                             pairs=41, batch=500)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()

"""Did a run reproduce the one before it? The headline figures of two runs side by side: a figure
reproduces when each run's median lies within the other's range (min–max over its repetitions).
The report publishes a goal as met only when it was met in both runs and its figure reproduced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path


def _scenario(scenario: str, side: str, field: str) -> Callable[[dict], dict | None]:
    return lambda r: r.get("webhook", {}).get("scenarios", {}).get(scenario, {}).get(side, {}).get(field)


def _hit(ns: str) -> Callable[[dict], dict | None]:
    def get(r: dict) -> dict | None:
        part = r.get("hitpath", {}).get("namespaces", {}).get(ns)
        return part["variants"][part["goal_variant"]]["ratio"] if part else None
    return get


# (key, label, getter): each getter gives {"median", "min", "max", "reps"} or None.
HEADLINES: list[tuple[str, str, Callable[[dict], dict | None]]] = [
    ("text_cpu", "CPU per warm text turn, ours ÷ floor (whole gunicorn)",
     lambda r: r.get("webhook", {}).get("text_ratio", {}).get("server_cpu_ms_per_turn")),
    ("text_throughput", "throughput of warm text turns, ours ÷ floor",
     lambda r: r.get("webhook", {}).get("text_ratio", {}).get("throughput")),
    ("hit_user_memory", "`load_user_memory` hit ÷ raw GET + loads", _hit("user_memory")),
    ("hit_usda", "`search_foods` hit ÷ raw GET + loads", _hit("usda")),
    ("hit_history", "`get_conversation_history` hit ÷ raw GET + loads", _hit("conversation_history")),
    ("mix_ratio", "throughput of the mix, cache on ÷ off", lambda r: r.get("webhook", {}).get("throughput_ratio")),
    ("mix_floor", "throughput of the mix, ours ÷ floor", lambda r: r.get("webhook", {}).get("floor_ratio", {}).get("throughput")),
]
for _scn in ("warm", "cold", "slow"):
    for _side in ("on", "off", "floor"):
        HEADLINES.append((f"{_scn}_{_side}_tput", f"{_scn} {_side}: turns/s", _scenario(_scn, _side, "throughput")))
        HEADLINES.append((f"{_scn}_{_side}_cpu", f"{_scn} {_side}: gunicorn CPU ms/turn",
                          _scenario(_scn, _side, "server_cpu_ms_per_turn")))


def previous_run(directory: Path, current: Path, profile: str) -> Path | None:
    """The newest results JSON in `directory` before `current`, of the same profile."""
    for path in sorted(directory.glob("*.json"), reverse=True):
        if path == current or path.name >= current.name:
            continue
        try:
            if json.loads(path.read_text()).get("profile", {}).get("name") == profile:
                return path
        except (OSError, ValueError):
            continue
    return None


def within(value: float, spread: dict) -> bool:
    return spread["min"] <= value <= spread["max"]


def compare(current: dict, previous: dict) -> list[dict]:
    rows = []
    for key, label, get in HEADLINES:
        a, b = get(previous), get(current)
        if not a or not b:
            continue
        rows.append({"key": key, "label": label, "previous": a, "current": b,
                     "reproduced": within(a["median"], b) and within(b["median"], a)})
    return rows

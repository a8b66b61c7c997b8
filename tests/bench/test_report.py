"""BENCHMARKS.md (bench/report.py): every goal beside its measured figure, met or not."""

from pathlib import Path

from bench import reproduce
from bench.report import goal_rows, render


def ratio(median):
    return {"median": median, "min": median * 0.9, "max": median * 1.1, "reps": 3}


def variant(label, p50, r):
    return {"label": label, "n": 10, "mean": p50, "min": p50, "max": p50, "p50": p50, "p95": p50, "p99": p50 * 2,
            "ratio": ratio(r)}


def spread(value):
    return {"median": value, "min": value, "max": value, "reps": 1}


def run(throughput, fdc):
    kinds = {"food": {"turns": 10, "sql": 8.0, "selects": 1.0, "server_ms": 9.0, "cpu_ms": 5.0, "errors": 0}}
    return {"throughput": throughput, "fdc_calls": fdc, "kinds": kinds,
            "cpu": {"wrk_s": 0.1, "wall_s": 10.0},
            "cache_stats": {"namespaces": {"usda": {"hits": 9, "misses": 1, "hit_rate": 0.9, "sets": 1, "deletes": 0,
                                                    "errors": 0}}},
            "memory": {"active_users": 2, "bytes_per_active_user": 1000.0,
                       "namespaces": {"user_memory": {"entries": 2, "entry_bytes": 600, "tokens": 2, "token_bytes": 200}}}}


def results(*, user_memory_ratio=1.1, stats_ratio=1.01, breaker_errors=0):
    hitpath = {
        "namespaces": {
            "user_memory": {"key": "user_memory:{1}", "value_bytes": 245, "json_bytes": 245, "stored_format": "json",
                            "goal_variant": "ours_selector",
                            "variants": {"raw": variant("raw redis-py GET + json.loads", 60, 1.0),
                                         "ours_selector": variant("ours: load_user_memory", 66, user_memory_ratio),
                                         "ours_get": variant("ours: cache.get", 62, 1.05),
                                         "source": variant("PostgreSQL", 900, 15)}},
        },
        "stats_overhead": {"user_memory": {"on": variant("on", 61, stats_ratio), "off": variant("off", 60, 1.0)}},
        "record_ns": 80.0,
        "memory": {"user_memory": 448, "conversation_history_full": 7376, "usda_entry": 1384, "history_messages": 50},
    }
    phase = {"turns": 100, "errors": breaker_errors, "throughput": 50.0, "server_cpu_ms_per_turn": 7.0,
             "latency_ms": {"p50": 10.0, "p95": 20.0, "p99": 30.0}}
    merged = {"throughput": spread(120), "latency_ms.p50": spread(20), "errors": spread(0)}
    return {
        "profile": {"name": "full", "hit_reps": 9, "hit_calls": 2000, "workers": 2, "threads": 8, "connections": 16,
                    "measured_turns": 6000, "warm_turns": 2000, "light_turns": 1000, "webhook_reps": 3,
                    "users": 1000, "foods": 300},
        "seed": 1, "fdc_latency_ms": 150.0, "command": "make bench (= .venv/bin/python -m bench)",
        "started_at": "2026-01-01T00:00:00+00:00", "duration_s": 600.0,
        "machine": {"cpu": "CPU", "cores": 2, "memory_gib": 8, "os": "Debian", "kernel": "6", "load_before": [1, 1, 1]},
        "versions": {"python": "3.11", "wrk": "wrk 4.1.0", "git": "abc123"},
        "hitpath": hitpath,
        "webhook": {"runs": {"on": [run(120, 10)], "off": [run(60, 100)]}, "on": merged, "off": merged,
                    "throughput_ratio": spread(2.0)},
        "breaker": {"up": phase, "stopping": phase, "down": phase, "restarted": phase, "kill_after_s": 0.3},
    }


def test_goals_met():
    rows = goal_rows(results())
    assert [met for _, _, met in rows] == [True, True, True, True]
    assert [measured for _, measured, _ in rows] == ["1.10×", "1.05×", "+1.0%", "0"]
    assert "load_user_memory" in rows[0][0] and "cache.get" in rows[1][0]


def test_goals_missed_are_said_so():
    rows = goal_rows(results(user_memory_ratio=1.6, stats_ratio=1.08, breaker_errors=2))
    assert [met for _, _, met in rows] == [False, True, False, False]
    assert rows[3][1] == "8"  # 2 failed turns in each of the four phases


def test_breaker_skipped_is_not_counted_as_met():
    data = results()
    data["breaker"] = {"skipped": "redis-server is not installed"}
    assert goal_rows(data)[-1][2] is None
    assert "Not measured: redis-server is not installed" in render(data, chart=None, json_path=Path("/r/x.json"),
                                                                   relative_to=Path("/"))


def test_render_links_the_results_and_has_no_expected_figures():
    text = render(results(), chart=Path("/repo/bench/results/x.png"), json_path=Path("/repo/bench/results/x.json"),
                  relative_to=Path("/repo"))
    assert "![benchmark chart](bench/results/x.png)" in text
    assert "(bench/results/x.json)" in text
    assert "| **no** |" not in text
    assert "expected" not in text.lower()
    for heading in ("## 1. Hit path", "## 2b. The mix under load", "## 3. Stats overhead", "## 4. Memory"):
        assert heading in text
    assert "make bench" in text


def test_one_run_publishes_no_goal_as_met():
    text = render(results(), chart=None, json_path=Path("/r/x.json"), relative_to=Path("/"))
    assert "One run only: nothing here reproduced yet" in text
    assert "| met in this run |" in text


def _with_reproduction(data, earlier):
    data["reproduction"] = {"previous": "earlier.json", "previous_started_at": "2026-01-01T00:00:00+00:00",
                            "rows": reproduce.compare(data, earlier),
                            "previous_goals": [list(row) for row in goal_rows(earlier)]}
    return render(data, chart=None, json_path=Path("/r/x.json"), relative_to=Path("/"))


def test_a_goal_is_met_when_met_in_both_runs_and_its_figure_reproduced():
    text = _with_reproduction(results(user_memory_ratio=1.1), results(user_memory_ratio=1.12))
    [line] = [line for line in text.splitlines() if line.startswith("| `user_memory` hit, ours: load_user_memory")]
    assert line.endswith("| yes |")
    assert "| `load_user_memory` hit ÷ raw GET + loads | 1.12 (1.01–1.23) | 1.10 (0.99–1.21) | yes |" in text


def test_a_goal_met_twice_whose_medians_fall_outside_the_other_range_is_not_published_as_met():
    text = _with_reproduction(results(user_memory_ratio=0.8), results(user_memory_ratio=1.1))
    [line] = [line for line in text.splitlines() if line.startswith("| `user_memory` hit, ours: load_user_memory")]
    assert line.endswith("| **not reproduced** |")


def test_a_goal_missed_in_the_earlier_run_is_not_met():
    text = _with_reproduction(results(user_memory_ratio=1.1), results(user_memory_ratio=1.2))
    [line] = [line for line in text.splitlines() if line.startswith("| `user_memory` hit, ours: load_user_memory")]
    assert line.endswith("| **no** |")


def test_reproduced_means_each_median_within_the_other_range():
    a, b = {"median": 1.0, "min": 0.9, "max": 1.2, "reps": 5}, {"median": 1.15, "min": 0.95, "max": 1.3, "reps": 5}
    assert reproduce.within(a["median"], b) and reproduce.within(b["median"], a)
    c = {"median": 1.25, "min": 1.21, "max": 1.3, "reps": 5}
    assert not (reproduce.within(a["median"], c) and reproduce.within(c["median"], a))

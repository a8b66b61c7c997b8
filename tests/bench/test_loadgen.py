"""Reading what bench/replay.lua reports (no wrk is run here)."""

import pytest

from bench.loadgen import Run, kind_table, merge


def raw(**overrides):
    report = {
        "lines": 4, "sent": 4, "answered": 4, "first_sent": 100.0, "last_answer": 102.0,
        "tally": {"food n": 3, "food sql": 30, "food select": 6, "food counted": 3, "food us": 9000, "food cpu": 3000,
                  "text n": 1, "text sql": 8, "text select": 2, "text counted": 1, "text us": 1000, "text cpu": 500,
                  "text bad": 1, "status 503": 1},
        "wrk": {"duration_us": 2_500_000, "requests": 4, "bytes": 100,
                "errors": {"connect": 0, "read": 0, "write": 0, "status": 1, "timeout": 0}},
        "latency_us": {"min": 1000, "max": 9000, "mean": 3000, "stdev": 1, "p50": 2500, "p90": 8000, "p95": 8500,
                       "p99": 9000, "p999": 9000},
    }
    report.update(overrides)
    return report


def test_kind_table_gives_per_turn_figures():
    table = kind_table(raw()["tally"])
    assert set(table) == {"food", "text"}
    assert table["food"] == {"turns": 3, "sql": 10, "selects": 2, "server_ms": 3.0, "cpu_ms": 1.0, "errors": 0,
                              "redis": None}
    assert table["text"]["errors"] == 1


def test_throughput_uses_first_request_to_last_answer():
    run = Run(raw(), wall_seconds=3, wrk_cpu_seconds=0.1, server_cpu_seconds=1.0, machine_cpu_seconds=4.0)
    assert run.complete
    assert run.elapsed == 2.0
    assert run.throughput == 2.0


def test_failed_turns_count_bad_statuses_socket_errors_and_unanswered_lines():
    wrk = raw()["wrk"] | {"errors": {"connect": 1, "read": 2, "write": 0, "status": 1, "timeout": 1}}
    run = Run(raw(answered=3, wrk=wrk), 3, 0.1, 1.0, 4.0)
    assert not run.complete
    assert run.elapsed == 2.5  # incomplete: wrk's own duration
    assert run.errors == 1 + 4 + 1


def test_summary():
    summary = Run(raw(), 3, 0.1, 1.0, 4.0).summary()
    assert summary["sql_per_turn"] == pytest.approx((10 * 3 + 8) / 4)
    assert summary["selects_per_turn"] == pytest.approx((2 * 3 + 2) / 4)
    assert summary["django_cpu_ms_per_turn"] == pytest.approx(3.5 / 4)
    assert summary["server_cpu_ms_per_turn"] == 250
    assert summary["latency_ms"]["p50"] == 2.5
    assert summary["statuses"] == {"503": 1}
    assert summary["cpu"]["wrk_share_of_machine"] == pytest.approx(0.025)


def test_merge_takes_medians_over_repetitions():
    runs = [{"throughput": t, "errors": 0, "latency_ms": {"p50": p}} for t, p in ((100, 5), (120, 7), (90, 6))]
    merged = merge(runs)
    assert merged["throughput"] == {"median": 100, "min": 90, "max": 120, "reps": 3}
    assert merged["latency_ms.p50"]["median"] == 6
    assert "sql_per_turn" not in merged


def test_steady_and_cold_reads_are_told_apart():
    from bench.loadgen import cache_table

    tally = {"text n": 2, "steady text n": 1, "steady text counted": 1, "steady text redis": 2, "text redis": 7,
             "text counted": 2, "cache steady user_memory hits": 9, "cache steady user_memory misses": 1,
             "cache cold user_memory hits": 0, "cache cold user_memory misses": 2, "overlap text n": 1}
    assert set(kind_table(tally)) == {"text"} and kind_table(tally)["text"]["redis"] == 3.5
    assert kind_table(tally, prefix="overlap ")["text"]["turns"] == 1  # sent before its first turn was answered
    assert kind_table(tally, prefix="steady ")["text"]["redis"] == 2
    table = cache_table(tally)
    assert table["steady"]["user_memory"]["hit_rate"] == 0.9
    assert table["cold"]["user_memory"]["hit_rate"] == 0

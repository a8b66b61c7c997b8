"""The arithmetic behind every table (bench/percentile.py)."""

import random

import pytest

from bench.percentile import median, percentile, ratios_to, spread, summarize


def test_percentile_interpolates_between_ranks():
    values = [10, 20, 30, 40]
    assert percentile(values, 0) == 10
    assert percentile(values, 100) == 40
    assert percentile(values, 50) == 25
    assert percentile(values, 25) == pytest.approx(17.5)
    assert percentile(values, 99) == pytest.approx(39.7)


def test_percentile_ignores_order_and_handles_one_value():
    assert percentile([3, 1, 2], 50) == 2
    assert percentile([7], 99) == 7
    assert median([5, 1, 4, 2]) == 3


@pytest.mark.parametrize("q", [-1, 100.5, float("nan")])
def test_percentile_refuses_q_outside_0_to_100(q):
    with pytest.raises(ValueError):
        percentile([1, 2], q)


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        percentile([], 50)


def test_percentile_agrees_with_numpy():
    numpy = pytest.importorskip("numpy")  # bench-only dependency: skipped where not installed
    rng = random.Random(1)
    values = [rng.lognormvariate(4, 1) for _ in range(1001)]
    for q in (0, 1, 50, 95, 99, 99.9, 100):
        assert percentile(values, q) == pytest.approx(float(numpy.percentile(values, q)))


def test_summarize():
    summary = summarize(list(range(1, 101)))
    assert summary["n"] == 100
    assert summary["mean"] == 50.5
    assert (summary["min"], summary["max"]) == (1, 100)
    assert summary["p50"] == 50.5
    assert summary["p99"] == pytest.approx(99.01)


def test_ratios_are_taken_within_each_repetition():
    # The machine slows down between repetitions; each ratio compares figures of one repetition.
    per_rep = [{"raw": 10, "ours": 12}, {"raw": 20, "ours": 22}, {"raw": 40, "ours": 60}]
    ratios = ratios_to("raw", per_rep)
    assert ratios["raw"] == {"median": 1.0, "min": 1.0, "max": 1.0, "reps": 3}
    assert ratios["ours"]["median"] == pytest.approx(1.2)
    assert ratios["ours"]["min"] == pytest.approx(1.1)
    assert ratios["ours"]["max"] == pytest.approx(1.5)


def test_ratios_need_a_positive_baseline():
    with pytest.raises(ValueError):
        ratios_to("raw", [{"raw": 0, "ours": 1}])


def test_spread():
    assert spread([3, 1, 2]) == {"median": 2, "min": 1, "max": 3, "reps": 3}

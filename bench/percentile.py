"""Percentiles, medians and side-by-side ratios: the arithmetic every table in BENCHMARKS.md rests on.

Pure Python (tested in `make test`, which has no numpy). `percentile` interpolates linearly between
the two nearest ranks — numpy's default method ("linear", type 7 of Hyndman & Fan), so figures can
be checked against numpy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence


def percentile(values: Iterable[float], q: float) -> float:
    """The q-th percentile (0 ≤ q ≤ 100) of `values`, interpolated linearly between ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100 or math.isnan(q):
        raise ValueError(f"q must be between 0 and 100, not {q}")
    position = (len(ordered) - 1) * q / 100
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    fraction = position - below
    return ordered[below] + (ordered[above] - ordered[below]) * fraction


def median(values: Iterable[float]) -> float:
    return percentile(values, 50)


def summarize(values: Sequence[float], quantiles: Iterable[float] = (50, 95, 99)) -> dict[str, float]:
    """{"n", "mean", "min", "max", "p50", "p95", "p99"} of `values`, sorted once."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("summary of no values")
    summary = {"n": len(ordered), "mean": sum(ordered) / len(ordered), "min": ordered[0], "max": ordered[-1]}
    for q in quantiles:
        summary[f"p{q:g}"] = percentile(ordered, q)
    return summary


def ratios_to(baseline: str, per_rep: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """Side-by-side ratios: for each repetition, every variant's figure divided by the baseline's
    figure *of the same repetition*; then the median (and range) over repetitions.

    `per_rep` is one {variant: figure} per repetition (e.g. the median latency of a batch). A
    variant missing from a repetition is skipped there; the baseline must be in every one.
    """
    collected: dict[str, list[float]] = {}
    for rep in per_rep:
        base = rep[baseline]
        if base <= 0:
            raise ValueError(f"baseline {baseline!r} figure must be positive, not {base}")
        for variant, figure in rep.items():
            collected.setdefault(variant, []).append(figure / base)
    return {
        variant: {"median": median(values), "min": min(values), "max": max(values), "reps": len(values)}
        for variant, values in collected.items()
    }


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median and range of a figure taken once per repetition."""
    if not values:
        raise ValueError("spread of no values")
    return {"median": median(values), "min": min(values), "max": max(values), "reps": len(values)}

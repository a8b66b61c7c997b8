"""The /week and /month chart: kcal per day as bars against the daily target, the weight trend as a
line on a second axis. PNG, drawn with matplotlib's Agg renderer through its object API (a Figure of
our own per call, never pyplot's global state: safe in gunicorn's threads)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

WIDTH_PX, HEIGHT_PX, DPI = 800, 450, 100
UNDER, OVER, TARGET, WEIGHT = "#3d9970", "#e07a5f", "#555555", "#1f4e79"


@dataclass(frozen=True)
class ChartText:
    """The words on the chart, in the reply's language."""

    title: str
    kcal: str
    target: str
    weight: str


def render(*, day_labels: Sequence[str], kcal: Sequence[float], target: int | None,
           weights: Sequence[tuple[float, float]], text: ChartText, number: Callable[[float], str]) -> bytes:
    """The chart as PNG bytes. `weights` are (x, kg) with x in day units (0 = the first day's bar),
    `number` formats the weight axis's ticks for the language ("72,5")."""
    # Imported here: matplotlib costs about 0.3 s to import, paid only by a process that draws.
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    figure.subplots_adjust(left=0.1, right=0.9, top=0.9, bottom=0.1)  # fixed: a layout engine costs a third of the time
    axes = figure.add_subplot()
    x = list(range(len(kcal)))
    colours = [OVER if target and value > target else UNDER for value in kcal]
    handles: list[Any] = [axes.bar(x, kcal, width=0.7, color=colours, label=text.kcal)]
    if target:
        handles.append(axes.axhline(target, color=TARGET, linestyle="--", linewidth=1.2, label=text.target))
    axes.set_xticks(x, list(day_labels), fontsize=8)
    axes.set_xlim(-0.6, len(kcal) - 0.4)
    axes.set_ylim(0, max([*kcal, target or 0, 100]) * 1.15)
    axes.set_ylabel("kcal")
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0f}"))
    axes.spines[["top"]].set_visible(False)
    axes.set_title(text.title, loc="left", fontsize=12)
    if weights:
        trend = axes.twinx()
        (line,) = trend.plot([at for at, _ in weights], [kg for _, kg in weights], color=WEIGHT, marker="o",
                             markersize=4, linewidth=1.8, label=text.weight)
        low, high = min(kg for _, kg in weights), max(kg for _, kg in weights)
        trend.set_ylim(low - max(1.0, (high - low) * 0.5), high + max(1.0, (high - low) * 0.5))
        trend.set_ylabel(text.weight)
        trend.yaxis.set_major_formatter(FuncFormatter(lambda value, _: number(value)))
        trend.spines[["top"]].set_visible(False)
        handles.append(line)
    axes.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})  # the same inputs, the same bytes
    return out.getvalue()

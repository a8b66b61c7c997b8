"""The PNG beside BENCHMARKS.md (matplotlib, bench-only: bench/requirements.txt)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt  # noqa: E402

from .report import PHASES, VARIANT_ORDER  # noqa: E402

_SHORT = {"raw": "raw redis-py + json", "raw_orjson": "raw redis-py + orjson", "ours_selector": "ours: selector",
          "ours_get": "ours: cache.get", "django_redis": "django-redis", "django_builtin": "Django RedisCache",
          "locmem": "LocMemCache", "source": "source (DB / FDC)"}


def draw(results: dict, path: Path) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(14, 10))
    _hit_path(axes[0][0], results["hitpath"]["namespaces"])
    if results.get("webhook"):
        _throughput(axes[0][1], results["webhook"])
        _latency(axes[1][0], results["webhook"])
    breaker = results.get("breaker") or {}
    if any(phase in breaker for phase in PHASES):
        _breaker(axes[1][1], breaker)
    else:
        axes[1][1].set_axis_off()
    fig.suptitle(f"healthagent benchmarks ({results['profile']['name']} run, {results['started_at']})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _hit_path(ax, namespaces: dict) -> None:
    names = list(namespaces)
    variants = [v for v in VARIANT_ORDER if any(v in namespaces[ns]["variants"] for ns in names)]
    height = 0.8 / len(variants)
    for i, variant in enumerate(variants):
        values = [namespaces[ns]["variants"].get(variant, {}).get("p50", 0) for ns in names]
        ax.barh([n + i * height for n in range(len(names))], values, height, label=_SHORT.get(variant, variant))
    ax.set_yticks([n + 0.4 - height / 2 for n in range(len(names))], names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("p50 µs per read (log scale)")
    ax.set_title("1. Hit path, per namespace")
    ax.legend(fontsize=7, loc="lower right")


def _throughput(ax, part: dict) -> None:
    runs = part["runs"]
    labels = ["cache on", "ENABLE_CACHE=false"]
    values = [part[key]["throughput"]["median"] for key in ("on", "off")]
    bars = ax.bar(labels, values, color=["tab:green", "tab:gray"])
    for side, key in enumerate(("on", "off")):  # every repetition, not only the median
        ax.scatter([side] * len(runs[key]), [r["throughput"] for r in runs[key]], color="black", s=12, zorder=3)
    ax.bar_label(bars, fmt="%.0f")
    ax.set_ylabel("turns/s (median; dots: repetitions)")
    ax.set_title(f"2. Webhook throughput ({part['throughput_ratio']['median']:.2f}× with the cache)")


def _latency(ax, part: dict) -> None:
    figures = [("latency_ms.p50", "p50\nunder load"), ("latency_ms.p95", "p95\nunder load"),
               ("latency_ms.p99", "p99\nunder load"), ("light.latency_ms.p50", "p50\none at a time"),
               ("light.latency_ms.p99", "p99\none at a time")]
    figures = [(key, label) for key, label in figures if key in part["on"] and key in part["off"]]
    width = 0.38
    for offset, (side, label, color) in enumerate((("on", "cache on", "tab:green"),
                                                   ("off", "ENABLE_CACHE=false", "tab:gray"))):
        values = [part[side][key]["median"] for key, _ in figures]
        bars = ax.bar([i + offset * width for i in range(len(figures))], values, width, label=label, color=color)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks([i + width / 2 for i in range(len(figures))], [label for _, label in figures])
    ax.set_ylabel("ms")
    ax.set_title("2. Webhook latency")
    ax.legend()


def _breaker(ax, part: dict) -> None:
    phases = [p for p in PHASES if p in part]
    width = 0.38
    for offset, q in enumerate(("p50", "p99")):
        values = [part[p]["latency_ms"][q] for p in phases]
        bars = ax.bar([i + offset * width for i in range(len(phases))], values, width, label=q)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks([i + width / 2 for i in range(len(phases))],
                  [f"{p}\n{part[p]['errors']} failed" for p in phases])
    ax.set_ylabel("ms")
    ax.set_title("2. Redis stopped mid-run")
    ax.legend()

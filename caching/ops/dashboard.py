"""The cache dashboard at /admin/cache/ (staff only, through the admin site's own permission check).

A page over the same data as `manage.py cache_stats` (report.read_fleet_stats, which flushes this
process's counts first) and two operator actions, each a POST with CSRF and a confirmation step:
reset the counters (stats.reset) and drop one user's cached data (actions.invalidate_user).
Charts are inline SVG drawn from numbers computed here: nothing is loaded from outside the project.
"""

from __future__ import annotations

import time
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from healthagent.errors import ApplicationError

from caching.ops import report
from caching.ops import actions
from caching.backend import stats
from caching.backend.breaker import breaker_state

TEMPLATE = "admin/cache_dashboard.html"
_COUNTERS = ("hits", "misses", "sets", "deletes", "errors", "bypassed")


class InvalidateUserForm(forms.Form):
    telegram_id = forms.IntegerField(label="Telegram user id", min_value=1)


REFRESH_SECONDS = 30


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    context = _page(request, title="Cache dashboard")
    context.update(present(report.read_fleet_stats()))
    context["keyspace_sample"] = _sample(report.sample_keyspace(caches["default"]))
    context["outbox"] = report.outbox_size()
    context["invalidate_form"] = InvalidateUserForm()
    # Auto-refresh, unless the operator turned it off (?refresh=off) to read a figure in peace.
    context["refresh"] = None if request.GET.get("refresh") == "off" else REFRESH_SECONDS
    return TemplateResponse(request, TEMPLATE, context)


@require_POST
def reset_counters(request: HttpRequest) -> HttpResponse:
    if request.POST.get("confirm") != "yes":
        return _confirm(request, action="reset")
    if stats.reset():
        messages.success(request, "Cache counters reset to zero for the whole fleet (cached data untouched).")
    else:
        messages.error(request, "Redis cannot be reached (or caching is disabled): the counters were not reset.")
    return HttpResponseRedirect(reverse("cache-dashboard"))


@require_POST
def invalidate_user(request: HttpRequest) -> HttpResponse:
    form = InvalidateUserForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Nothing invalidated: {form.errors['telegram_id'][0]} (a Telegram user id, e.g. 42)")
        return HttpResponseRedirect(reverse("cache-dashboard"))
    user_id = form.cleaned_data["telegram_id"]
    if request.POST.get("confirm") != "yes":
        return _confirm(request, action="invalidate", user_id=user_id)
    try:
        removed = actions.invalidate_user(user_id=user_id)
    except ApplicationError as error:
        messages.error(request, f"Telegram user {user_id}: {error.message}")
    else:
        messages.success(request, f"Invalidated cached data for Telegram user {user_id}: {removed} key(s) removed.")
    return HttpResponseRedirect(reverse("cache-dashboard"))


def urls() -> list:
    """Mounted before admin.site.urls; admin_view sends anyone but active staff to the admin login."""
    return [
        path("admin/cache/", admin.site.admin_view(dashboard), name="cache-dashboard"),
        path("admin/cache/reset/", admin.site.admin_view(reset_counters), name="cache-dashboard-reset"),
        path("admin/cache/invalidate-user/", admin.site.admin_view(invalidate_user), name="cache-dashboard-invalidate"),
    ]


def _page(request: HttpRequest, *, title: str) -> dict[str, Any]:
    return {**admin.site.each_context(request), "title": title, "breaker": breaker_state()}


def _confirm(request: HttpRequest, *, action: str, user_id: int | None = None) -> HttpResponse:
    title = "Reset the cache counters?" if action == "reset" else f"Invalidate Telegram user {user_id}'s cached data?"
    context = _page(request, title=title)
    context.update({"confirm": action, "user_id": user_id})
    return TemplateResponse(request, TEMPLATE, context)


# --- presentation: the report's numbers as the template shows them ---------------------------------
def present(report: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    redis = report["redis"] or {}
    now = time.time() if now is None else now
    since = redis.get("counters_since")
    # At least a minute: a rate extrapolated from the first seconds would be noise.
    minutes = max((now - since) / 60, 1.0) if since else None
    rows = [_namespace_row(name, counts, minutes=minutes) for name, counts in report["namespaces"].items()]
    if rows:
        total = {counter: sum(row[counter] for row in rows) for counter in _COUNTERS}
        rows.append(_namespace_row("total", total, is_total=True, minutes=minutes))
    return {
        "since": _since(since, now) if since else None,
        "chart": _chart(redis.get("history") or []),
        "enabled": report["enabled"],
        "backend": report["backend"],
        "reachable": bool(redis.get("reachable")),
        "error": (redis.get("error") or "").rstrip("."),  # the page ends the sentence itself
        "redis": redis,
        "rows": rows,
        "agent": {field: (report["namespaces"].get("agent") or {}).get(field, 0)
                  for field in ("model_calls", "tokens_in", "tokens_out", "hits")},
        "memory": _memory(redis),
        "keyspace": _keyspace(redis),
        "has_info": redis.get("keyspace_hits") is not None,
        "notes": _notes(redis),
    }


def _namespace_row(name: str, counts: dict[str, Any], *, is_total: bool = False,
                   minutes: float | None = None) -> dict[str, Any]:
    row = {counter: counts.get(counter, 0) for counter in _COUNTERS}
    reads = row["hits"] + row["misses"]
    row.update(name=name, is_total=is_total, reads=reads, hit=_share(row["hits"], reads))
    row["reads_per_minute"] = _rate(reads / minutes) if minutes else None
    return row


def _rate(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _since(since: float, now: float) -> dict[str, str]:
    seconds = max(0, int(now - since))
    if seconds < 120:
        age = f"{seconds} s"
    elif seconds < 7200:
        age = f"{seconds // 60} min"
    elif seconds < 172800:
        age = f"{seconds // 3600} h {seconds % 3600 // 60} min"
    else:
        age = f"{seconds // 86400} days"
    return {"age": age, "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(since))}


# The chart: hit rate per minute over the last hour, as an SVG polyline in a 600 × 100 box (minutes
# without reads break the line), with the reads per minute as faint bars behind it.
_CHART_W, _CHART_H = 600, 100


def _chart(history: list[dict[str, int]]) -> dict[str, Any] | None:
    if not history or not any(m["hits"] + m["misses"] for m in history):
        return None
    step = _CHART_W / len(history)
    busiest = max(m["hits"] + m["misses"] for m in history)
    segments: list[list[str]] = [[]]
    bars = []
    for i, minute in enumerate(history):
        reads = minute["hits"] + minute["misses"]
        x = i * step + step / 2
        if reads:
            y = _CHART_H - minute["hits"] / reads * _CHART_H
            segments[-1].append(f"{x:.1f},{y:.1f}")
            height = reads / busiest * _CHART_H
            bars.append({"x": f"{i * step:.1f}", "y": f"{_CHART_H - height:.1f}", "w": f"{step * 0.9:.1f}",
                         "h": f"{height:.1f}"})
        elif segments[-1]:
            segments.append([])
    lines = [" ".join(points) for points in segments if len(points) > 1]
    dots = [points[0] for points in segments if len(points) == 1]
    reads = sum(m["hits"] + m["misses"] for m in history)
    hits = sum(m["hits"] for m in history)
    return {"width": _CHART_W, "height": _CHART_H, "lines": lines, "dots": [d.split(",") for d in dots],
            "bars": bars, "busiest": busiest, "hit": _share(hits, reads), "reads": reads}


def _sample(sample: dict[str, Any] | None) -> dict[str, Any] | None:
    if not sample:
        return None
    rows = []
    for kind, figures in sample["kinds"].items():
        memory = figures["memory"]
        rows.append({"kind": kind, **figures, "memory_human": _bytes(memory) if memory is not None else None,
                     "ttl_human": _duration(figures["avg_ttl"]) if figures["avg_ttl"] is not None else None})
    return {"sampled": sample["sampled"], "db_keys": sample["db_keys"], "rows": rows,
            "has_memory": any(row["memory"] is not None for row in rows)}


def _bytes(value: int) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds / 3600:.1f} h"


def _memory(redis: dict[str, Any]) -> dict[str, Any] | None:
    used, limit = redis.get("used_memory"), redis.get("maxmemory")
    if used is None:
        return None
    return {
        "used": redis.get("used_memory_human") or f"{used} B",
        "max": redis.get("maxmemory_human") if limit else None,
        "share": _share(used, limit) if limit else None,
    }


def _keyspace(redis: dict[str, Any]) -> dict[str, Any] | None:
    hits, misses = redis.get("keyspace_hits"), redis.get("keyspace_misses")
    if hits is None or misses is None:
        return None
    return {"hits": hits, "misses": misses, "hit": _share(hits, hits + misses)}


def _share(part: int, whole: int | None) -> dict[str, str] | None:
    """A ratio as the page needs it: a label ("87.5%") and SVG widths with a dot, whatever the locale."""
    if not whole:
        return None
    ratio = min(part / whole, 1.0)
    return {"label": f"{ratio:.1%}", "width": f"{ratio * 100:.2f}", "rest": f"{100 - ratio * 100:.2f}"}


def _notes(redis: dict[str, Any]) -> list[str]:
    notes = []
    if redis.get("keyspace_hits") is not None and not redis.get("maxmemory"):
        notes.append("No maxmemory is set: Redis grows until the machine runs out of memory. Set maxmemory.")
    if redis.get("maxmemory_policy") == "noeviction":
        notes.append("The noeviction policy fails writes once memory is full; a cache wants allkeys-lru or volatile-lru.")
    return notes

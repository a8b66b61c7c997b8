"""The cache dashboard at /admin/cache/ (staff only, through the admin site's own permission check).

A page over the same data as `manage.py cache_stats` (stats.read_fleet_stats, which flushes this
process's counts first) and two operator actions, each a POST with CSRF and a confirmation step:
reset the counters (stats.reset) and drop one user's cached data (services.invalidate_user).
Charts are inline SVG drawn from numbers computed here: nothing is loaded from outside the project.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from healthagent.errors import ApplicationError

from . import services, stats
from .breaker import breaker_state

TEMPLATE = "admin/cache_dashboard.html"
_COUNTERS = ("hits", "misses", "sets", "deletes", "errors", "bypassed")


class InvalidateUserForm(forms.Form):
    telegram_id = forms.IntegerField(label="Telegram user id", min_value=1)


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    context = _page(request, title="Cache dashboard")
    context.update(present(stats.read_fleet_stats()))
    context["invalidate_form"] = InvalidateUserForm()
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
        removed = services.invalidate_user(user_id=user_id)
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
def present(report: dict[str, Any]) -> dict[str, Any]:
    redis = report["redis"] or {}
    rows = [_namespace_row(name, counts) for name, counts in report["namespaces"].items()]
    if rows:
        total = {counter: sum(row[counter] for row in rows) for counter in _COUNTERS}
        rows.append(_namespace_row("total", total, is_total=True))
    return {
        "enabled": report["enabled"],
        "backend": report["backend"],
        "reachable": bool(redis.get("reachable")),
        "error": (redis.get("error") or "").rstrip("."),  # the page ends the sentence itself
        "redis": redis,
        "rows": rows,
        "memory": _memory(redis),
        "keyspace": _keyspace(redis),
        "has_info": redis.get("keyspace_hits") is not None,
        "notes": _notes(redis),
    }


def _namespace_row(name: str, counts: dict[str, Any], *, is_total: bool = False) -> dict[str, Any]:
    row = {counter: counts.get(counter, 0) for counter in _COUNTERS}
    reads = row["hits"] + row["misses"]
    row.update(name=name, is_total=is_total, reads=reads, hit=_share(row["hits"], reads))
    return row


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

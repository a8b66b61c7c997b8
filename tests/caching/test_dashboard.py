"""The cache dashboard at /admin/cache/: who may see it, what it shows, its two POST actions."""

import re

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.test import Client

from caching.backend import stats
from caching.ops.report import read_fleet_stats
from caching.keys import user_memory_key
from tests.redis_server import free_port

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/cache/"
RESET = "/admin/cache/reset/"
INVALIDATE = "/admin/cache/invalidate-user/"
LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def zeroed_counters():
    """Counts other tests left pending in this process would otherwise land in this test's figures."""
    assert stats.reset()


@pytest.fixture
def staff_client(django_user_model):
    """Staff without any model permission: the dashboard asks for staff, nothing more."""
    user = django_user_model.objects.create_user("operator", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def member_client(django_user_model):
    user = django_user_model.objects.create_user("member", password="pw", is_staff=False)
    client = Client()
    client.force_login(user)
    return client


def row(response, namespace):
    (found,) = [r for r in response.context["rows"] if r["name"] == namespace]
    return found


def html_count(response, namespace, field):
    """The number the page shows for (namespace, field): what an operator reads."""
    html = response.content.decode()
    tr = re.search(rf'<tr data-namespace="{namespace}".*?</tr>', html, flags=re.S).group(0)
    return int(re.search(rf'data-field="{field}">(\d+)<', tr).group(1))


def one_hit_one_miss(user_id=42):
    """user_memory: 1 miss, 1 set, 1 hit (and the key left cached)."""
    cache.get(user_memory_key(user_id))
    cache.set(user_memory_key(user_id), {"profile": {"name": "Ada"}, "preferences": {}})
    cache.get(user_memory_key(user_id))


# --- access ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_only_staff_reach_the_dashboard_others_go_to_the_admin_login(who, client, member_client):
    visitor = client if who == "anonymous" else member_client
    response = visitor.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={DASHBOARD}"


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_others_cannot_reset_the_counters(who, client, member_client):
    visitor = client if who == "anonymous" else member_client
    one_hit_one_miss()
    response = visitor.post(RESET, {"confirm": "yes"})
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert read_fleet_stats()["namespaces"]["user_memory"]["hits"] == 1


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_others_cannot_invalidate_a_user(who, client, member_client):
    visitor = client if who == "anonymous" else member_client
    one_hit_one_miss(user_id=42)
    response = visitor.post(INVALIDATE, {"telegram_id": "42", "confirm": "yes"})
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert cache.get(user_memory_key(42)) is not None


def test_actions_refuse_a_post_without_the_csrf_token(django_user_model):
    user = django_user_model.objects.create_user("operator", password="pw", is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    one_hit_one_miss()
    assert client.post(RESET, {"confirm": "yes"}).status_code == 403
    assert client.post(INVALIDATE, {"telegram_id": "42", "confirm": "yes"}).status_code == 403
    assert read_fleet_stats()["namespaces"]["user_memory"]["hits"] == 1
    assert cache.get(user_memory_key(42)) is not None


def test_actions_answer_only_post(staff_client):
    assert staff_client.get(RESET).status_code == 405
    assert staff_client.get(INVALIDATE).status_code == 405
    assert staff_client.post(DASHBOARD).status_code == 405


def test_the_admin_index_links_the_dashboard(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    assert f'href="{DASHBOARD}"' in response.content.decode()


# --- figures ---------------------------------------------------------------------------------------
def test_a_fresh_fleet_shows_zero_for_every_namespace(staff_client):
    response = staff_client.get(DASHBOARD)
    assert response.status_code == 200
    for namespace in ("user_memory", "usda", "conversation_history", "total"):
        assert html_count(response, namespace, "hits") == 0
        assert html_count(response, namespace, "misses") == 0
        assert row(response, namespace)["hit"] is None  # "no reads", no bar
    assert response.context["breaker"] == "closed"
    assert 'id="breaker-state">closed<' in response.content.decode()


def test_cache_traffic_shows_as_counts_hit_rates_and_bars(staff_client):
    one_hit_one_miss()
    response = staff_client.get(DASHBOARD)
    assert html_count(response, "user_memory", "hits") == 1
    assert html_count(response, "user_memory", "misses") == 1
    assert html_count(response, "user_memory", "sets") == 1
    assert html_count(response, "total", "hits") == 1
    assert row(response, "user_memory")["hit"] == {"label": "50.0%", "width": "50.00", "rest": "50.00"}
    assert 'aria-label="hit rate 50.0%"' in response.content.decode()


def test_the_page_loads_nothing_from_outside_the_project(staff_client):
    one_hit_one_miss()
    html = staff_client.get(DASHBOARD).content.decode()
    assert "<svg" in html
    assert re.findall(r'(?:src|href)="(?:https?:)?//', html) == []
    assert '/static/caching/dashboard.css"' in html


def test_redis_figures_from_info_on_a_real_redis(staff_client, live_redis):
    response = staff_client.get(DASHBOARD)
    html = response.content.decode()
    redis = response.context["redis"]
    assert response.context["has_info"] is True
    assert f"<td>{redis['maxmemory_policy']}</td>" in html
    assert f"<td>{redis['evicted_keys']}</td>" in html
    assert f"<td>{redis['connected_clients']}</td>" in html
    assert response.context["memory"]["used"] == redis["used_memory_human"]
    for figure in ("memory", "policy", "evicted", "keyspace", "clients", "keys"):
        assert f'data-figure="{figure}"' in html


def test_the_memory_bar_is_used_over_max():
    from caching.ops.dashboard import present

    report = {"enabled": True, "backend": "b", "namespaces": {}, "redis": {
        "reachable": True, "used_memory": 25 * 2**20, "used_memory_human": "25.00M",
        "maxmemory": 100 * 2**20, "maxmemory_human": "100.00M", "maxmemory_policy": "allkeys-lru",
        "keyspace_hits": 30, "keyspace_misses": 10}}
    shown = present(report)
    assert shown["memory"] == {"used": "25.00M", "max": "100.00M",
                               "share": {"label": "25.0%", "width": "25.00", "rest": "75.00"}}
    assert shown["keyspace"]["hit"]["label"] == "75.0%"
    assert shown["notes"] == []
    report["redis"].update(maxmemory=0, maxmemory_policy="noeviction")
    shown = present(report)
    assert shown["memory"]["share"] is None
    assert len(shown["notes"]) == 2


def test_an_unreachable_redis_is_said_plainly_and_the_page_still_renders(staff_client, use_redis):
    use_redis(f"redis://127.0.0.1:{free_port()}/0")
    response = staff_client.get(DASHBOARD)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Redis cannot be reached" in html
    assert 'id="reset-counters"' in html  # the actions stay, they report their own failure


def test_with_caching_disabled_the_page_says_so(staff_client, settings):
    settings.CACHES = {"default": {"BACKEND": "caching.backend.disabled.DisabledCache"}}
    response = staff_client.get(DASHBOARD)
    assert response.status_code == 200
    assert "Caching is disabled" in response.content.decode()


# --- actions ---------------------------------------------------------------------------------------
def test_reset_asks_for_confirmation_then_zeroes_the_counters(staff_client):
    one_hit_one_miss()

    asked = staff_client.post(RESET)
    assert asked.status_code == 200
    assert asked.context["confirm"] == "reset"
    assert 'name="confirm" value="yes"' in asked.content.decode()
    assert read_fleet_stats()["namespaces"]["user_memory"]["hits"] == 1  # nothing done yet

    done = staff_client.post(RESET, {"confirm": "yes"}, follow=True)
    assert done.redirect_chain == [(DASHBOARD, 302)]
    assert [str(m) for m in done.context["messages"]] == [
        "Cache counters reset to zero for the whole fleet (cached data untouched)."
    ]
    assert html_count(done, "user_memory", "hits") == 0
    assert html_count(done, "user_memory", "misses") == 0
    assert cache.get(user_memory_key(42)) is not None  # counters only


def test_invalidate_asks_for_confirmation_then_drops_the_users_keys(staff_client):
    one_hit_one_miss(user_id=42)
    one_hit_one_miss(user_id=43)

    asked = staff_client.post(INVALIDATE, {"telegram_id": "42"})
    assert asked.status_code == 200
    assert asked.context["confirm"] == "invalidate"
    assert 'name="telegram_id" value="42"' in asked.content.decode()
    assert cache.get(user_memory_key(42)) is not None

    done = staff_client.post(INVALIDATE, {"telegram_id": "42", "confirm": "yes"}, follow=True)
    assert done.redirect_chain == [(DASHBOARD, 302)]
    assert [str(m) for m in done.context["messages"]] == [
        "Invalidated cached data for Telegram user 42: 1 key(s) removed."
    ]
    assert cache.get(user_memory_key(42)) is None
    assert cache.get(user_memory_key(43)) is not None
    assert html_count(done, "user_memory", "deletes") == 1


@pytest.mark.parametrize("given", ["", "abc", "0", "-5"])
def test_invalidate_refuses_what_is_not_a_telegram_id(staff_client, given):
    one_hit_one_miss(user_id=42)
    response = staff_client.post(INVALIDATE, {"telegram_id": given, "confirm": "yes"})
    assert response.status_code == 302
    (message,) = [str(m) for m in get_messages(response.wsgi_request)]
    assert message.startswith("Nothing invalidated:")
    assert cache.get(user_memory_key(42)) is not None


def test_actions_report_an_unreachable_redis(staff_client, use_redis):
    use_redis(f"redis://127.0.0.1:{free_port()}/0")
    reset = staff_client.post(RESET, {"confirm": "yes"}, follow=True)
    invalidated = staff_client.post(INVALIDATE, {"telegram_id": "42", "confirm": "yes"}, follow=True)
    (reset_message,) = [str(m) for m in reset.context["messages"]]
    (invalidate_message,) = [str(m) for m in invalidated.context["messages"]]
    assert reset_message.startswith("Redis cannot be reached")
    assert invalidate_message.startswith("Telegram user 42: Redis cannot be reached")
    assert "runs when Redis is back" in invalidate_message


# --- since when, per minute, over the hour, per namespace, the outbox, refresh ---------------------
def test_the_page_says_since_when_it_counts_and_the_reads_per_minute(staff_client):
    from caching.ops.dashboard import present

    report = read_fleet_stats()
    since = report["redis"]["counters_since"]
    assert since is not None  # the reset in the fixture started the count
    report["namespaces"]["user_memory"].update(hits=90, misses=30)
    shown = present(report, now=since + 600)  # ten minutes later
    assert shown["since"]["age"] == "10 min"
    assert row_of(shown, "user_memory")["reads_per_minute"] == "12"
    one_hit_one_miss()
    assert "Counting since" in staff_client.get(DASHBOARD).content.decode()


def row_of(shown, namespace):
    (found,) = [r for r in shown["rows"] if r["name"] == namespace]
    return found


def test_the_hour_chart_draws_the_fleets_hit_rate_per_minute(staff_client):
    one_hit_one_miss()
    for _ in range(3):
        cache.get(user_memory_key(42))
    stats.flush()
    history = read_fleet_stats()["redis"]["history"]
    assert len(history) == stats.HISTORY_MINUTES
    # (summed: a minute may turn between the flushes)
    assert (sum(m["hits"] for m in history), sum(m["misses"] for m in history)) == (4, 1)
    response = staff_client.get(DASHBOARD)
    chart = response.context["chart"]
    assert chart["reads"] == 5 and chart["hit"]["label"] == "80.0%"
    html = response.content.decode()
    assert 'aria-label="hit rate per minute over the last hour, 80.0% overall"' in html
    assert '<circle class="chart-dot"' in html or '<polyline class="chart-line"' in html


def test_the_chart_breaks_its_line_where_minutes_had_no_reads():
    from caching.ops.dashboard import _chart

    minutes = [{"minute": m, "hits": h, "misses": x} for m, (h, x) in
               enumerate([(1, 1), (2, 0), (0, 0), (3, 1), (1, 3)])]
    chart = _chart(minutes)
    assert len(chart["lines"]) == 2 and len(chart["bars"]) == 4
    first = [point.split(",") for point in chart["lines"][0].split()]
    assert [y for _, y in first] == ["50.0", "0.0"]  # 50 % and 100 % of a 100-high box, top down
    assert _chart([{"minute": 1, "hits": 0, "misses": 0}]) is None


def test_keys_ttl_and_helpers_per_namespace_from_a_sample(staff_client):
    for user_id in range(5):
        cache.set(user_memory_key(user_id), {"profile": {}}, timeout=600)
    stats.flush()
    response = staff_client.get(DASHBOARD)
    sample = response.context["keyspace_sample"]
    kinds = {row["kind"]: row for row in sample["rows"]}
    assert kinds["user_memory"]["keys"] == 5 and kinds["user_memory"]["sampled"] == 5
    assert 590 <= kinds["user_memory"]["avg_ttl"] <= 600
    assert "stats" in kinds  # the counters' hash is told apart from cached data
    assert '<tr data-kind="user_memory">' in response.content.decode()


def test_the_outbox_size_is_shown(staff_client):
    from caching.models import PendingInvalidation

    PendingInvalidation.objects.create(key="user_memory:{3}")
    html = staff_client.get(DASHBOARD).content.decode()
    assert "invalidations waiting to be replayed: <strong>1</strong>" in html


def test_the_page_refreshes_itself_unless_told_not_to(staff_client):
    assert '<meta http-equiv="refresh" content="30">' in staff_client.get(DASHBOARD).content.decode()
    html = staff_client.get(DASHBOARD + "?refresh=off").content.decode()
    assert 'http-equiv="refresh"' not in html and "Auto-refresh is off" in html

"""An operator's session with the cache dashboard in headless Chromium, against a live server.

Log in as staff, see zero counts; send webhook traffic as Telegram would; reload and see the hits;
reset the counters (with the confirmation step) and see zeros; invalidate a user and see the
confirmation. Screenshots go to artifacts/browser/ (the README's picture is the traffic one).
"""

import json
import re
import urllib.request

import pytest

from caching.backend import stats
from caching.ops.report import read_fleet_stats
from tests.nutrition.fakes import BANANA_NUTRIENTS, fdc_food
from tests.redis_server import redis_server, use_redis  # noqa: F401
from tests.telegram import make_update

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAMESPACES = ("user_memory", "usda", "conversation_history")
TRAFFIC = ("/start", "/set kcal_target 2100", "/pref diet vegetarian", "/food banana", "/food banana",
           "/profile", "how am I doing?", "/today", "/food banana", "/history 5")
PASSWORD = "correct horse battery"


@pytest.fixture
def operator(django_user_model):
    """A staff user, created before the browser starts (see conftest: no ORM calls once it runs)."""
    return django_user_model.objects.create_user("operator", password=PASSWORD, is_staff=True)


def shown(page, namespace: str, field: str) -> int:
    return int(page.locator(f'tr[data-namespace="{namespace}"] td[data-field="{field}"]').inner_text())


def send_update(base_url: str, secret: str, text: str) -> dict:
    request = urllib.request.Request(
        f"{base_url}/telegram/webhook/", data=json.dumps(make_update(text, user_id=42)).encode(),
        headers={"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


def log_in_to_the_dashboard(page, base_url: str) -> None:
    """Anyone not logged in is sent to the admin login, which brings the operator back."""
    page.goto(f"{base_url}/admin/cache/")
    assert re.search(r"/admin/login/\?next=/admin/cache/$", page.url)
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#cache-summary")
    assert page.locator("h1").inner_text() == "Cache dashboard"


def test_operator_watches_hits_rise_resets_them_and_invalidates_a_user(
    operator, page, screenshot, live_server, webhook_secret, fake_fdc
):
    fake_fdc.add(body={"foods": [fdc_food(173944, "Bananas, raw", BANANA_NUTRIENTS)]})
    assert stats.reset()  # what earlier tests counted in this process is not this test's traffic

    log_in_to_the_dashboard(page, live_server.url)
    assert [shown(page, ns, "hits") for ns in NAMESPACES] == [0, 0, 0]
    assert [shown(page, ns, "misses") for ns in NAMESPACES] == [0, 0, 0]
    assert page.locator("#breaker-state").inner_text() == "closed"
    screenshot("1-zero")

    for text in TRAFFIC:
        assert send_update(live_server.url, webhook_secret, text)["method"] == "sendMessage"

    page.reload()
    hits = {ns: shown(page, ns, "hits") for ns in NAMESPACES}
    assert hits["user_memory"] > 0 and hits["conversation_history"] > 0 and hits["usda"] >= 2
    assert shown(page, "total", "hits") == sum(hits.values())
    assert page.locator('tr[data-namespace="user_memory"] svg[aria-label^="hit rate"]').count() == 1
    screenshot("2-traffic")

    page.click("#reset-counters")
    assert page.locator("h1").inner_text() == "Reset the cache counters?"
    assert shown_after_nothing_changed(hits)
    page.click("#confirm-action")
    page.wait_for_selector(".messagelist")
    assert "Cache counters reset to zero" in page.locator(".messagelist").inner_text()
    assert [shown(page, ns, "hits") for ns in (*NAMESPACES, "total")] == [0, 0, 0, 0]
    assert [shown(page, ns, "misses") for ns in (*NAMESPACES, "total")] == [0, 0, 0, 0]
    screenshot("3-reset")

    page.fill("#id_telegram_id", "42")
    page.click("#invalidate-user")
    assert page.locator("h1").inner_text() == "Invalidate Telegram user 42's cached data?"
    page.click("#confirm-action")
    page.wait_for_selector(".messagelist")
    assert page.locator(".messagelist").inner_text().strip() == (
        "Invalidated cached data for Telegram user 42: 2 key(s) removed."
    )
    assert shown(page, "user_memory", "deletes") == 1
    assert shown(page, "conversation_history", "deletes") == 1
    screenshot("4-invalidated")


def shown_after_nothing_changed(before: dict) -> bool:
    """The confirmation step changed nothing: the counters still hold what the traffic made."""
    counts = read_fleet_stats()["namespaces"]
    return {ns: counts[ns]["hits"] for ns in NAMESPACES} == before


@pytest.mark.redis_server
def test_redis_figures_and_an_unreachable_redis(
    operator, page, screenshot, live_server, webhook_secret, fake_fdc, redis_server, use_redis
):
    """On a real redis-server with a memory limit: the memory bar and INFO figures; then Redis stops
    and the page still renders, saying so."""
    fake_fdc.add(body={"foods": [fdc_food(173944, "Bananas, raw", BANANA_NUTRIENTS)]})
    use_redis(redis_server.url)
    redis_server.cli("CONFIG", "SET", "maxmemory", "64mb")
    redis_server.cli("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    assert stats.reset()
    for text in TRAFFIC:
        assert send_update(live_server.url, webhook_secret, text)["method"] == "sendMessage"

    log_in_to_the_dashboard(page, live_server.url)
    figures = page.locator("#redis-figures")
    assert figures.locator('tr[data-figure="memory"] svg[aria-label^="memory used"]').count() == 1
    assert "of 64.00M" in figures.locator('tr[data-figure="memory"]').inner_text()
    assert figures.locator('tr[data-figure="policy"] td').inner_text() == "allkeys-lru"
    assert figures.locator('tr[data-figure="evicted"] td').inner_text() == "0"
    assert int(figures.locator('tr[data-figure="clients"] td').inner_text()) >= 1
    assert shown(page, "total", "hits") > 0
    screenshot("redis")  # the README's picture (docs/dashboard.png)

    redis_server.stop()
    page.reload()
    assert "Redis cannot be reached" in page.locator("#cache-status").inner_text()
    assert page.locator("#cache-namespaces").count() == 0
    screenshot("redis-down")


PHONE = {"width": 390, "height": 844}
DESKTOPS = ({"width": 1280, "height": 860}, {"width": 1920, "height": 1080})


def _one_line(page, selector: str) -> bool:
    """The element's text fits on one line: its box is no taller than about one line of its font."""
    return page.eval_on_selector(selector, """el => {
        const box = el.getBoundingClientRect();
        const line = parseFloat(getComputedStyle(el).lineHeight) || parseFloat(getComputedStyle(el).fontSize) * 1.4;
        return box.height <= line * 1.5 && box.width > 0;
    }""")


def _page_overflows(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth + 1")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_index_link_and_the_dashboard_fit_desktop_and_phone(
    operator, page, screenshot, live_server, webhook_secret, fake_fdc, scheme
):
    """The admin index's dashboard link on one line at desktop widths, light and dark; the dashboard
    readable on a phone (its tables scroll in their own box, the page does not), with the hour chart."""
    fake_fdc.add(body={"foods": [fdc_food(173944, "Bananas, raw", BANANA_NUTRIENTS)]})
    page.emulate_media(color_scheme=scheme)
    for text in TRAFFIC:
        send_update(live_server.url, webhook_secret, text)
    log_in_to_the_dashboard(page, live_server.url)

    for viewport in DESKTOPS:
        page.set_viewport_size(viewport)
        page.goto(f"{live_server.url}/admin/")
        assert _one_line(page, '#operations-module a[href="/admin/cache/"]'), viewport
        assert page.locator("text=View site").count() == 0
        screenshot(f"index-{scheme}-{viewport['width']}")
        page.goto(f"{live_server.url}/admin/cache/?refresh=off")
        assert not _page_overflows(page), viewport
        assert page.locator("#hit-rate-history svg.chart").count() == 1
        assert page.locator('#keyspace-kinds tr[data-kind="user_memory"]').count() == 1
        screenshot(f"dashboard-{scheme}-{viewport['width']}")

    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/admin/cache/?refresh=off")
    assert not _page_overflows(page)
    assert shown(page, "total", "hits") > 0
    scroll = page.locator("#cache-namespaces").locator("xpath=..")
    assert scroll.evaluate("el => getComputedStyle(el).overflowX") == "auto"
    screenshot(f"dashboard-{scheme}-phone")
    page.goto(f"{live_server.url}/admin/")
    assert not _page_overflows(page)
    screenshot(f"index-{scheme}-phone")

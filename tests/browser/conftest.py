"""Headless Chromium for the browser tests: Debian's `chromium` package driven by Playwright for
Python (`pip install playwright`; its own browser download, `playwright install`, is not needed).

Where either is missing the tests skip and say which — except under CI=true (.ci/run installs
Chromium), where they fail instead: a CI that silently skipped them would prove nothing.
Screenshots are test artifacts, written to artifacts/browser/ (gitignored).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Quiet and offline: no sandbox (CI runs as root in a container), no GPU, no calls home.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def _unavailable(reason: str) -> None:
    # .ci/run installs Chromium and exports CI=true: there a missing browser is a broken CI, not a skip.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM}: install Debian's chromium package (apt-get install chromium) "
                     "or set CHROMIUM_PATH to run the browser tests")
    try:
        from playwright import sync_api
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install playwright; no `playwright install`)")
    # Playwright's sync API runs an event loop on this thread while the browser is open. Django then
    # refuses ORM calls here (SynchronousOnlyOperation), and rightly: its connections would be
    # per-context there, opened outside the test's and never closed. So a browser test does its
    # database work in fixtures requested before `page`; the live server's threads are unaffected.
    # Function scope for the same reason: a loop left running would break every later test.
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def screenshot(page, request):
    """screenshot("name") saves the whole page as artifacts/browser/<test>-<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take

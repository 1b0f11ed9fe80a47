"""Browser tests: Debian's Chromium (/usr/bin/chromium, installed by scripts/browser) driven by
Playwright against pytest-django's live server, which runs in this process on the test database."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from .support import log_in

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("TACT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
ARTIFACTS = ROOT / "var" / "test-artifacts"
STAFF_USERNAME = "boss"
STAFF_PASSWORD = "b0ss-Secret-123"

def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can see whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright for this folder only: its sync API keeps an event loop running in this
    thread, which the rest of the suite (asyncio.run in the channel tests) must not inherit.
    While it runs, the tests' own ORM calls are plain synchronous code all the same, so
    Django must not refuse them as "async"."""
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as started:
            yield started
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One Chromium for the session; a test fails (never skips) when it is not installed."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run scripts/browser (`make test` does), "
                    "which installs Debian's chromium package with apt or says why it cannot", pytrace=False)
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def staff(django_user_model):
    """A superuser on staff, with a password typed into the real login form."""
    return django_user_model.objects.create_superuser(STAFF_USERNAME, "boss@example.com", STAFF_PASSWORD)


@pytest.fixture
def anonymous_page(request, browser: Browser, live_server) -> Iterator[Page]:
    """A fresh browser context on the live server; on failure its screenshot and HTML are saved
    to var/test-artifacts/<test name>.png and .html."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.html").write_text(page.content())
        except Exception as error:  # a crashed page must not hide the test's own failure
            print(f"could not save the failure's screenshot: {error}")
    context.close()


@pytest.fixture
def page(anonymous_page: Page, staff) -> Page:
    """A browser page with the staff superuser logged in through the login form."""
    log_in(anonymous_page, STAFF_USERNAME, STAFF_PASSWORD)
    anonymous_page.wait_for_url(re.compile(r"/admin/$"))
    return anonymous_page

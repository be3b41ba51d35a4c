"""Real-browser fixtures: Debian's chromium driven by Playwright against
pytest-django's live server, the real Temporal dev server and a real worker.

Nothing is downloaded: Playwright's own browser builds are never installed
(`playwright install` is not run anywhere); it drives /usr/bin/chromium.
A failing test leaves a screenshot and the page's HTML in test-artifacts/.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import sync_playwright

from tests.integration.browser.chromium import CHROMIUM, CHROMIUM_ARGS

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
PHASE_REPORTS = pytest.StashKey[dict]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="module")
def browser():
    """One chromium per module: starting it is the slow part (about 2 s)."""
    # Playwright's sync API keeps its event loop "running" on this thread (in
    # another greenlet), which Django would take for an async context and
    # refuse ORM calls from the test body. They are plain sync calls here.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield browser
            browser.close()


@pytest.fixture
def open_browser(browser, live_server, request):
    """`open_browser()` gives a fresh page (own cookies) on the live server; kept on failure.

    Keyword arguments go to Playwright's `new_context` (a phone's `viewport`,
    `device_scale_factor`, `is_mobile`, `has_touch`); the default is a 1280x900 desktop.
    """
    contexts = []

    def open_page(**context_options):
        context_options = {"viewport": {"width": 1280, "height": 900}, **context_options}
        context = browser.new_context(base_url=live_server.url, **context_options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        # Everything the page logs (CSP violations are console errors); see csp_violations().
        page.console_seen = []
        page.on("console", lambda message: page.console_seen.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: page.console_seen.append(f"pageerror: {error}"))
        return page

    yield open_page

    call = request.node.stash.get(PHASE_REPORTS, {}).get("call")
    if call is not None and call.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::")[-1])
        for n, context in enumerate(contexts):
            for m, page in enumerate(context.pages):
                stem = ARTIFACTS / f"{name}-{n}{m}"
                page.screenshot(path=f"{stem}.png", full_page=True)
                Path(f"{stem}.html").write_text(page.content())
    for context in contexts:
        context.close()


def csp_violations(page) -> list[str]:
    """What the page logged about the Content-Security-Policy refusing something."""
    return [line for line in page.console_seen if "Content Security Policy" in line or "Content-Security-Policy" in line]


@pytest.fixture
def log_in(open_browser):
    """`log_in(user)`: a page logged in through the real login form (password "pw", as tests/conftest.py makes users).

    Keyword arguments are the browser context's, as for `open_browser`.
    """

    def log_in_as(user, **context_options):
        page = open_browser(**context_options)
        page.goto("/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill("pw")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/orders/$"))
        return page

    return log_in_as

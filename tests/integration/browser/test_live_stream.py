"""The live panel's event stream in a real browser: an approval made elsewhere reaches an open page through the
stream (and the page does not poll meanwhile), and a page whose stream fails polls as before.

The page is served by uvicorn (ASGI, as `make serve` and `make run` serve it), in a thread of this process, on the
same test database, Temporal dev server and worker as pytest-django's live server.
"""
from __future__ import annotations

import re
import threading
import time

import pytest
import uvicorn
from django.core.asgi import get_asgi_application
from playwright.sync_api import expect

from temporal_bridge.order import states
from tests.integration.browser.chromium import CHROMIUM, HAVE_CHROMIUM
from tests.integration.stack import free_port, pending_order

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),  # the servers read what the test writes
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"no chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"),
]


@pytest.fixture
def asgi_url(live_server):
    port = free_port()
    # Not config.asgi's application: the DB_POOL it sets would reach the worker processes this run starts.
    app = get_asgi_application()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning",
                                           timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def page_on(browser):
    contexts = []

    def open_page(base_url: str, user):
        context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill("pw")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/orders/$"))
        page.polls = []
        page.on("request", lambda request: page.polls.append(request.url) if re.search(r"/panel/$", request.url) else None)
        return page

    yield open_page
    for context in contexts:
        context.close()


def approve_elsewhere(page, order) -> None:
    page.goto(f"/orders/{order.pk}/")
    page.locator("#live-panel").get_by_role("button", name="Approve").click()
    expect(page.locator("#live-panel")).not_to_have_attribute("data-state", states.PENDING_APPROVAL, timeout=15_000)


def test_an_approval_made_elsewhere_reaches_an_open_page_through_its_stream(
        stack, settings, asgi_url, live_server, page_on, clerk, manager, customer, server):
    settings.ORDER_FULFILMENT_STEPS, settings.ORDER_FULFILMENT_STEP_SECONDS = 8, 0.5
    order = pending_order(clerk, customer, server)
    watcher = page_on(asgi_url, clerk)
    watcher.goto(f"/orders/{order.pk}/")
    holder = watcher.locator("[data-live-stream]")
    expect(holder).to_have_attribute("data-live-stream", "open")
    expect(watcher.locator("#order-state")).to_have_text("Pending approval")
    polls_before = len(watcher.polls)

    approve_elsewhere(page_on(live_server.url, manager), order)

    expect(watcher.locator("#live-panel .decisions")).to_contain_text("Approved by manager", timeout=15_000)
    # Then the order moves by itself (a page would poll every 1.5 s): the stream brings each step, to the end.
    expect(watcher.locator("#live-panel")).to_have_attribute("data-state", states.FULFILLED, timeout=30_000)
    expect(watcher.locator("#order-progress")).to_have_attribute("value", "100")
    assert len(watcher.polls) == polls_before, f"the page polled while its stream was open: {watcher.polls}"
    expect(holder).to_have_attribute("data-live-stream", "closed")  # final: nothing more will come


def test_a_page_whose_stream_fails_polls_as_before(stack, asgi_url, live_server, page_on, clerk, manager, customer, server):
    order = pending_order(clerk, customer, server)
    watcher = page_on(asgi_url, clerk)
    refused = []
    watcher.route(re.compile(r".*/panel/stream/.*"), lambda route: (refused.append(route.request.url), route.fulfill(status=503)))
    watcher.goto(f"/orders/{order.pk}/")
    expect(watcher.locator("#order-state")).to_have_text("Pending approval")

    approve_elsewhere(page_on(live_server.url, manager), order)

    # Waiting on people, the page polls every 20 s: the approval shows within one period.
    expect(watcher.locator("#live-panel .decisions")).to_contain_text("Approved by manager", timeout=30_000)
    assert watcher.polls, "the page never polled"
    assert refused, "the page never tried its stream"
    expect(watcher.locator("[data-live-stream]")).to_have_attribute("data-live-stream", "closed")

"""The desk's browser journeys in a real browser (Debian's chromium, driven by
Playwright), against the live Django server, the real Temporal dev server and
a real worker: what a manager and a clerk see and do, htmx and all."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from orders.models import StockReservation
from orders.payments.models import PaymentTransaction
from temporal_bridge.order import states
from tests.integration.browser.chromium import CHROMIUM, HAVE_CHROMIUM
from tests.integration.browser.conftest import csp_violations
from tests.integration.stack import pending_order

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),  # the live server reads what the test writes
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"no chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"),
]

# Long enough to watch (the panel polls every 1.5 s) and to cancel mid-way; short enough for CI.
SEEN_STEPS, SEEN_STEP_SECONDS = 8, 0.5
CANCEL_STEPS, CANCEL_STEP_SECONDS = 20, 0.5

# Samples the live panel every 100 ms into window.__journey. A page reload
# would wipe it, so its survival proves the page was never reloaded.
RECORD_PANEL = """() => {
  window.__journey = {progress: [], states: []};
  setInterval(() => {
    const j = window.__journey, bar = document.querySelector('#order-progress'), panel = document.querySelector('#live-panel');
    if (bar && !j.progress.includes(Number(bar.value))) j.progress.push(Number(bar.value));
    if (panel && !j.states.includes(panel.dataset.state)) j.states.push(panel.dataset.state);
  }, 100);
}"""


def open_order(page, order):
    page.goto(f"/orders/{order.pk}/")
    panel = page.locator("#live-panel")
    expect(panel).to_have_attribute("data-source", "workflow")  # the live query, not the DB fallback
    return panel


def action_box(page, summary: str):
    """The <details> holding one action's form ("Reject…", "Cancel order…")."""
    return page.locator("#live-panel details").filter(has=page.locator("summary", has_text=summary))


def test_manager_approves_and_watches_the_order_reach_fulfilled_without_reloading(
    stack, settings, log_in, clerk, manager, customer, server,
):
    settings.ORDER_FULFILMENT_STEPS, settings.ORDER_FULFILMENT_STEP_SECONDS = SEEN_STEPS, SEEN_STEP_SECONDS
    order = pending_order(clerk, customer, server)
    page = log_in(manager)
    panel = open_order(page, order)
    expect(panel.locator("#order-state")).to_have_text("Pending approval")
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    page.evaluate(RECORD_PANEL)

    panel.get_by_placeholder("Comment (optional)").fill("Customer is good for it")
    panel.get_by_role("button", name="Approve").click()

    expect(page.locator("#live-panel")).to_have_attribute("data-state", states.FULFILLED, timeout=30_000)
    panel = page.locator("#live-panel")
    expect(panel.locator("#order-state")).to_have_text("Fulfilled")
    expect(panel.locator("#order-progress")).to_have_attribute("value", "100")
    expect(panel.locator("#tracking-number")).to_have_text(re.compile(r"\S+"))
    expect(panel.locator(".decisions")).to_contain_text("Approved by manager: “Customer is good for it”")
    expect(panel.get_by_role("button", name="Approve")).to_have_count(0)

    # The recorder samples every 100 ms: let it see the final state the expectations above saw.
    # A function, not an expression: the page's CSP forbids the eval a polled expression needs.
    page.wait_for_function(f"() => window.__journey.states.includes('{states.FULFILLED}')", timeout=5_000)
    journey = page.evaluate("window.__journey")
    assert journey is not None and navigations == [], "the page was reloaded"
    assert states.FULFILLING in journey["states"] and journey["states"][-1] == states.FULFILLED
    moving = [p for p in journey["progress"] if 0 < p < 100]
    assert moving, f"the progress bar never showed a value between 0 and 100: {journey['progress']}"
    assert journey["progress"] == sorted(journey["progress"]), "the progress bar went backwards"
    # Finished: the panel stops polling.
    expect(panel).not_to_have_attribute("hx-trigger", re.compile(".*"))


def test_manager_rejects_an_order_with_a_reason_and_cannot_without_one(stack, log_in, clerk, manager, customer, server):
    order = pending_order(clerk, customer, server)
    page = log_in(manager)
    open_order(page, order)
    decisions = []
    page.on("request", lambda request: decisions.append(request.url) if request.method == "POST" and "/reject/" in request.url else None)

    box = action_box(page, "Reject…")
    box.locator("summary").click()
    box.get_by_role("button", name="Reject").click()  # no reason yet
    assert box.get_by_label("Reason").evaluate("field => field.validity.valueMissing")
    assert decisions == [], "a rejection without a reason was sent"

    box.get_by_label("Reason").fill("Duplicate of an order placed by phone")
    box.get_by_role("button", name="Reject").click()

    panel = page.locator("#live-panel")
    expect(panel).to_have_attribute("data-state", states.REJECTED, timeout=15_000)
    expect(panel.locator("#order-state")).to_have_text("Rejected")
    expect(panel.locator(".decisions")).to_contain_text("Rejected by manager: “Duplicate of an order placed by phone”")
    expect(panel.locator("#timeline")).to_contain_text("Rejected by manager: Duplicate of an order placed by phone")
    expect(panel.locator(".actions")).to_have_count(0)
    assert len(decisions) == 1
    server.refresh_from_db()
    assert server.stock_reserved == 0


def test_manager_cancels_during_fulfilment_and_sees_refund_then_stock_release(
    stack, settings, log_in, clerk, manager, customer, server,
):
    settings.ORDER_FULFILMENT_STEPS, settings.ORDER_FULFILMENT_STEP_SECONDS = CANCEL_STEPS, CANCEL_STEP_SECONDS
    order = pending_order(clerk, customer, server)
    page = log_in(manager)
    panel = open_order(page, order)
    panel.get_by_role("button", name="Approve").click()

    # Wait until the warehouse has started: the bar has moved off zero.
    page.wait_for_function(
        "() => { const bar = document.querySelector('#order-progress'); return bar && Number(bar.value) > 0 }", timeout=20_000,
    )
    box = action_box(page, "Cancel order…")
    box.locator("summary").click()
    box.get_by_label("Reason").fill("Customer changed their mind")
    box.get_by_role("button", name="Cancel order").click()

    panel = page.locator("#live-panel")
    expect(panel).to_have_attribute("data-state", states.CANCELLED, timeout=20_000)
    expect(panel.locator("#order-state")).to_have_text("Cancelled")
    timeline = panel.locator("#timeline .tl-msg").all_inner_texts()
    cancel = next(i for i, message in enumerate(timeline) if message.startswith("Cancel requested by manager: Customer changed their mind"))
    refund = next(i for i, message in enumerate(timeline) if message.startswith("Refunded 1000.00"))
    release = next(i for i, message in enumerate(timeline) if message.startswith("Released 1 reserved unit"))
    assert cancel < refund < release, f"compensation runs in reverse (refund, then stock release): {timeline}"
    stopped = next(message for message in timeline if message.startswith("Fulfilment stopped at"))
    assert 0 < int(re.search(r"(\d+)%", stopped).group(1)) < 100, "the order was cancelled mid-fulfilment"

    assert PaymentTransaction.objects.filter(order=order, kind="refund").count() == 1
    assert set(StockReservation.objects.filter(order=order).values_list("status", flat=True)) == {"released"}
    server.refresh_from_db()
    assert (server.stock_on_hand, server.stock_reserved) == (5, 0)


def test_clerk_follows_an_order_live_but_sees_no_approve_or_reject(stack, log_in, clerk, customer, server):
    order = pending_order(clerk, customer, server)
    page = log_in(clerk)
    panel = open_order(page, order)

    expect(panel.locator("#order-state")).to_have_text("Pending approval")
    expect(panel.get_by_role("button", name="Approve")).to_have_count(0)
    expect(panel.locator("summary", has_text="Reject")).to_have_count(0)
    expect(page.locator("nav.mainnav").get_by_role("link", name=re.compile("Approvals"))).to_have_count(0)


def test_pages_satisfy_the_content_security_policy(stack, log_in, clerk, manager, customer, server):
    """The policy allows no inline script or style: the new-order form, the order it makes, its live
    panel (polling, a refused action swapped in), the list, the inbox and the admin log no violation."""
    page = log_in(clerk)
    response = page.goto("/orders/new/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.get_by_label("Find by name or email").press_sequentially(customer.name[:4])  # the htmx search, then pick
    page.get_by_label(re.compile(customer.name)).check()
    page.get_by_label("Shipping address").fill("1 Main Street")
    page.locator("select[name=lines-0-product]").select_option(str(server.pk))
    page.locator("input[name=lines-0-quantity]").fill("1")
    page.get_by_role("button", name="Submit order").click()
    page.wait_for_url(re.compile(r"/orders/\d+/$"))
    panel = page.locator("#live-panel")
    expect(panel).to_have_attribute("data-source", "workflow")
    expect(panel.locator("#order-state")).to_have_text("Pending approval")
    page.wait_for_timeout(3500)  # two polls of the live panel
    page.goto("/orders/")
    assert csp_violations(page) == [], csp_violations(page)

    manager_page = log_in(manager)
    for path in ("/approvals/", "/orders/?status=pending_approval", "/admin/", "/admin/orders/order/", "/ops/"):
        manager_page.goto(path)
    manager_page.goto("/orders/")
    manager_page.locator("table a").first.click()
    manager_page.wait_for_url(re.compile(r"/orders/\d+/$"))
    expect(manager_page.locator("#live-panel")).to_have_attribute("data-source", "workflow")
    box = action_box(manager_page, "Reject…")
    box.locator("summary").click()
    box.get_by_label("Reason").fill("   ")  # passes the browser's check, not the server's: refused in place by htmx
    box.get_by_role("button", name="Reject").click()
    expect(manager_page.locator("#live-panel")).to_contain_text("A reason is required")
    assert csp_violations(manager_page) == [], csp_violations(manager_page)

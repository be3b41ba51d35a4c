"""Accessibility in a real browser: axe-core (4.x, from the PyPI package
axe-playwright-python) over every page of the desk, as every role, finds no
violation of any impact; a keyboard-only journey approves, rejects with a
reason and cancels; the live panel announces each change once; pages reflow
at 320 CSS px. What was tested and how: docs/accessibility.md.
"""
from __future__ import annotations

import os
import re
import time
from decimal import Decimal
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from approvals.decision_links.services import link_issue
from orders import roles, services
from orders.models import Product
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import states
from tests.conftest import make_user
from tests.integration.browser.chromium import CHROMIUM, HAVE_CHROMIUM
from tests.integration.stack import pending_order

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"no chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"),
]

# Screenshots for the people reviewing the change (not test artifacts); set to keep them.
SHOTS = os.environ.get("ORDER_DESK_SCREENSHOTS", "")


def violations(page) -> list[str]:
    """axe's violations on the page as it is now, any impact: "rule (impact): where"."""
    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): " + "; ".join(n["target"][0] for n in v["nodes"][:3])
            for v in results.response["violations"]]


def shot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def large_order(clerk, customer):
    """A "Large orders" order (two approvals, one senior) of four lines, once it waits for approvers."""
    products = [Product.objects.create(sku=f"AXE-{i}", name=name, price=Decimal(price), stock_on_hand=100)
                for i, (name, price) in enumerate([("Rack", "5000.00"), ("Server", "1000.00"), ("Cable", "10.00"), ("Rail kit", "50.00")])]
    lines = [services.LineRequest(p, q) for p, q in zip(products, (2, 3, 12, 2), strict=True)]
    order = services.order_submit(customer=customer, lines=lines, created_by=clerk, shipping_address="1 Main Street", priority="high")
    deadline = time.monotonic() + 30
    while order_calls.query_order(order.pk).state != states.PENDING_APPROVAL:
        assert time.monotonic() < deadline, "the workflow never reached pending approval"
        time.sleep(0.1)
    return order


def test_axe_finds_no_violation_on_any_page_as_any_role(stack, policies, log_in, open_browser, clerk, manager, senior, auditor, customer,
                                                        server):
    finance = make_user("finance", roles.FINANCE, is_staff=False)
    finance.groups.add(Group.objects.get(name=roles.FINANCE))
    order = large_order(clerk, customer)
    small = pending_order(clerk, customer, server)
    found: dict[str, list[str]] = {}

    def sweep(page, role: str, paths: list[str]) -> None:
        for path in paths:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            found[f"{role} {path}"] = violations(page)

    sweep(log_in(clerk), "clerk", ["/orders/", "/orders/new/", f"/orders/{order.pk}/"])
    manager_page = log_in(manager)
    sweep(manager_page, "manager", ["/orders/", f"/orders/{order.pk}/", f"/orders/{small.pk}/", "/approvals/",
                                    "/approvals/out-of-office/", "/ops/"])
    # A bulk decision's page, while its batch runs and once it is done.
    manager_page.goto("/approvals/")
    manager_page.get_by_label(f"Select {small.number}").check()
    manager_page.get_by_role("button", name="Approve selected").click()
    manager_page.wait_for_url(re.compile(r"/approvals/batches/"))
    found["manager batch page"] = violations(manager_page)
    # The order page once manager's approval counts: the withdraw box.
    manager_page.goto(f"/orders/{order.pk}/")
    manager_page.locator("#live-panel").get_by_role("button", name="Approve").click()
    expect(manager_page.locator("#withdraw-box")).to_be_visible()
    found["manager order page with withdraw"] = violations(manager_page)
    senior_page = log_in(senior)
    sweep(senior_page, "senior", ["/approvals/", f"/orders/{order.pk}/"])
    senior_page.goto("/approvals/")
    shot(senior_page, "inbox")
    senior_page.goto(f"/orders/{order.pk}/")
    shot(senior_page, "order-page")
    # Locked out after five wrong passwords.
    locked = open_browser()
    for _ in range(5):
        locked.goto("/login/")
        locked.get_by_label("Username").fill("auditor")
        locked.get_by_label("Password").fill("wrong")
        locked.get_by_role("button", name="Log in").click()
    expect(locked.get_by_role("heading", name="Too many failed login attempts")).to_be_visible()
    found["anonymous locked-out page"] = violations(locked)
    AccessAttempt.objects.all().delete()  # the auditor may sign in again
    sweep(log_in(auditor), "auditor", ["/orders/", "/approvals/audit/"])
    sweep(log_in(finance), "finance", ["/approvals/"])
    anonymous = open_browser()
    link = link_issue(approver=senior, order=order, decision="approved")
    reject = link_issue(approver=senior, order=order, decision="rejected")
    sweep(anonymous, "anonymous", ["/login/"])
    for name, path in (("approve confirmation", link), ("reject confirmation", reject), ("altered link", link[:-4] + "xyz/")):
        anonymous.goto(path[path.index("/approvals/"):])
        found[f"anonymous e-mail link: {name}"] = violations(anonymous)
    anonymous.goto(link[link.index("/approvals/"):])
    shot(anonymous, "confirmation")
    for role_paths, found_violations in found.items():
        print(f"axe {role_paths}: {len(found_violations)} violations")
    assert {page: v for page, v in found.items() if v} == {}


# --- Keyboard only -------------------------------------------------------------------------------

FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const name = (el.getAttribute('aria-label') || el.textContent || el.name || el.id || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
  return {tag: el.tagName, name: name, id: el.id, inPanel: !!el.closest('#live-panel'),
          ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2};
}"""


def tab_to(page, name: str, *, limit: int = 80) -> list[dict]:
    """Press Tab until the control named `name` has focus; every stop on the way, each with a visible focus ring."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        stops.append(focused)
        assert focused["ring"], f"no visible focus on {focused}"
        if focused["name"] == name:
            return stops
    raise AssertionError(f"{name!r} never reached by Tab; stops: {[s['name'] for s in stops]}")


# Where the focus is after an action: its answer, or, once a poll has replaced the panel, the order's state.
AFTER_ACTION = {"request-outcome", "order-state"}


def wait_for_focus_after_action(page) -> None:
    """The focus reaches the action's answer (or the state) once htmx has settled the swap (20 ms
    after it); a timeout fails the test."""
    ids = ", ".join(f"'{i}'" for i in sorted(AFTER_ACTION))
    page.wait_for_function(f"() => [{ids}].includes(document.activeElement.id)", timeout=3000)


def test_keyboard_only_approve_reject_with_a_reason_and_cancel(stack, log_in, clerk, manager, customer, server):
    approve_me, reject_me, cancel_me = (pending_order(clerk, customer, server) for _ in range(3))
    page = log_in(manager)
    page.evaluate("() => document.activeElement.blur()")

    # Approve: the controls come in reading order, then the answer takes the focus.
    page.goto(f"/orders/{approve_me.pk}/")
    expect(page.locator("#live-panel")).to_have_attribute("data-source", "workflow")
    stops = [s["name"] for s in tab_to(page, "Approve")]
    assert stops.index("Comment") < stops.index("Approve")
    page.keyboard.press("Enter")
    expect(page.locator("#request-outcome")).to_contain_text("Accepted by the order's workflow")
    wait_for_focus_after_action(page)

    # Reject: the <details> opens from the keyboard, the reason is typed, the answer takes the focus.
    page.goto(f"/orders/{reject_me.pk}/")
    expect(page.locator("#live-panel")).to_have_attribute("data-source", "workflow")
    names = [s["name"] for s in tab_to(page, "Reject…")]
    assert "Approve" in names  # Approve comes first, then Reject…
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.name") == "reject-reason"
    page.keyboard.type("Over budget this quarter")
    tab_to(page, "Reject", limit=3)
    page.keyboard.press("Enter")
    expect(page.locator("#request-outcome")).to_contain_text("Accepted")
    wait_for_focus_after_action(page)
    expect(page.locator("#order-state")).to_have_text("Rejected", timeout=15_000)

    # Cancel, the same way.
    page.goto(f"/orders/{cancel_me.pk}/")
    expect(page.locator("#live-panel")).to_have_attribute("data-source", "workflow")
    tab_to(page, "Cancel order…")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.type("Customer called it off")
    tab_to(page, "Cancel order", limit=3)
    page.keyboard.press("Enter")
    expect(page.locator("#request-outcome")).to_contain_text("Accepted")
    wait_for_focus_after_action(page)
    expect(page.locator("#order-state")).to_have_text("Cancelled", timeout=20_000)


RECORD_ANNOUNCEMENTS = """() => {
  window.__said = [];
  new MutationObserver(() => window.__said.push(document.getElementById('panel-announcer').textContent))
    .observe(document.getElementById('panel-announcer'), {childList: true, characterData: true, subtree: true});
}"""


def test_the_live_region_announces_each_change_of_state_once(stack, settings, log_in, clerk, manager, customer, server):
    settings.ORDER_FULFILMENT_STEPS, settings.ORDER_FULFILMENT_STEP_SECONDS = 4, 0.5
    order = pending_order(clerk, customer, server)
    page = log_in(manager)
    page.goto(f"/orders/{order.pk}/")
    expect(page.locator("#live-panel")).to_have_attribute("data-source", "workflow")
    assert page.locator("#panel-announcer").text_content() == ""  # what the page shows on arrival is not news
    page.evaluate(RECORD_ANNOUNCEMENTS)
    page.locator("#live-panel").get_by_role("button", name="Approve").click()
    expect(page.locator("#order-state")).to_have_text("Fulfilled", timeout=30_000)
    page.wait_for_timeout(2000)  # polling has stopped: nothing more to say
    said = page.evaluate("() => window.__said")
    assert said, "nothing was announced"
    assert all(a != b for a, b in zip(said, said[1:], strict=False)), said  # once per change
    assert said[-1].startswith("Order Fulfilled"), said
    assert len(said) == len(set(said)), said


# --- Reflow ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [{"width": 320, "height": 640}, {"width": 640, "height": 450}], ids=["320px", "200pct-zoom"])
def test_pages_reflow_without_sideways_scrolling(stack, log_in, open_browser, clerk, manager, customer, server, viewport):
    """WCAG 1.4.10: at 320 CSS px (and 1280 px at 200% zoom, i.e. 640 CSS px) nothing needs a sideways scroll."""
    order = pending_order(clerk, customer, server)
    page = log_in(manager, viewport=viewport)
    wide = {}
    for path in ("/orders/", f"/orders/{order.pk}/", "/approvals/", "/approvals/out-of-office/", "/ops/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 1:
            wide[path] = overflow
    clerk_page = log_in(clerk, viewport=viewport)
    clerk_page.goto("/orders/new/")
    if (overflow := clerk_page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")) > 1:
        wide["/orders/new/"] = overflow
    link = link_issue(approver=manager, order=order, decision="rejected")
    anonymous = open_browser(viewport=viewport)
    anonymous.goto(link[link.index("/approvals/"):])
    if (overflow := anonymous.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")) > 1:
        wide["confirmation"] = overflow
    assert wide == {}, f"pages wider than the screen (px of sideways scroll): {wide}"

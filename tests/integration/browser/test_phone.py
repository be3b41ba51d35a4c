"""Approving from a phone: the manager's journey at 390x844 (an iPhone 12-15's
CSS viewport, 3x pixels, touch) in the real browser, against the live server,
the real Temporal dev server and a real worker.

At every step nothing may stick out of the viewport (the page no wider than
the screen, every visible element inside it), the controls a thumb presses
are touch-sized, and the header's items are reachable. Each step's screenshot
is kept in test-artifacts/phone/ whether the test passes or not, so a person
can look at what the assertions cannot judge.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from temporal_bridge.order import states
from tests.integration.browser.chromium import CHROMIUM, HAVE_CHROMIUM
from tests.integration.browser.conftest import ARTIFACTS, csp_violations
from tests.integration.browser.test_journeys import action_box, open_order
from tests.integration.stack import pending_order

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),  # the live server reads what the test writes
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"no chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"),
]

WIDTH, HEIGHT = 390, 844
PHONE = {"viewport": {"width": WIDTH, "height": HEIGHT}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True}
SCREENSHOTS = ARTIFACTS / "phone"
TOUCH_MIN_PX = 40

# Everything on the page that breaks the phone layout, as readable sentences.
# A mobile browser shrinks a page wider than the screen to fit, so the
# reference is the device width, not window.innerWidth alone.
LAYOUT_PROBLEMS = """([width, touchMin]) => {
  const problems = [];
  const root = document.documentElement;
  if (window.innerWidth > width) problems.push(`the browser zoomed out: window.innerWidth is ${window.innerWidth}`);
  if (root.scrollWidth > width) problems.push(`the page is ${root.scrollWidth}px wide`);
  const name = el => {
    const label = el.innerText || el.value || el.getAttribute('aria-label') || el.placeholder || '';
    const text = label.trim().replace(/\\s+/g, ' ').slice(0, 40);
    const classes = el.classList.length ? '.' + [...el.classList].join('.') : '';
    return `<${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${classes}> "${text}"`;
  };
  const shown = el => el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true});
  const offscreen = new Set();
  for (const el of document.body.querySelectorAll('*')) {
    if (!shown(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.left < -0.5 || box.right > width + 0.5) {
      // Report the outermost offender only, not each of its children.
      if (![...offscreen].some(parent => parent.contains(el))) {
        offscreen.add(el);
        problems.push(`${name(el)} spans x ${Math.round(box.left)}..${Math.round(box.right)}`);
      }
    }
  }
  const controls = 'button, .button, summary, input:not([type=hidden]):not([type=checkbox]), select, textarea, .topbar a';
  for (const el of document.body.querySelectorAll(controls)) {
    if (!shown(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.height < touchMin) problems.push(`${name(el)} is ${Math.round(box.height)}px tall (a finger needs ${touchMin})`);
  }
  return problems;
}"""


class Journey:
    """Screenshots each step into test-artifacts/phone/ and collects its layout problems."""

    def __init__(self, page):
        self.page, self.step, self.problems = page, 0, []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for old in SCREENSHOTS.glob("*.png"):
            old.unlink()

    def check(self, label: str):
        self.step += 1
        self.page.wait_for_load_state()
        self.page.screenshot(path=SCREENSHOTS / f"{self.step:02d}-{label}.png", full_page=True, caret="initial")
        found = self.page.evaluate(LAYOUT_PROBLEMS, [WIDTH, TOUCH_MIN_PX])
        self.problems += [f"{self.step:02d}-{label}: {problem}" for problem in found]

    def assert_within_screen(self, *locators):
        for locator in locators:
            expect(locator).to_be_visible()
            box = locator.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= WIDTH, f"{locator} is off the screen: {box}"


def test_manager_approves_an_order_on_a_phone(stack, settings, log_in, clerk, manager, customer, server):
    settings.ORDER_FULFILMENT_STEPS, settings.ORDER_FULFILMENT_STEP_SECONDS = 2, 0.2
    # Long words are what push a phone's page wide.
    customer.name = "Landesversorgungsgesellschaft Mecklenburg-Vorpommern"
    customer.email = "purchasing.department.north@landesversorgungsgesellschaft.example"
    customer.save()
    order = pending_order(clerk, customer, server)
    page = log_in(manager, **PHONE)
    assert page.evaluate("() => navigator.maxTouchPoints > 0 && matchMedia('(pointer: coarse)').matches"), "not a touch browser"
    journey = Journey(page)
    journey.check("orders")

    # The navigation is collapsed behind a "Menu" button; opening it shows every link and who is logged in.
    header = page.locator("header.topbar")
    menu = header.locator("summary", has_text="Menu")
    admin = header.get_by_role("link", name="Admin")
    who = header.get_by_text(manager.username, exact=True)
    log_out = header.get_by_role("button", name="Log out")
    expect(menu).to_be_visible()
    expect(admin).to_be_hidden()
    expect(log_out).to_be_hidden()
    menu.click()
    journey.assert_within_screen(menu, admin, who, log_out, header.get_by_role("link", name=re.compile("Approvals")))
    journey.check("menu-open")

    header.get_by_role("link", name=re.compile("Approvals")).click()
    page.wait_for_url(re.compile(r"/approvals/$"))
    expect(menu).to_be_visible()
    expect(admin).to_be_hidden()  # a new page starts with the menu closed
    inbox_row = page.locator("#inbox tbody tr", has_text=order.number)
    journey.assert_within_screen(
        inbox_row, inbox_row.get_by_role("link", name=order.number), page.get_by_role("button", name="Approve selected"),
    )
    journey.check("inbox")
    bulk_reject = page.locator("#bulk-form details").filter(has=page.locator("summary", has_text="Reject selected…"))
    bulk_reject.locator("summary").click()
    journey.assert_within_screen(bulk_reject.get_by_label("Reason"), bulk_reject.get_by_role("button", name="Reject selected"))
    journey.check("inbox-reject-open")
    bulk_reject.locator("summary").click()

    inbox_row.get_by_role("link", name=order.number).click()
    page.wait_for_url(re.compile(rf"/orders/{order.pk}/$"))
    panel = open_order(page, order)
    expect(panel.locator("#order-state")).to_have_text("Pending approval")
    journey.check("order-pending")

    reject = action_box(page, "Reject…")
    reject.locator("summary").click()
    journey.assert_within_screen(reject.get_by_label("Reason"), reject.get_by_role("button", name="Reject"))
    journey.check("reject-form-open")
    reject.locator("summary").click()  # changed my mind: close it again
    expect(reject.get_by_label("Reason")).to_be_hidden()

    comment, approve = panel.get_by_placeholder("Comment (optional)"), panel.get_by_role("button", name="Approve")
    journey.assert_within_screen(comment, approve)
    comment.fill("OK from my phone")
    journey.check("approve-filled")
    approve.tap()

    panel = page.locator("#live-panel")
    expect(panel).to_have_attribute("data-state", states.FULFILLED, timeout=15_000)
    expect(panel.locator("#order-state")).to_have_text("Fulfilled")
    expect(panel.locator(".decisions")).to_contain_text("Approved by manager: “OK from my phone”")
    journey.check("order-fulfilled")

    assert journey.problems == [], "\n".join(["at 390 px:", *journey.problems])
    assert csp_violations(page) == [], csp_violations(page)


def test_a_wide_screen_keeps_the_navigation_in_the_bar_without_a_menu(stack, log_in, manager):
    page = log_in(manager)  # the default desktop viewport
    header = page.locator("header.topbar")
    expect(header.locator("summary", has_text="Menu")).to_be_hidden()
    admin = header.get_by_role("link", name="Admin")
    who = header.get_by_text(manager.username, exact=True)
    log_out = header.get_by_role("button", name="Log out")
    for item in (admin, who, log_out):
        expect(item).to_be_visible()
    boxes = [header.get_by_role("link", name=name).bounding_box() for name in ("Orders", "Operations", "Admin")]
    assert len({round(box["y"]) for box in boxes}) == 1, f"the links are not in one row: {boxes}"
    header.get_by_role("link", name="Operations").click()
    page.wait_for_url(re.compile(r"/ops/$"))

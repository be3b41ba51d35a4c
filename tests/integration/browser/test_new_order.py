"""The new-order form in a real browser at a phone's width: search a customer among 10,000,
pick it, watch the total and the approval rule follow the quantities, submit. Temporal is
faked (the form never needs it; the workflow start after commit is recorded instead)."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from orders.models import Customer, Order, Product
from tests.integration.browser.chromium import CHROMIUM, HAVE_CHROMIUM
from tests.integration.browser.conftest import csp_violations

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),  # the live server reads what the test writes
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"no chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)"),
]

PHONE = {"width": 390, "height": 844}


def test_clerk_finds_a_customer_sees_total_and_policy_change_and_submits_at_390px(log_in, clerk, policies, fake_temporal):
    Customer.objects.bulk_create(
        [Customer(name=f"Customer {n:05d} Trading", email=f"buyer{n:05d}@shop.example") for n in range(9_999)]
        + [Customer(name="Zephyr Logistics", email="orders@zephyr.example")],
        batch_size=1000,
    )
    server = Product.objects.create(sku="SRV-1", name="Server", price=Decimal("1000.00"), stock_on_hand=20, stock_reserved=10)
    page = log_in(clerk)
    page.set_viewport_size(PHONE)
    page.goto("/orders/new/")
    expect(page.locator("select[name=customer]")).to_have_count(0)

    page.get_by_label("Find by name or email").press_sequentially("zeph", delay=30)
    zephyr = page.get_by_label(re.compile("Zephyr Logistics"))
    zephyr.check()
    page.get_by_label("Shipping address").fill("1 Harbour Road")
    page.get_by_label("Line 1 product").select_option(str(server.pk))
    quantity = page.locator("input[name=lines-0-quantity]")
    quantity.fill("12")
    quantity.press("Tab")  # the change event
    preview = page.locator("#order-preview")
    expect(preview.locator("#preview-total")).to_have_text("12,000.00 USD")
    expect(preview.locator("#preview-policy")).to_contain_text("Needs 2 approvals from different managers, at least one senior")
    expect(preview).to_contain_text("no warehouse holds 12")  # 10 of the 20 are reserved

    quantity.fill("2")
    quantity.press("Tab")
    expect(preview.locator("#preview-total")).to_have_text("2,000.00 USD")
    expect(preview.locator("#preview-policy")).to_contain_text("Needs a manager's decision")
    expect(preview).not_to_contain_text("no warehouse holds")

    # Nothing of the form is cut off or scrolls sideways at 390 px.
    overflow = page.evaluate("""() => [...document.querySelectorAll('form.new-order, form.new-order *')]
        .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5).map(el => el.tagName + '.' + el.className)""")
    assert overflow == [], overflow
    page.get_by_role("button", name="Submit order").click()
    page.wait_for_url(re.compile(r"/orders/\d+/$"))
    order = Order.objects.get()
    assert order.customer.name == "Zephyr Logistics" and order.total == Decimal("2000.00") and order.approvals_required == 1
    expect(page.locator(".messages")).to_contain_text(f"Order {order.number} submitted.")
    assert csp_violations(page) == [], csp_violations(page)

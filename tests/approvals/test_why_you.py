"""Why it needs you: the inbox row and the order page say what is ordered, the
priority, the service-level time left and one sentence on why this person is
asked; the e-mails carry the same sentence. The inbox costs the same queries
whatever its size."""
from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import approver_mail
from approvals.inbox_rows import why_you
from approvals.models import ApprovalDecision
from orders.models import OrderLine, Product
from temporal_bridge.approvals.messages import ApprovalRule, ApproverNoticeInput

pytestmark = pytest.mark.django_db

LARGE = ApprovalRule(policy_name="Large orders", approvals_required=2, requires_senior=True)
STANDARD = ApprovalRule(policy_name="Standard orders")


@pytest.mark.parametrize(("rule", "approved", "senior_approved", "senior", "sentence"), [
    (LARGE, 1, False, True,
     "Large orders: 2 approvals from different managers, at least one senior; you would fill the senior slot."),
    (LARGE, 0, False, False, "Large orders: 2 approvals from different managers, at least one senior; yours would be approval 1 of 2."),
    (LARGE, 1, True, False,
     "Large orders: 2 approvals from different managers, at least one senior; yours would be the last of the 2 approvals."),
    (STANDARD, 0, False, False, "Standard orders: a manager's decision; your decision settles it."),
    (ApprovalRule(approvals_required=1), 0, False, False, "A manager's decision; your decision settles it."),
])
def test_the_sentence_says_which_part_of_the_rule_this_person_fills(rule, approved, senior_approved, senior, sentence):
    assert why_you(rule, approved=approved, senior_approved=senior_approved, you_are_senior=senior) == sentence


def many_lines(make_order, widget, count: int, **fields):
    order = make_order(approval_rule=asdict(LARGE), approvals_required=2, requires_senior=True, **fields)
    for i in range(count - 1):
        product = Product.objects.create(sku=f"P-{order.pk}-{i}", name=f"Part {i}", price=widget.price, stock_on_hand=10)
        OrderLine.objects.create(order=order, product=product, quantity=1, unit_price=product.price)
    return order


def test_the_inbox_row_says_what_priority_service_level_and_why(client, senior, fake_temporal, make_order, widget):
    order = many_lines(make_order, widget, 4, priority="urgent")
    ApprovalDecision.objects.create(order=order, approver_username="manager", decision="approved", request_id="a-1")
    client.force_login(senior)
    html = client.get("/approvals/").content.decode()
    row = html.split(f">{order.number}</a>", 1)[1].split("</tr>", 1)[0]
    assert "3 × Widget, 1 × Part 0 and 2 more lines" in row
    assert "Urgent" in row
    assert "left</time>" in row  # the approval stage's service-level time left
    assert "Large orders: 2 approvals from different managers, at least one senior; you would fill the senior slot." in row


def test_an_order_past_its_service_level_says_so(client, manager, fake_temporal, make_order):
    order = make_order()
    type(order).objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(days=3))
    client.force_login(manager)
    row = client.get("/approvals/").content.decode().split(f">{order.number}</a>", 1)[1].split("</tr>", 1)[0]
    assert "Over target" in row


@pytest.mark.parametrize("size", [3, 30])
def test_the_inbox_costs_the_same_queries_whatever_its_size(client, manager, fake_temporal, make_order, widget, size):
    def queries_for(count: int) -> int:
        for _ in range(count):
            many_lines(make_order, widget, 3)
        client.force_login(manager)
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/approvals/").status_code == 200
        return len(captured)

    small = queries_for(size)
    assert queries_for(size) == small  # twice the orders, the same queries


def test_the_order_page_tells_the_approver_why_and_not_the_requester(client, senior, clerk, fake_temporal, make_order, widget):
    order = many_lines(make_order, widget, 1)
    client.force_login(senior)
    page = client.get(f"/orders/{order.pk}/").content.decode()
    assert 'id="why-you"' in page and "you would fill the senior slot" in page
    client.force_login(clerk)
    assert 'id="why-you"' not in client.get(f"/orders/{order.pk}/").content.decode()


def test_the_reminder_and_the_digest_carry_the_sentence(senior, manager, fake_temporal, make_order, widget):
    for user in (senior, manager):
        user.email = f"{user.username}@desk.example"
        user.save()
    order = many_lines(make_order, widget, 1)
    approver_mail.approvers_notify(ApproverNoticeInput(order_id=order.pk, kind="reminder", idempotency_key="r-1", requested_by="clerk",
                                                       still_needed="needs 2 more approvals"))
    approver_mail.digests_send(digest_date=date(2026, 3, 2))
    to_senior = [e.body for e in mail.outbox if e.to == ["senior@desk.example"]]
    assert len(to_senior) == 2
    assert all("you would fill the senior slot." in body and "3 × Widget" in body for body in to_senior)
    to_manager = [e.body for e in mail.outbox if e.to == ["manager@desk.example"]]
    assert all("yours would be approval 1 of 2." in body for body in to_manager)

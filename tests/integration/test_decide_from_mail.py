"""Deciding in the moment, end to end: a real Temporal dev server, a real
worker, Django, the database, and the e-mails in the outbox.

A policy of three approvals sends its reminder 36 s after submission (its shortest) (the
real workflow's timer and activity). manager approves from the link in that
e-mail, without signing in: the confirmation page first, then the POST; a
second click on the same link is refused and changes nothing. manager2
approves at the desk, then withdraws before the quorum: the count falls and
the decision stays on record, marked. The order completes with two more
approvals, one of them manager2's again, from their own link.
"""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client

from approvals.models import ApprovalDecision, ApprovalPolicy
from orders import services
from orders.models import Order, Product
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import states
from tests.integration.test_approvals import browser_for, decide
from tests.integration.test_lifecycle import finished, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LINK = re.compile(r"(Approve|Reject)[^:\n]*: http\S+?(/approvals/mail/\S+)")


def links_for(address: str) -> dict[str, str]:
    """The decision links of the newest e-mail to `address`: {"approve": path, "reject": path}."""
    email = [e for e in mail.outbox if e.to == [address]][-1]
    return {word.lower(): path for word, path in LINK.findall(email.body)}


def test_approve_from_the_mail_once_and_withdraw_before_the_quorum(stack, manager, manager2, senior, clerk, customer):
    ApprovalPolicy.objects.all().delete()
    ApprovalPolicy.objects.create(name="Three managers", approvals_required=3, remind_after_hours=Decimal("0.01"),
                                  expire_after_hours=Decimal("48"))
    for user in (manager, manager2, senior):
        user.email = f"{user.username}@desk.example"
        user.save()
    rack = Product.objects.create(sku="RACK-M", name="Rack", price=Decimal("5000.00"), stock_on_hand=20)
    order = services.order_submit(customer=customer, lines=[services.LineRequest(rack, 2)], created_by=clerk, shipping_address="1 Main St")

    # The reminder goes out 36 s after submission, with each approver's own links.
    wait_for(lambda: len({tuple(e.to) for e in mail.outbox}) == 3, timeout=90, what="the reminder to the three approvers")
    mine = links_for("manager@desk.example")
    assert set(mine) == {"approve", "reject"} and mine != links_for("manager2@desk.example")

    # manager, not signed in: the link shows the confirmation, the POST decides.
    phone = Client()
    page = phone.get(mine["approve"])
    assert page.status_code == 200 and f"Approve order {order.number}?" in page.content.decode()
    assert not ApprovalDecision.objects.filter(order=order).exists()  # opening it changed nothing
    done = phone.post(mine["approve"], {"comment": "From my phone"})
    assert done.status_code == 200 and "accepted by the order" in done.content.decode()
    wait_for(lambda: ApprovalDecision.objects.filter(order=order, approver_username="manager").exists(), what="manager's approval")

    # The same link again (a second click, a forwarded mail): refused, nothing sent.
    again = phone.post(mine["approve"], {"comment": "again"})
    assert again.status_code == 410 and "already used" in again.content.decode()
    assert order_calls.query_order(order.pk).approval.approved_by == ["manager"]

    # manager2 approves at the desk, then takes it back before the quorum.
    as_manager2 = browser_for(manager2)
    assert decide(as_manager2, order, "mail-it-m2-0001").status_code == 200
    wait_for(lambda: order_calls.query_order(order.pk).approval.approved == 2, what="2 of 3")
    withdrawn = as_manager2.post(f"/orders/{order.pk}/withdraw-approval/",
                                 {"withdraw-request_id": "mail-it-m2-0002", "withdraw-reason": "Wrong rack size"},
                                 HTTP_HX_REQUEST="true")
    assert withdrawn.status_code == 200, withdrawn.content.decode()
    live = order_calls.query_order(order.pk)
    assert (live.state, live.approval.approved_by) == (states.PENDING_APPROVAL, ["manager"])
    assert "Approval by manager2 withdrawn: Wrong rack size; 1 of 3 approvals, needs 2 more approvals" in [e.message for e in live.timeline]
    wait_for(lambda: ApprovalDecision.objects.filter(order=order, approver_username="manager2", withdrawn_at__isnull=False).exists(),
             what="the withdrawal mirrored")
    page = as_manager2.get(f"/orders/{order.pk}/").content.decode()
    assert "withdrawn" in page and 'id="withdraw-box"' not in page

    # senior from their link, manager2 again at the desk: the quorum, and the order goes on.
    senior_links = links_for("senior@desk.example")
    assert Client().post(senior_links["approve"], {"comment": ""}).status_code == 200
    wait_for(lambda: order_calls.query_order(order.pk).approval.approved == 2, what="senior's approval")
    assert decide(as_manager2, order, "mail-it-m2-0003", comment="Right size now").status_code == 200
    final = finished(order.pk)
    assert final.state == states.FULFILLED
    assert final.approval.approved_by == ["manager", "senior", "manager2"]
    assert [(d.actor, d.withdrawn) for d in final.decisions] == [
        ("manager", False), ("manager2", True), ("senior", False), ("manager2", False)]
    # Too late now: refused with the reason, by the desk.
    Order.objects.filter(pk=order.pk).update(status=states.FULFILLED)
    late = as_manager2.post(f"/orders/{order.pk}/withdraw-approval/",
                            {"withdraw-request_id": "mail-it-m2-0004", "withdraw-reason": "late"}, HTTP_HX_REQUEST="true")
    assert late.status_code == 409 and "the quorum was met and the order has moved on" in late.content.decode()


"""Delegation end to end: a real Temporal dev server, a real
worker, Django and the database the identity check reads.

`senior` is out of office and names `manager`, who is not senior, as
substitute on the page. manager's inbox shows senior's orders, manager's
approval counts "on behalf of senior" for both of them, and cannot fill the
senior slot (refused in the view, and by the workflow when the view is
bypassed). Once senior ends the delegation early, the workflow's identity
check refuses a decision on senior's behalf: the database, not the message,
says whether a delegation stands.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from approvals.models import ApprovalDecision, Delegation
from orders import roles, services
from orders.models import Order, Product
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from tests.conftest import make_user
from tests.integration.test_approvals import browser_for, decide, notes, recorded_signal
from tests.integration.test_lifecycle import finished, wait_for, waiting_for_decision

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def on_behalf_signal(order: Order, actor: str, delegator: str, request_id: str) -> None:
    """A decision recorded past the view's checks (a stale page): the workflow is the second line."""
    recorded_signal(order, m.SIGNAL_APPROVE, m.DecisionSignal(actor=actor, request_id=request_id, on_behalf_of=delegator))


def test_a_substitute_decides_on_behalf_counts_once_cannot_fill_a_senior_slot_and_loses_the_right_when_it_ends(
        stack, policies, clerk, manager, manager2, senior, customer):
    senior2 = make_user("senior2", roles.MANAGERS, roles.SENIOR_MANAGERS)
    rack = Product.objects.create(sku="RACK-D", name="Rack", price=Decimal("5000.00"), stock_on_hand=50)

    def large_order() -> Order:
        order = services.order_submit(customer=customer, lines=[services.LineRequest(rack, 10)], created_by=clerk,
                                      shipping_address="1 Main St")
        waiting_for_decision(order.pk)
        return Order.objects.get(pk=order.pk)

    first, second = large_order(), large_order()

    # senior names manager on the out-of-office page.
    as_senior, as_manager = browser_for(senior), browser_for(manager)
    today = timezone.localdate()
    named = as_senior.post("/approvals/out-of-office/", {"substitute": "manager", "first_day": today, "last_day": today})
    assert named.status_code == 302
    delegation = Delegation.objects.get(delegator=senior)

    inbox = as_manager.get("/approvals/").content.decode()
    behalf = inbox.split('class="on-behalf-inbox"', 1)[1]
    assert "On behalf of senior" in behalf and first.number in behalf and second.number in behalf

    # manager approves the first on behalf of senior: accepted by the workflow, counted as not senior.
    assert decide(as_manager, first, "dl-first-00001", on_behalf_of="senior").status_code == 200
    wait_for(lambda: ApprovalDecision.objects.filter(order=first).exists(), what="the approval mirrored")
    decision = ApprovalDecision.objects.get(order=first)
    assert (decision.approver_username, decision.on_behalf_of_username, decision.senior) == ("manager", "senior", False)
    live = order_calls.query_order(first.pk)
    assert live.approval.approved_by == ["manager"] and live.approval.still_needed == "needs a senior approver (1 more approval)"

    # Both people counted: senior (back early) gets a 403, and past the view the workflow ignores it.
    response = decide(as_senior, first, "dl-first-00002")
    assert response.status_code == 403 and b"one person counts once" in response.content
    recorded_signal(first, m.SIGNAL_APPROVE, m.DecisionSignal(actor="senior", request_id="dl-first-00003"))
    wait_for(lambda: "Approval by senior ignored: manager already approved on behalf of senior; one person counts once" in notes(first.pk),
             what="the delegator's repeat noted")

    # The refused senior slot: manager2 approved the second; manager, standing in
    # for a senior, is still not senior.
    assert decide(browser_for(manager2), second, "dl-second-0001").status_code == 200
    wait_for(lambda: ApprovalDecision.objects.filter(order=second).exists(), what="manager2's approval mirrored")
    response = decide(as_manager, second, "dl-second-0002", on_behalf_of="senior")
    assert response.status_code == 403 and b"The remaining approval must come from a senior approver." in response.content
    on_behalf_signal(second, "manager", "senior", "dl-second-0003")
    wait_for(lambda: "Approval by manager on behalf of senior ignored: the remaining approval must come from a senior approver"
             in notes(second.pk), what="the senior slot refused by the workflow")
    assert order_calls.query_order(second.pk).approval.approved == 1

    # senior ends the delegation early: the next decision on their behalf is refused by the database.
    ended = as_senior.post(f"/approvals/out-of-office/{delegation.pk}/end/")
    assert ended.status_code == 302
    third = large_order()
    response = decide(as_manager, third, "dl-third-00001", on_behalf_of="senior")
    assert response.status_code == 403 and b"No delegation to you from that person stands now" in response.content
    on_behalf_signal(third, "manager", "senior", "dl-third-00002")
    wait_for(lambda: "Approval by manager on behalf of senior refused: no delegation from senior to manager stands now" in notes(third.pk),
             what="the ended delegation refused by the identity check")
    assert "On behalf of senior" not in as_manager.get("/approvals/").content.decode()

    # The orders complete with real senior approvals.
    assert decide(browser_for(senior2), first, "dl-first-00004").status_code == 200
    assert decide(as_senior, second, "dl-second-0004").status_code == 200
    assert finished(first.pk).state == finished(second.pk).state == states.FULFILLED
    final = finished(first.pk)
    assert [(d.actor, d.on_behalf_of, d.senior) for d in final.decisions] == [("manager", "senior", False), ("senior2", "", True)]
    assert "Approval 1 of 2 by manager on behalf of senior" in " ".join(e.message for e in final.timeline)
    page = as_manager.get(f"/orders/{first.pk}/").content.decode()
    assert "by manager on behalf of senior" in page
    recorded_signal(third, m.SIGNAL_CANCEL, m.CancelSignal(actor="manager", request_id="dl-third-00003", reason="test over"))
    assert finished(third.pk).state == states.CANCELLED

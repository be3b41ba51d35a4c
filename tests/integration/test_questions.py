"""Questions before deciding end to end: a real Temporal dev server,
a real worker with the real activities, Django and the database.

manager asks the requester through the page; the workflow checks manager
against the database, the activity writes the question and emails clerk,
and the mirror marks the order as waiting on its requester, so nobody can
approve it meanwhile. clerk answers, raising its priority: the answer and the
edit are on the timeline, the question is closed, and manager's approval
then counts. A comment sent past the view by someone outside the order is
refused by the workflow's identity check, from the database's rules.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail

from orders import services
from orders.models import Order, Product
from orders.timeline.models import OrderEvent
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import discussion
from temporal_bridge.order import messages as m
from temporal_bridge.order.discussion import CommentSignal
from tests.integration.test_approvals import browser_for, recorded_signal
from tests.integration.test_lifecycle import wait_for, waiting_for_decision

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def kinds(order: Order) -> list[str]:
    return list(OrderEvent.objects.filter(order=order).order_by("created_at", "id").values_list("kind", flat=True))


def test_a_question_holds_the_order_for_its_requester_and_the_answer_gives_it_back(stack, policies, clerk, manager, outsider, customer):
    for user in (clerk, manager):
        user.email = f"{user.username}@desk.example"
        user.save(update_fields=["email"])
    shelf = Product.objects.create(sku="SHELF-Q", name="Shelf", price=Decimal("1000.00"), stock_on_hand=20)
    order = services.order_submit(customer=customer, lines=[services.LineRequest(shelf, 2)], created_by=clerk, shipping_address="1 Main St")
    waiting_for_decision(order.pk)
    as_manager, as_clerk = browser_for(manager), browser_for(clerk)

    asked = as_manager.post(f"/orders/{order.pk}/ask/", {"ask-question": "Which dock?", "ask-request_id": "qa-ask-000001"},
                            HTTP_HX_REQUEST="true")
    assert asked.status_code == 200, asked.content.decode()[:500]
    wait_for(lambda: Order.objects.get(pk=order.pk).awaiting_answer, what="the question mirrored")
    assert OrderEvent.objects.get(order=order, kind="question").message == discussion.discussion_text("question", "manager", "Which dock?")
    wait_for(lambda: any(e.to == ["clerk@desk.example"] for e in mail.outbox), what="the question emailed to clerk")
    live = order_calls.query_order(order.pk)
    assert (live.open_question, live.question_by) == ("Which dock?", "manager")

    # Nobody decides while the requester is asked: the inbox shows it apart, the workflow refuses an approval.
    inbox = as_manager.get("/approvals/").content.decode()
    assert order.number in inbox.split('id="waiting-on-requester"', 1)[1]
    refused = as_manager.post(f"/orders/{order.pk}/approve/", {"request_id": "qa-approve-0001"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 409

    answered = as_clerk.post(f"/orders/{order.pk}/answer/", {
        "answer-answer": "Dock 4, and it is urgent.", "answer-priority": "urgent", "answer-request_id": "qa-answer-00001",
    }, HTTP_HX_REQUEST="true")
    assert answered.status_code == 200, answered.content.decode()[:500]
    wait_for(lambda: not Order.objects.get(pk=order.pk).awaiting_answer, what="the answer mirrored")
    wait_for(lambda: Order.objects.get(pk=order.pk).priority == "urgent", what="the answer's edit applied")
    assert kinds(order).count("answer") == 1 and "update" in kinds(order)
    wait_for(lambda: any(e.to == ["manager@desk.example"] for e in mail.outbox), what="the answer emailed to manager")

    # Recorded past the view's checks (a stale page), someone outside the order:
    # the workflow asks the database and refuses.
    recorded_signal(order, discussion.SIGNAL_COMMENT, CommentSignal(actor=outsider.username, request_id="qa-comment-0001", text="hi"))
    verdict = order_calls.request_verdict(order.pk, "qa-comment-0001", wait=20)
    assert verdict.status == m.VERDICT_REFUSED and "Only the order's requester and its approvers can comment on it." in verdict.reason

    approved = as_manager.post(f"/orders/{order.pk}/approve/", {"request_id": "qa-approve-0002"}, HTTP_HX_REQUEST="true")
    assert approved.status_code == 200, approved.content.decode()[:500]

"""Who may comment, ask the requester, or answer: the workflow's identity check
(verify_actor, from the database) and the page's check give the same answers."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.identity import actor_verify
from approvals.models import ApprovalDecision, Delegation
from orders import roles
from orders.timeline.models import OrderEvent
from temporal_bridge.contract.intents import ActorCheckInput, ActorCheckResult
from temporal_bridge.order import discussion
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def verify(order, actor: str, action: str, on_behalf_of: str = "") -> ActorCheckResult:
    return actor_verify(ActorCheckInput(order_id=order.pk, actor=actor, action=action, on_behalf_of=on_behalf_of))


def allowed(order, actor: str, action: str) -> bool:
    return verify(order, actor, action).allowed


def test_comments_come_from_the_requester_approvers_and_seniors_only(make_order, clerk, manager, senior, outsider):
    order = make_order()
    other_clerk = make_user("clerk2", roles.CLERKS)
    assert [allowed(order, who, "comment") for who in ("clerk", "manager", "senior")] == [True, True, True]
    assert not allowed(order, other_clerk.username, "comment")
    refused = verify(order, outsider.username, "comment")
    assert not refused.allowed and refused.reason == "Only the order's requester and its approvers can comment on it."


def test_only_an_approver_still_to_decide_may_ask_the_requester(make_order, clerk, manager, manager2):
    order = make_order()
    assert allowed(order, "manager", "ask") and allowed(order, "manager", "ask_requester")
    assert verify(order, "clerk", "ask").reason == "Only approvers can ask the requester a question."
    own = make_order(created_by=manager)
    assert verify(own, "manager", "ask").reason == "You created this order; there is nobody to send it back to."
    ApprovalDecision.objects.create(order=order, approver_username="manager2", decision="approved", request_id="r-manager2")
    assert not allowed(order, "manager2", "ask")


def test_a_substitute_who_decided_may_still_ask_for_the_manager_they_stand_in_for(make_order, manager, manager2):
    order = make_order()
    ApprovalDecision.objects.create(order=order, approver_username="manager2", decision="approved", request_id="r-manager2")
    assert not allowed(order, "manager2", "ask")
    now = timezone.now()
    Delegation.objects.create(delegator=manager, substitute=manager2, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1),
                              created_by=manager)
    assert allowed(order, "manager2", "ask")


def test_the_answer_comes_from_the_requester_or_a_clerk_never_from_whoever_asked(make_order, clerk, manager, manager2, outsider):
    order = make_order(awaiting_answer=True)
    OrderEvent.objects.create(order=order, kind="question", message=discussion.discussion_text("question", "manager", "?"), actor="manager",
                              idempotency_key="0002-question")
    make_user("clerk2", roles.CLERKS)
    assert allowed(order, "clerk", "answer") and allowed(order, "clerk2", "answer") and allowed(order, "manager2", "answer")
    assert verify(order, "manager", "answer").reason == "You asked this question; its answer must come from the requester's side."
    assert not allowed(order, outsider.username, "answer")


def test_nothing_of_the_discussion_is_done_on_someones_behalf(make_order, manager):
    result = verify(make_order(), "manager", "comment", on_behalf_of="manager2")
    assert not result.allowed and "only approvals and rejections" in result.reason


def test_unknown_people_and_inactive_accounts_are_refused(make_order, manager):
    order = make_order()
    assert verify(order, "nobody", "comment").reason == "nobody is not a user of the desk"
    manager.is_active = False
    manager.save()
    assert verify(order, "manager", "ask").reason == "manager's account is inactive"

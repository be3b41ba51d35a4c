"""Who may comment on an order, ask its requester a question, or answer one.

One set of rules for both checks: the view's (a clear 403 at once) and the
workflow's (`approvals.identity.actor_verify`, which asks the database
before a comment, a question or an answer counts, whatever the message
claims).

- comment: the order's requester, anyone who may approve orders, seniors;
- ask: who may still decide on the order (their own decision not yet
  taken, not their own order), or who holds, under a delegation standing
  now, the work of someone who may;
- answer: the order's requester, or a clerk who may change orders.
"""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from approvals import selectors
from approvals.delegation import services as delegations
from orders.models import Order
from orders.timeline.models import OrderEvent

COMMENT, ASK, ANSWER = "comment", "ask", "answer"
# The names the workflow may check an action under: the signal's and the page's.
ACTIONS = {COMMENT: COMMENT, ASK: ASK, "ask_requester": ASK, ANSWER: ANSWER}
CHANGE_PERMISSION = "orders.change_order"


def refusal(action: str, *, order: Order, user: AbstractBaseUser) -> str | None:
    """Why `user` may not take `action` on `order` now (None: they may)."""
    action = ACTIONS.get(action, "")
    if not user.is_active:
        return f"{user.get_username()}'s account is inactive."
    if action == COMMENT:
        if order.created_by_id == user.pk or user.has_perm(selectors.APPROVE_PERMISSION) or selectors.is_senior(user):
            return None
        return "Only the order's requester and its approvers can comment on it."
    if action == ASK:
        return _ask_refusal(order, user)
    if action == ANSWER:
        if order.created_by_id != user.pk and not user.has_perm(CHANGE_PERMISSION):
            return "Only the order's requester (or a clerk who may change orders) can answer its question."
        if order.created_by_id != user.pk and asked_by(order) == user.get_username():
            return "You asked this question; its answer must come from the requester's side."
        return None
    return "That is not something a person can do on an order."


def _ask_refusal(order: Order, user: AbstractBaseUser) -> str | None:
    if not user.has_perm(selectors.APPROVE_PERMISSION):
        return "Only approvers can ask the requester a question."
    if order.created_by_id == user.pk:
        return "You created this order; there is nobody to send it back to."
    if not selectors.has_decided(order, user):
        return None
    # Already decided themselves: they may still ask for a delegator whose decision is outstanding.
    for delegation in delegations.standing_for(user):
        name = delegation.delegator.get_username()
        if delegations.on_behalf_refusal(order=order, user=user, delegator_username=name) is None:
            return None
    return "You have already decided on this order; only approvers still to decide can ask its requester."


def asked_by(order: Order) -> str:
    """Who asked the question open on `order` ("" when none is)."""
    if not order.awaiting_answer:
        return ""
    latest = OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.QUESTION).order_by("-created_at", "-id")
    return latest.values_list("actor", flat=True).first() or ""

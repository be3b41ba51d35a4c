"""Approval decisions: the checks made before a decision reaches the workflow,
and the record written once the workflow has accepted it.

Every rule is enforced twice: here (so the person gets a clear 403/4xx at
once) and in the workflow (so no other path, e.g. a raw signal, bypasses it).
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction

from approvals.models import ApprovalDecision
from orders.exceptions import ActionNotAllowed, OrderError
from orders.models import Order
from orders.services import order_signal
from temporal_bridge import messages as m
from temporal_bridge import states

APPROVE = ApprovalDecision.Decision.APPROVED
REJECT = ApprovalDecision.Decision.REJECTED


def approval_check_eligible(*, order: Order, user: AbstractBaseUser) -> None:
    """Raise PermissionDenied unless `user` may decide on `order`."""
    if not user.has_perm("orders.approve_order"):
        raise PermissionDenied("You are not allowed to approve or reject orders.")
    if order.created_by_id == user.pk:
        raise PermissionDenied("You cannot decide on an order you created.")


def approval_decide(*, order: Order, user: AbstractBaseUser, decision: str, comment: str, request_id: str) -> None:
    """Send an approve or reject decision to the order's workflow."""
    approval_check_eligible(order=order, user=user)
    if decision not in (APPROVE, REJECT):
        raise OrderError(f"Unknown decision {decision!r}.")
    comment = comment.strip()
    if decision == REJECT and not comment:
        raise OrderError("A reason is required to reject an order.")
    if order.status != states.PENDING_APPROVAL:
        raise ActionNotAllowed(f"Order {order.number} is {order.get_status_display().lower()}; it is no longer awaiting approval.")
    signal = m.SIGNAL_APPROVE if decision == APPROVE else m.SIGNAL_REJECT
    order_signal(order, signal, m.DecisionSignal(actor=user.get_username(), request_id=request_id, comment=comment))


@transaction.atomic
def decision_record(decision: m.DecisionInput) -> bool:
    """Mirror a decision the workflow accepted. False if already recorded."""
    approver = get_user_model().objects.filter(username=decision.actor).first()
    _, created = ApprovalDecision.objects.get_or_create(
        request_id=decision.request_id,
        defaults={
            "order_id": decision.order_id, "approver": approver, "approver_username": decision.actor,
            "decision": decision.decision, "comment": decision.comment,
        },
    )
    return created

"""Approval decisions: the checks made before a decision reaches the workflow,
the records written once the workflow has accepted it, and bulk decisions.
The e-mails to approvers are approvals.approver_mail's.

Every rule is enforced twice: here (so the person gets a clear 403/4xx at
once) and in the workflow (so no other path, e.g. a raw signal or a stale
page, bypasses it). Here the rules read the database mirror; the workflow
applies the same arithmetic (temporal_bridge.approvals.rules) to its own state.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from approvals import selectors
from approvals.delegation import services as delegations
from approvals.models import ApprovalDecision, AuditExport
from orders.exceptions import ActionNotAllowed, OrderError, WorkflowUnavailable
from orders.models import Order
from orders.services import order_apply_update, order_signal
from orders.timeline import mirror
from temporal_bridge.approvals import calls as approval_calls
from temporal_bridge.approvals import messages as approval
from temporal_bridge.approvals.messages import BulkDecisionInput, BulkOrderRequest, BulkOrderResult
from temporal_bridge.client.bridge import TemporalUnavailable
from temporal_bridge.order import holds, states, withdrawal
from temporal_bridge.order import messages as m
from temporal_bridge.order.records import DecisionInput

log = logging.getLogger(__name__)

APPROVE = ApprovalDecision.Decision.APPROVED
REJECT = ApprovalDecision.Decision.REJECTED
MAX_BULK_ORDERS = 200
# A batch runs in the background (an activity of up to 30 s): it can wait
# longer than a person's POST for each order's verdict.
BULK_VERDICT_WAIT = 15.0


def approval_check_eligible(*, order: Order, user: AbstractBaseUser, decision: str | None = None, on_behalf_of: str = "") -> None:
    """Raise PermissionDenied unless `user` may take `decision` (either, if None) on `order`,
    for themselves or, with `on_behalf_of`, under a delegation standing now."""
    reason = _refusal(order, user, on_behalf_of)
    if reason is None and decision == APPROVE:
        reason = _senior_refusal(order, user)
    if reason is not None:
        raise PermissionDenied(reason)


def approval_decisions_allowed(*, order: Order, user: AbstractBaseUser, on_behalf_of: str = "") -> set[str]:
    """The decisions `user` may take on `order` (for the buttons), by the same rules."""
    if _refusal(order, user, on_behalf_of) is not None:
        return set()
    return {REJECT} if _senior_refusal(order, user) else {APPROVE, REJECT}


def _refusal(order: Order, user: AbstractBaseUser, on_behalf_of: str = "") -> str | None:
    if not user.has_perm(selectors.APPROVE_PERMISSION):
        return "You are not allowed to approve or reject orders."
    if order.created_by_id == user.pk:
        return "You cannot decide on an order you created."
    if selectors.has_decided(order, user):
        return "You have already decided on this order; one person counts once."
    if on_behalf_of:
        return delegations.on_behalf_refusal(order=order, user=user, delegator_username=on_behalf_of)
    return None


def _senior_refusal(order: Order, user: AbstractBaseUser) -> str | None:
    if not selectors.is_senior(user) and selectors.senior_slot_only(order):
        return "The remaining approval must come from a senior approver."
    return None


def approval_decide(
    *, order: Order, user: AbstractBaseUser, decision: str, comment: str, request_id: str, verdict_wait: float | None = None,
    on_behalf_of: str = "",
) -> m.RequestVerdict:
    """Send an approve or reject decision to the order's workflow; return its verdict.

    With `on_behalf_of`, `user` decides as the substitute of that person (a
    delegation must stand now, here and again when the workflow checks it).
    """
    if decision not in (APPROVE, REJECT):
        raise OrderError(f"Unknown decision {decision!r}.")
    comment = comment.strip()

    def authorise() -> None:
        approval_check_eligible(order=order, user=user, decision=decision, on_behalf_of=on_behalf_of)
        if decision == REJECT and not comment:
            raise OrderError("A reason is required to reject an order.")
        if order.status != states.PENDING_APPROVAL:
            raise ActionNotAllowed(f"Order {order.number} is {order.get_status_display().lower()}; it is no longer awaiting approval.")

    signal = m.SIGNAL_APPROVE if decision == APPROVE else m.SIGNAL_REJECT
    payload = m.DecisionSignal(actor=user.get_username(), request_id=request_id, comment=comment, on_behalf_of=on_behalf_of)
    return order_signal(order, signal, payload, authorise=authorise, verdict_wait=verdict_wait)


def approval_withdraw_refusal(*, order: Order, user: AbstractBaseUser) -> str | None:
    """Why `user` may not withdraw an approval of `order` (None: they may), by the mirror; the workflow checks again."""
    if not user.has_perm(selectors.APPROVE_PERMISSION):
        return "You are not allowed to approve or reject orders."
    if not selectors.counting_decisions().filter(order=order, approver_username=user.get_username(), on_behalf_of_username="",
                                                 decision=APPROVE).exists():
        return "You have no approval on this order that counts; there is nothing to withdraw."
    if order.status != states.PENDING_APPROVAL:
        return (f"Order {order.number} is {order.get_status_display().lower()}: the quorum was met and the order has moved on; "
                "an approval can only be withdrawn while the order still waits for more.")
    return None


def approval_withdraw(*, order: Order, user: AbstractBaseUser, reason: str, request_id: str,
                      verdict_wait: float | None = None) -> m.RequestVerdict:
    """Take back `user`'s own approval while `order` still waits for more; the workflow's verdict.

    A person's message like a decision: checked here, recorded as an intent,
    signalled; the workflow refuses it if the quorum was met in the meantime.
    """
    reason = reason.strip()

    def authorise() -> None:
        refusal = approval_withdraw_refusal(order=order, user=user)
        if refusal is not None:
            raise (ActionNotAllowed(refusal) if order.status != states.PENDING_APPROVAL else PermissionDenied(refusal))
        if not reason:
            raise OrderError("A reason is required to withdraw an approval.")

    payload = m.DecisionSignal(actor=user.get_username(), request_id=request_id, comment=reason)
    return order_signal(order, withdrawal.SIGNAL_WITHDRAW_APPROVAL, payload, authorise=authorise, verdict_wait=verdict_wait)


def hold_release_refusal(*, order: Order, user: AbstractBaseUser) -> str | None:
    """Why `user` may not release `order`'s fraud hold (None: they may), by the approvers' rules."""
    if order.hold_stage == holds.STAGE_CREDIT:
        return "Finance ends a credit review: they raise the customer's credit limit or cancel the order."
    if not user.has_perm(selectors.APPROVE_PERMISSION):
        return "You are not allowed to release holds on orders."
    if order.created_by_id == user.pk:
        return "You cannot release the hold on an order you created."
    return None


def hold_release(
    *, order: Order, user: AbstractBaseUser, comment: str, request_id: str, verdict_wait: float | None = None,
) -> m.RequestVerdict:
    """Release a fraud hold: a manager judged the provider's alert and lets the order go on.

    The same path as a decision: checked here, signalled with the acting user
    and request id, answered with the workflow's verdict (which checks again).
    Cancelling instead is the ordinary cancel, which refunds.
    """
    def authorise() -> None:
        refusal = hold_release_refusal(order=order, user=user)
        if refusal is not None:
            raise PermissionDenied(refusal)
        if order.status != states.ON_HOLD:
            raise ActionNotAllowed(f"Order {order.number} is {order.get_status_display().lower()}; it is not on hold.")

    payload = m.DecisionSignal(actor=user.get_username(), request_id=request_id, comment=comment.strip())
    return order_signal(order, holds.SIGNAL_RELEASE_HOLD, payload, authorise=authorise, verdict_wait=verdict_wait)


@transaction.atomic
def decision_record(decision: DecisionInput) -> bool:
    """Mirror a decision the workflow accepted, with its timeline entries. False if already recorded."""
    if decision.decision == withdrawal.WITHDRAWN:
        # The approval stays on record, marked; it no longer counts.
        marked = ApprovalDecision.objects.filter(order_id=decision.order_id, request_id=decision.withdraws, withdrawn_at__isnull=True)
        changed = marked.update(withdrawn_at=timezone.now(), withdrawal_reason=decision.comment)
        mirror.order_record_entries(decision.entries)
        return changed > 0
    approver = get_user_model().objects.filter(username=decision.actor).first()
    _, created = ApprovalDecision.objects.get_or_create(
        order_id=decision.order_id, request_id=decision.request_id,
        defaults={
            "approver": approver, "approver_username": decision.actor, "on_behalf_of_username": decision.on_behalf_of,
            "decision": decision.decision, "comment": decision.comment, "senior": decision.senior,
        },
    )
    mirror.order_record_entries(decision.entries)
    return created


@transaction.atomic
def order_update_record(update: m.UpdateInput) -> None:
    """An update the workflow accepted, recorded in one transaction: the order's
    fields and timeline (orders.services), and, when the change sends the order
    back for approval, the decisions given so far marked superseded."""
    order_apply_update(update)
    if update.reapproval:
        ApprovalDecision.objects.filter(order_id=update.order_id).update(superseded=True)


# --- Bulk decisions ------------------------------------------------------------------------


def bulk_decision_start(
    *, user: AbstractBaseUser, order_ids: Sequence[int], decision: str, comment: str, batch_id: str,
) -> str:
    """Start a durable batch that sends `decision` on each order; returns the batch id.

    The batch runs in Temporal (BulkDecisionWorkflow): once started, a web
    process dying loses nothing. Each order's decision is checked again when
    it is sent, and refusals are reported per order. Submitting the same
    batch id twice starts one batch.
    """
    if not user.has_perm(selectors.APPROVE_PERMISSION):
        raise PermissionDenied("You are not allowed to approve or reject orders.")
    if decision not in (APPROVE, REJECT):
        raise OrderError(f"Unknown decision {decision!r}.")
    comment = comment.strip()
    if decision == REJECT and not comment:
        raise OrderError("A reason is required to reject orders.")
    ids = list(dict.fromkeys(int(i) for i in order_ids))
    if not ids:
        raise OrderError("Select at least one order.")
    if len(ids) > MAX_BULK_ORDERS:
        raise OrderError(f"Select at most {MAX_BULK_ORDERS} orders at a time.")
    known = set(Order.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if missing := [i for i in ids if i not in known]:
        raise OrderError(f"Unknown order id(s): {', '.join(map(str, missing))}.")
    try:
        approval_calls.start_bulk_decision(BulkDecisionInput(
            batch_id=batch_id, actor=user.get_username(), decision=decision, comment=comment, order_ids=ids,
        ))
    except TemporalUnavailable as err:
        raise WorkflowUnavailable("The workflow service is unavailable; no decision was sent. Try again shortly.") from err
    return batch_id


def bulk_send_one(request: BulkOrderRequest) -> BulkOrderResult:
    """Send one order's decision of a batch, with the same checks as a single POST."""
    order = Order.objects.select_related("created_by").filter(pk=request.order_id).first()
    if order is None:
        return BulkOrderResult(request.order_id, f"#{request.order_id}", approval.BULK_REFUSED, "The order does not exist.")
    number = order.number or f"#{order.pk}"
    # A retry after the signal went out: the workflow has it already.
    if ApprovalDecision.objects.filter(order=order, request_id=request.request_id).exists():
        return BulkOrderResult(order.pk, number, approval.BULK_SENT, "Recorded by the order's workflow.")
    user = get_user_model().objects.filter(username=request.actor, is_active=True).first()
    if user is None:
        return BulkOrderResult(order.pk, number, approval.BULK_REFUSED, f"User {request.actor} no longer exists or is inactive.")
    try:
        verdict = approval_decide(order=order, user=user, decision=request.decision, comment=request.comment,
                                  request_id=request.request_id, verdict_wait=BULK_VERDICT_WAIT)
    except WorkflowUnavailable:
        raise  # transient: the activity is retried
    except PermissionDenied as err:
        return BulkOrderResult(order.pk, number, approval.BULK_REFUSED, str(err) or "Not allowed.")
    except OrderError as err:
        return BulkOrderResult(order.pk, number, approval.BULK_REFUSED, err.message)
    verb = "Approval" if request.decision == APPROVE else "Rejection"
    # "Sent" only for what the workflow accepted (and so records).
    if verdict.status == m.VERDICT_ACCEPTED:
        return BulkOrderResult(order.pk, number, approval.BULK_SENT, f"{verb} accepted by the order's workflow.")
    if verdict.status == m.VERDICT_REFUSED:
        return BulkOrderResult(order.pk, number, approval.BULK_REFUSED, f"Refused by the order's workflow: {verdict.reason}")
    return BulkOrderResult(order.pk, number, approval.BULK_QUEUED, f"{verb} queued: {verdict_text(verdict)}")


def verdict_text(verdict: m.RequestVerdict) -> str:
    """The workflow's verdict on a request, in words for the page that sent it."""
    if verdict.status == m.VERDICT_ACCEPTED:
        return "accepted by the order's workflow"
    if verdict.status == m.VERDICT_REFUSED:
        return f"refused by the order's workflow: {verdict.reason}"
    if verdict.status == m.VERDICT_CHECKING:
        return "received; the order's workflow is still checking it and will apply or refuse it shortly"
    return "no worker has processed it yet; it will be applied, or refused with its reason, when workers return"


# --- The audit export's own record -----------------------------------------------------------


def audit_export_record(*, user: AbstractBaseUser, records: str, fmt: str, filters: dict[str, str]) -> AuditExport:
    """Note an export before its first byte leaves, so even an interrupted one is on record."""
    return AuditExport.objects.create(user=user, username=user.get_username(), records=records, format=fmt, filters=filters)


def audit_export_complete(*, export_id: int, row_count: int) -> None:
    """The whole file went out: how many rows, and when it finished."""
    AuditExport.objects.filter(pk=export_id).update(row_count=row_count, completed_at=timezone.now())

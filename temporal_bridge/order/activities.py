"""Activities: thin adapters from the workflow to the services.

Each takes one dataclass of ids, calls one service and returns one dataclass.
They are plain `def` functions run on the worker's thread pool, so the ORM is
used normally (never from the event loop). Stale database connections are
closed before and after each run, because a long-lived worker has no request
cycle to do it. Business errors become non-retryable ApplicationErrors.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import transaction
from temporalio import activity
from temporalio.exceptions import ApplicationError

from approvals import identity
from approvals import services as approval_services
from approvals.discussion import notices as discussion_notices
from approvals.models import ApprovalDecision
from orders import steps
from orders.holds import breaker
from orders.holds import services as holds
from orders.inventory import decisions as inventory_decisions
from orders.payments import services as payments
from orders.payments.models import PaymentTransaction
from orders.timeline import mirror
from orders.webhooks import services as webhooks
from temporal_bridge.contract.db_activity import db_activity
from temporal_bridge.contract.intents import ACT_CONFIRM_MESSAGES, MessageChecks, MessageConfirmations
from temporal_bridge.order import discussion, fulfilment, stock_decisions
from temporal_bridge.order import holds as hold
from temporal_bridge.order import messages as m
from temporal_bridge.order import payments as payments_messages
from temporal_bridge.order.discussion import DiscussionNotice, DiscussionResult
from temporal_bridge.order.fulfilment import (
    FulfilInput,
    FulfilmentsToShip,
    FulfilResult,
    NotifyInput,
    NotifyResult,
    ReleaseResult,
    ReserveInput,
    ReserveResult,
    ShipFulfilmentInput,
    ShipResult,
)
from temporal_bridge.order.fulfilment_states import ShippedParcel
from temporal_bridge.order.holds import HoldInput, HoldResult
from temporal_bridge.order.payments import PaymentInput, PaymentResult, SettleInput, SettleResult
from temporal_bridge.order.records import DecisionInput, EntriesInput, OrderRef, StepRecord
from temporal_bridge.order.stock_decisions import StockDecisionInput, StockDecisionResult

log = logging.getLogger(__name__)

ERR_BAD_NOTICE = "BadDiscussionNotice"


R = TypeVar("R")


def with_record(order_id: int, record: StepRecord | None, effect: Callable[[], R], text: Callable[[R], str],
                **fields: Callable[[R], Any]) -> R:
    """Run a business step's effect and, with a record, write its timeline entry
    (and those waiting, and the decisions the workflow accepted since the
    last step) in the same transaction; the result carries the entries."""
    with transaction.atomic():
        result = effect()
        if record is not None:
            values = {name: field(result) for name, field in fields.items()}
            result.recorded = mirror.order_record_step(order_id=order_id, record=record, message=text(result), **values)  # type: ignore[attr-defined]
            for decision in record.decisions:
                approval_services.decision_record(decision)
    return result


@activity.defn(name=m.ACT_RECORD_ENTRIES)
@db_activity
def record_order_entries(batch: EntriesInput) -> None:
    mirror.order_record_entries(batch.entries)


@activity.defn(name=m.ACT_RECORD_DECISION)
@db_activity
def record_decision(decision: DecisionInput) -> None:
    approval_services.decision_record(decision)


@activity.defn(name=ACT_CONFIRM_MESSAGES)
@db_activity
def confirm_messages(checks: MessageChecks) -> MessageConfirmations:
    """Read-only, for a batch of the workflow's checks: which people's messages
    the desk recorded, which providers' events the intake stored."""
    return identity.messages_confirm(checks)


@activity.defn(name=m.ACT_APPLY_UPDATE)
@db_activity
def apply_order_update(update: m.UpdateInput) -> None:
    approval_services.order_update_record(update)


@activity.defn(name=fulfilment.ACT_RESERVE_STOCK)
@db_activity
def reserve_stock(ref: ReserveInput) -> ReserveResult:
    if ref.credit_check:
        # The customer's credit, read under the customer's lock with what waited ("approved", "processing")
        # written in the same short transaction, as the read_hold activity does: the order counts for its
        # customer's other orders from the moment it passes. Not in the reservation's transaction: holding the
        # customer's row while waiting for stock rows deadlocks with the customer's new orders (their insert
        # checks that row).
        record = ref.record
        credit = _hold_read_after(ref.order_id, hold.STAGE_CREDIT, record.before if record else [],
                                  record.decisions if record else [])
        if credit.held:
            return ReserveResult(lines_reserved=0, units_reserved=0, credit_hold=credit)
        if record is not None:  # written: the reservation writes its own entry and those after it only
            ref = replace(ref, record=replace(record, before=[], decisions=[]))
    return _reserve(ref)


def _reserve(ref: ReserveInput) -> ReserveResult:
    def reserve() -> ReserveResult:
        plan, missing = steps.stock_reserve(order_id=ref.order_id, keep_available=ref.keep_available)
        lines = [line for planned in plan.fulfilments for line in planned.lines]
        # Whether the next stage (payment) is held, so an order that meets no hold pays no extra activity.
        return ReserveResult(lines_reserved=len(lines), units_reserved=sum(line.quantity for line in lines),
                             hold=holds.hold_read(ref.order_id, hold.STAGE_PAYMENT), fulfilments=plan.fulfilments,
                             unavailable=plan.unavailable, unavailable_text=missing)

    return with_record(ref.order_id, ref.record, reserve, fulfilment.reserved_text)


@activity.defn(name=stock_decisions.ACT_APPLY_STOCK_DECISION)
@db_activity
def apply_stock_decision(decision: StockDecisionInput) -> StockDecisionResult:
    """What becomes of the lines no warehouse held (dropped, backordered, filled), with its timeline entry."""
    words: list[str] = []

    def apply() -> StockDecisionResult:
        applied = inventory_decisions.stock_decision_apply(
            order=steps.locked_order(decision.order_id), dropped=decision.dropped, backordered=decision.backordered,
            filled=decision.filled, backorder_until=datetime.fromisoformat(decision.backorder_until) if decision.backorder_until else None,
            why=decision.why[:200])
        if applied.other_rule:
            # The approvals given were for another total under another rule: they no longer count (as after an address change).
            ApprovalDecision.objects.filter(order_id=decision.order_id).update(superseded=True)
        words.append(applied.text)
        return StockDecisionResult(total=str(applied.total), lines_left=applied.lines_left, rule=applied.rule)

    return with_record(decision.order_id, decision.record, apply, lambda _: words[-1])


@activity.defn(name=fulfilment.ACT_RELEASE_STOCK)
@db_activity
def release_stock(ref: OrderRef) -> ReleaseResult:
    return with_record(ref.order_id, ref.record, lambda: ReleaseResult(units_released=steps.stock_release(order_id=ref.order_id)),
                       fulfilment.released_text)


@activity.defn(name=payments_messages.ACT_CHARGE_PAYMENT)
@db_activity
def charge_payment(payment: PaymentInput) -> PaymentResult:
    def charge() -> PaymentResult:
        capture = payments.payment_capture(order_id=payment.order_id, idempotency_key=payment.idempotency_key)
        awaiting = capture.status == PaymentTransaction.Status.AWAITING_CONFIRMATION
        return PaymentResult(amount=str(capture.amount), currency=capture.currency, provider_reference=capture.provider_reference,
                               status="requires_confirmation" if awaiting else "captured",
                               hold=holds.hold_read(payment.order_id, hold.STAGE_FULFILMENT))

    with breaker.provider_call(payments_messages.PROVIDER_PAYMENTS):
        return with_record(payment.order_id, payment.record, charge, payments_messages.charged_text)


@activity.defn(name=payments_messages.ACT_SETTLE_PAYMENT)
@db_activity
def settle_payment(settle: SettleInput) -> SettleResult:
    """The provider confirmed (or failed) a payment by webhook: the ledger says so, with its timeline entry.

    Only an event the webhook intake received (signed) counts: a signal alone, which
    anyone reaching Temporal can send, settles nothing."""
    if not webhooks.webhook_received(provider=payments_messages.PROVIDER_PAYMENTS, event_id=settle.event_id, order_id=settle.order_id,
                                     kind=f"payment.{settle.kind}"):
        return SettleResult(received=False)

    def settle_it() -> SettleResult:
        if settle.kind == payments_messages.PAYMENT_SUCCEEDED:
            payments.payment_confirm(order_id=settle.order_id, reference=settle.reference)
        else:
            payments.payment_fail(order_id=settle.order_id, reference=settle.reference, reason=settle.reason)
        return SettleResult()

    return with_record(settle.order_id, settle.record, settle_it, lambda _: payments_messages.settled_text(settle.kind,
                                                                                                           settle.reference, settle.reason))


@activity.defn(name=payments_messages.ACT_REFUND_PAYMENT)
@db_activity
def refund_payment(payment: PaymentInput) -> PaymentResult:
    def refund() -> PaymentResult:
        done = payments.payment_refund(order_id=payment.order_id, idempotency_key=payment.idempotency_key)
        if done is None:
            return PaymentResult(amount="0.00", currency="", provider_reference="none: nothing was captured")
        return PaymentResult(amount=str(done.amount), currency=done.currency, provider_reference=done.provider_reference)

    with breaker.provider_call(payments_messages.PROVIDER_PAYMENTS):
        return with_record(payment.order_id, payment.record, refund, payments_messages.refunded_text)


@activity.defn(name=fulfilment.ACT_SHIP)
@db_activity
def ship_order(ref: OrderRef) -> ShipResult:
    def ship() -> ShipResult:
        shipped = steps.order_ship(order_id=ref.order_id)
        return ShipResult(tracking_number=shipped.tracking_number, carrier=shipped.carrier,
                          parcels=[ShippedParcel(warehouse, tracking) for warehouse, tracking in shipped.parcels])

    return with_record(ref.order_id, ref.record, ship, fulfilment.shipped_text, tracking_number=lambda shipped: shipped.tracking_number)


@activity.defn(name=fulfilment.ACT_FULFILMENTS_TO_SHIP)
@db_activity
def fulfilments_to_ship(ref: OrderRef) -> FulfilmentsToShip:
    return FulfilmentsToShip(steps.fulfilments_to_ship(order_id=ref.order_id))


@activity.defn(name=fulfilment.ACT_SHIP_FULFILMENT)
@db_activity
def ship_fulfilment(inp: ShipFulfilmentInput) -> ShipResult:
    def ship() -> ShipResult:
        shipped = steps.fulfilment_ship(order_id=inp.order_id, warehouse=inp.warehouse)
        return ShipResult(tracking_number=shipped.tracking_number, carrier=shipped.carrier,
                          parcels=[ShippedParcel(warehouse, tracking) for warehouse, tracking in shipped.parcels])

    return with_record(inp.order_id, inp.record, ship, fulfilment.shipped_text)


@activity.defn(name=fulfilment.ACT_NOTIFY)
@db_activity
def notify_customer(notice: NotifyInput) -> NotifyResult:
    def notify() -> NotifyResult:
        return NotifyResult(sent=steps.customer_notify(
            order_id=notice.order_id, kind=notice.kind, idempotency_key=notice.idempotency_key, reason=notice.reason,
        ))

    return with_record(notice.order_id, notice.record, notify, lambda _: fulfilment.emailed_text(notice.kind))


FULFILMENT_STEPS = ("Picking items", "Packing", "Quality check", "Printing labels", "Loading")


@activity.defn(name=fulfilment.ACT_FULFIL)
async def fulfil_order(job: FulfilInput) -> FulfilResult:
    """Simulated warehouse work, step by step, heartbeating its progress (and reporting it to the
    workflow for the live panel, but for the last step: its completion says 100%).

    Async (unlike the others) because it must use the activity's client to
    report progress to its workflow and be cancellable at once; its database
    writes go through sync_to_async onto a worker thread. A retry resumes from
    the last heartbeated step.
    """
    info = activity.info()
    done = int(info.heartbeat_details[0]) if info.heartbeat_details else 0
    record_progress = sync_to_async(db_activity(mirror.order_record_progress), thread_sensitive=False)
    if job.first:
        # "Fulfilling" (and what else waits) is on the page while the work runs.
        await sync_to_async(db_activity(mirror.order_record_entries), thread_sensitive=False)(job.first)
    for step in range(done, job.steps):
        # Cancellation arrives as CancelledError raised here.
        await asyncio.sleep(job.step_seconds)
        done = step + 1
        percent = round(100 * done / job.steps)
        activity.heartbeat(done)
        await record_progress(order_id=job.order_id, percent=percent)
        if done < job.steps:
            # The last report would be the activity's own end, a moment later: the workflow sets 100% then.
            # Sent, it costs the order a signal and a workflow task of its own.
            label = FULFILMENT_STEPS[step * len(FULFILMENT_STEPS) // job.steps]
            await _report_progress(info.workflow_id, m.FulfilmentProgress(percent, label))
    return FulfilResult(steps_done=done)


async def _report_progress(workflow_id: str | None, progress: m.FulfilmentProgress) -> None:
    # Progress on the live panel is a courtesy: losing one report must not
    # fail the fulfilment, whose real progress is the heartbeat.
    if not workflow_id:
        return
    try:
        await activity.client().get_workflow_handle(workflow_id).signal(m.SIGNAL_PROGRESS, progress)
    except Exception as err:  # noqa: BLE001 - see above
        log.warning("Progress report for %s failed: %s", workflow_id, err)


@activity.defn(name=hold.ACT_READ_HOLD)
@db_activity
def read_hold(inp: HoldInput) -> HoldResult:
    """May the order go on to the stage (stock after its credit check, charging, fulfilment) now, or must it wait?"""
    return _hold_read_after(inp.order_id, inp.stage, inp.entries, [])


def _hold_read_after(order_id: int, stage: str, entries: list, decisions: list) -> HoldResult:
    """Write `entries` and `decisions` (if any), then read the stage's hold, in one transaction."""
    if not entries and not decisions:
        return holds.hold_read(order_id, stage)
    with transaction.atomic():  # the entries sent along and the read commit together
        mirror.order_record_entries(entries)
        for decision in decisions:
            approval_services.decision_record(decision)
        return holds.hold_read(order_id, stage)


@activity.defn(name=discussion.ACT_NOTIFY_DISCUSSION)
@db_activity
def notify_discussion(notice: DiscussionNotice) -> DiscussionResult:
    """A comment, question or answer the workflow accepted: its timeline entry and the e-mails (approvals.discussion.notices)."""
    if notice.kind not in discussion_notices.KINDS:
        # Retrying cannot make an unknown kind known.
        raise ApplicationError(f"{notice.kind!r} is not a kind of discussion entry", type=ERR_BAD_NOTICE, non_retryable=True)
    return discussion_notices.discussion_record(notice)


SYNC_ACTIVITIES = [
    record_order_entries, record_decision, confirm_messages, apply_order_update, reserve_stock, apply_stock_decision, release_stock,
    charge_payment,
    settle_payment, refund_payment, ship_order, fulfilments_to_ship, ship_fulfilment, notify_customer, read_hold, notify_discussion,
]
ALL_ACTIVITIES = [*SYNC_ACTIVITIES, fulfil_order]

"""The database mirror of each order's workflow: its one home on the Django side.

The workflow owns an order's life; these tables are its projection, which
list pages, the admin and the audit read without calling Temporal:

- writes: a timeline entry (OrderEvent) under the key the workflow assigned,
  once, with the change of state it carries; a business step writes its
  entries in the transaction of its own effect (`order_record_step`);
- read-back: `mirror_snapshot`, the workflow's query as the mirror tells it,
  for finished orders and when no worker answers;
- repair: orders/operations/reconcile.py (`manage.py reconcile_orders`) finds what the
  mirror missed and writes it through these same functions.
"""
from __future__ import annotations

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals.selectors import decision_records, mirror_progress
from orders.models import Order
from orders.payments.models import PaymentTransaction
from orders.steps import locked_order, order_lock
from orders.timeline import entry_writes, metrics
from orders.timeline import service_levels as sla
from orders.timeline.models import OrderEvent
from temporal_bridge.order import discussion, holds, records, states
from temporal_bridge.order import messages as m
from temporal_bridge.order.records import MirrorInput, StepRecord, TimelineEntry
from temporal_bridge.order.service_levels import ServiceLevelReport
from temporal_bridge.order.status import StopCause

log = logging.getLogger(__name__)


# --- Writes ------------------------------------------------------------------------------


def order_event_write(*, order: Order, key: str, kind: str, message: str, actor: str = "", at: datetime | None = None,
                      status: str = "") -> bool:
    """Write one timeline entry under its key, once. False if the key was already written.

    `at`: when the workflow appended it, so the mirror's times are the
    query's; otherwise now. `status`: the state it moved the order to, if any.
    """
    try:
        with transaction.atomic():
            OrderEvent.objects.create(order=order, idempotency_key=key, kind=kind, message=message[:500], actor=actor,
                                      created_at=at or timezone.now(), status=status or "")
    except IntegrityError:
        return False
    return True


# Nested in a step's transaction, a savepoint would only add two round trips:
# an error here fails the whole step, which its activity retries.
@transaction.atomic(savepoint=False)
def order_record_entries(entries: list[MirrorInput]) -> int:
    """Mirror several entries of one order in one transaction, in order. Returns how many were new."""
    if not entries:
        return 0
    order_lock(entries[0].order_id)
    return len(_write_new(entries[0].order_id, entries))


@transaction.atomic(savepoint=False)
def order_record_step(*, order_id: int, record: StepRecord, message: str, **fields: object) -> list[TimelineEntry]:
    """The entries a business step writes beside its effect (called inside the
    step's transaction): those waiting, its own (`message`, under the key the
    workflow assigned), then those that follow it.

    Returns its own and the following entries as stored: a retried step finds
    them written by its first attempt and returns those, so the workflow's
    timeline equals the mirror's.
    """
    order_lock(order_id)
    own = MirrorInput(order_id, record.key, record.kind, message, **fields)  # type: ignore[arg-type]
    written = _write_new(order_id, [*record.before, own, *record.after])
    returned = [own.idempotency_key, *(entry.idempotency_key for entry in record.after)]
    if all(key in written for key in returned):
        return [written[key] for key in returned]
    stored = {e.idempotency_key: e for e in OrderEvent.objects.filter(order_id=order_id, idempotency_key__in=returned)}
    return [_timeline_entry(stored[key]) for key in returned]


def _write_new(order_id: int, entries: list[MirrorInput]) -> dict[str, TimelineEntry]:
    """Write the entries whose keys the mirror does not hold yet (the caller holds the order's lock),
    and the order's fields they change. Returns what was written, by key.

    Every writer of an order's entries holds its lock first, so what is new
    cannot change under it. On PostgreSQL the entries and the order's update
    are one statement (entry_writes); elsewhere the keys held are read first.
    """
    unique: dict[str, MirrorInput] = {}
    for entry in entries:
        unique.setdefault(entry.idempotency_key, entry)
    rows = {key: entry_writes.NewEntry(key, entry.kind, entry.message[:500], entry.actor, entry.status or "",
                                       datetime.fromisoformat(entry.at) if entry.at else timezone.now())
            for key, entry in unique.items()}
    order_row = None
    if entry_writes.one_statement():
        # The entries whose values the update would carry (the last to set each field): if they are all new,
        # the update is what the new entries alone would make.
        deciding = {field: key for key, entry in unique.items() for field in _order_changes(entry)}
        changing = sorted(set(deciding.values()))
        outcome = entry_writes.entries_and_order_write(order_id, list(rows.values()), _changes(unique.values()), changing)
        written = [unique[key] for key in outcome.keys]
        order_row = outcome.order_row
        if written and not outcome.order_updated and (changed := _changes(written)):
            Order.objects.filter(pk=order_id).update(**changed)  # some were written before: only the new ones' changes
    else:
        held = set(OrderEvent.objects.filter(order_id=order_id, idempotency_key__in=list(unique))
                   .values_list("idempotency_key", flat=True))
        written = [entry for key, entry in unique.items() if key not in held]
        OrderEvent.objects.bulk_create(OrderEvent(order_id=order_id, idempotency_key=row.key, kind=row.kind, message=row.message,
                                                  actor=row.actor, created_at=row.created_at, status=row.status)
                                       for row in (rows[entry.idempotency_key] for entry in written))
        if written and (changed := _changes(written)):
            Order.objects.filter(pk=order_id).update(**changed)
    for entry in written:
        if entry.kind == OrderEvent.Kind.SERVICE_LEVEL:
            sla.breach_record(order_id, entry.message)
        metrics.order_transition_recorded(entry, order_row=order_row)
    return {entry.idempotency_key: _timeline_entry_of(rows[entry.idempotency_key]) for entry in written}


def _changes(entries) -> dict[str, object]:
    """The order's fields the entries set, in order: a later entry's value wins, as it would row by row."""
    changed: dict[str, object] = {}
    for entry in entries:
        changed.update(_order_changes(entry))
    if changed:
        changed["updated_at"] = timezone.now()
    return changed


def _timeline_entry_of(row: entry_writes.NewEntry) -> TimelineEntry:
    return TimelineEntry(row.created_at.isoformat(), row.kind, row.message, row.actor, key=row.key)


def _order_changes(entry: MirrorInput) -> dict[str, object]:
    """The order's fields an entry sets (the state it enters, progress, tracking...)."""
    fields = {"status": entry.status, "progress": entry.progress, "tracking_number": entry.tracking_number,
              "failure_reason": entry.failure_reason[:300] if entry.failure_reason else entry.failure_reason,
              "approval_deadline": datetime.fromisoformat(entry.approval_deadline) if entry.approval_deadline else None,
              "escalated": entry.escalated, "hold_stage": _hold_stage(entry)}
    changed = {name: value for name, value in fields.items() if value is not None}
    # The question's own entry opens it and the answer's closes it, whichever
    # path writes them (the discussion activity, a batch, reconcile).
    if entry.kind in (OrderEvent.Kind.QUESTION, OrderEvent.Kind.ANSWER):
        changed["awaiting_answer"] = entry.kind == OrderEvent.Kind.QUESTION
    # Likewise the wait for a person's stock decision; an order that ends waits on nothing.
    if entry.kind in (OrderEvent.Kind.STOCK_WAIT, OrderEvent.Kind.STOCK_DECIDED) or entry.status in states.TERMINAL:
        changed["awaiting_stock"] = entry.kind == OrderEvent.Kind.STOCK_WAIT
    return changed


def _hold_stage(entry: MirrorInput) -> str | None:
    """What the entry says of the hold the order waits on: a stage, "" (none), or None (nothing)."""
    if entry.kind == OrderEvent.Kind.HOLD:
        # Wording from elsewhere still marks the order as waiting, so a resume reaches it.
        return holds.hold_stage(entry.message) or holds.STAGE_UNKNOWN
    if entry.kind == OrderEvent.Kind.HOLD_RELEASED or entry.status in states.TERMINAL:
        return ""  # an order that ends while held waits on nothing
    return None


@transaction.atomic
def order_record_stop(*, order_id: int, cause: StopCause) -> bool:
    """Record that the order's workflow was closed from outside (an operator, a timeout, a failure).

    The order becomes `stopped`, with the cause as its failure reason and one
    timeline entry per stopped run, e.g. "Stopped by an operator: terminated
    by ops@host: duplicate order". Idempotent: True only when this call changed
    the mirror. An order that already ended on its own (fulfilled, rejected...)
    keeps its ending: a business end is never overwritten by a later close.
    """
    order = locked_order(order_id)
    if order.is_terminal:
        return False
    summary = cause.summary
    by_operator = cause.status in ("TERMINATED", "CANCELED")
    message = f"Stopped by an operator: {summary}" if by_operator else f"Stopped: the workflow {summary}"
    order_event_write(order=order, key=f"stopped:{cause.run_id}"[:100], kind=OrderEvent.Kind.STATUS, message=message,
                      actor=cause.identity[:150], status=states.STOPPED)
    Order.objects.filter(pk=order.pk).update(status=states.STOPPED, failure_reason=summary[:300], hold_stage="", updated_at=timezone.now())
    log.warning("Order %s stopped: its workflow was %s", order.number, summary)
    return True


def order_record_progress(*, order_id: int, percent: int) -> None:
    """Fulfilment progress for the DB mirror; never moves backwards."""
    Order.objects.filter(pk=order_id, progress__lt=percent).update(progress=percent, updated_at=timezone.now())


# --- Read-back ---------------------------------------------------------------------------


def mirror_snapshot(order: Order) -> m.OrderSnapshot:
    """The snapshot as the database mirror records it, shaped like the query's."""
    events = sorted(OrderEvent.objects.filter(order=order), key=_timeline_order)
    return m.OrderSnapshot(
        order_id=order.pk,
        number=order.number or "",
        state=order.status,
        step=_mirror_step(order),
        progress=order.progress,
        requires_approval=order.requires_approval,
        approval_deadline=order.approval_deadline.isoformat() if order.approval_deadline else None,
        priority=order.priority,
        shipping_address=order.shipping_address,
        note=order.note,
        tracking_number=order.tracking_number,
        failure_reason=order.failure_reason,
        decisions=decision_records(order),
        timeline=[_timeline_entry(e) for e in events],
        allowed_actions=states.allowed_actions(order.status, awaiting_decision=order.status == states.PENDING_APPROVAL,
                                               question_open=order.awaiting_answer, questions=True),
        approval=mirror_progress(order),
        hold_reason=_hold_reason(order),
        service_levels=_mirror_service_levels(order, events),
        questions=True,
        **_open_question(order, events),
    )


def _mirror_service_levels(order: Order, events: list[OrderEvent]) -> ServiceLevelReport | None:
    # To the minute: the fallback panel is polled every few seconds and is
    # answered 204 while its snapshot is unchanged; a clock ticking in it
    # would re-render it on every poll.
    now = timezone.now().replace(second=0, microsecond=0)
    return sla.mirror_report(order, events, now=now)


def _hold_reason(order: Order) -> str:
    """The hold entry the order waits on, as the query's `hold_reason` says it."""
    if not order.hold_stage:
        return ""
    entry = OrderEvent.objects.filter(order=order, kind=OrderEvent.Kind.HOLD).order_by("-created_at", "-id").first()
    return entry.message if entry else ""


def _open_question(order: Order, events: list[OrderEvent]) -> dict[str, str]:
    """The question the mirror says waits for its answer: its words and who asked."""
    if not order.awaiting_answer:
        return {}
    asked = [e for e in events if e.kind == OrderEvent.Kind.QUESTION]
    if not asked:
        return {}
    last = asked[-1]
    return {"open_question": question_words(last.message, last.actor), "question_by": last.actor}


def question_words(message: str, actor: str) -> str:
    """The question itself, from its timeline entry (worded by messages.discussion_text)."""
    prefix = discussion.discussion_text("question", actor, "")
    return message[len(prefix):] if message.startswith(prefix) else message


# The workflow's step while a payment waits for the provider's webhook; the
# mirror says the same when no worker can answer.
PAYMENT_WAITING_STEP = "Waiting for the payment provider's confirmation"


def _mirror_step(order: Order) -> str:
    if order.status == states.PROCESSING and PaymentTransaction.objects.filter(
        order=order, kind=PaymentTransaction.Kind.CAPTURE, status=PaymentTransaction.Status.AWAITING_CONFIRMATION,
    ).exists():
        return PAYMENT_WAITING_STEP
    return states.LABELS.get(order.status, order.status)


def _timeline_order(event: OrderEvent) -> tuple[int, datetime, int]:
    """The workflow's order: by position in the timeline (a step's entry is
    written after entries appended while it ran); entries from outside the
    workflow (a stop) after them, by time."""
    position = records.key_position(event.idempotency_key)
    return (position if position >= 0 else 1 << 62, event.created_at, event.pk)


def _timeline_entry(event: OrderEvent) -> TimelineEntry:
    return TimelineEntry(event.created_at.isoformat(), event.kind, event.message, event.actor, key=event.idempotency_key)

"""Order services: every write to order records goes through here.

Two kinds of callers: people (views, admin, commands), whose requests become
workflow starts and signals, and the workflow's activities, which record what
the workflow decided. Each activity-facing service is idempotent, so a retried
activity never writes twice.
"""
from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals.selectors import approval_rule_for
from orders import amounts
from orders.exceptions import ActionNotAllowed, OrderError, WorkflowUnavailable
from orders.intents.services import intent_record
from orders.models import Customer, Order, OrderLine, Priority, Product
from orders.privacy.models import CustomerErasure
from orders.steps import locked_order
from orders.timeline import mirror
from orders.timeline import service_levels as sla
from orders.timeline.models import OrderEvent
from temporal_bridge.approvals import rules as approval_rules
from temporal_bridge.approvals.messages import ApprovalRule
from temporal_bridge.client.bridge import TemporalUnavailable, WorkflowFlooded, WorkflowNotFound
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import messages as m
from temporal_bridge.order import records, states
from temporal_bridge.order import status as workflow_status
from temporal_bridge.order.status import StopCause
from temporal_bridge.order.stock_decisions import SIGNAL_STOCK_DECISION, StockDecisionSignal

log = logging.getLogger(__name__)

SUBMITTED_EVENT_KEY = records.timeline_key(0, "submitted")
AWAITING_EVENT_KEY = records.timeline_key(1, "note")  # the approval gate's first note, when the order waits for approvers


@dataclass(frozen=True)
class LineRequest:
    product: Product
    quantity: int


@dataclass(frozen=True)
class QuotedLine:
    product: Product
    quantity: int
    line_total: Decimal

    @property
    def stock_short(self) -> bool:
        """More units than the product has free now (on hand minus reserved); the order may fail at reservation."""
        return self.quantity > self.product.stock_available


@dataclass(frozen=True)
class OrderQuote:
    """What an order would be if submitted now: its merged lines, total and frozen approval rule."""

    lines: list[QuotedLine]
    total: Decimal
    rule: ApprovalRule


# --- Submission --------------------------------------------------------------------


@transaction.atomic
def order_submit(
    *,
    customer: Customer,
    lines: Sequence[LineRequest],
    created_by: AbstractBaseUser,
    shipping_address: str,
    priority: str = Priority.NORMAL,
    note: str = "",
    submission_key: str | None = None,
) -> Order:
    """Write a new order and, once committed, start its workflow."""
    if not created_by.has_perm("orders.add_order"):
        raise PermissionDenied("You are not allowed to create orders.")
    merged = _merge_lines(lines)
    if not shipping_address.strip():
        raise OrderError("A shipping address is required.")
    if priority not in Priority.values:
        raise OrderError(f"Unknown priority {priority!r}.")

    quote = order_quote(customer=customer, lines=merged)
    total, rule = quote.total, quote.rule
    order = Order.objects.create(
        customer=customer,
        created_by=created_by,
        total=total,
        currency=settings.ORDER_CURRENCY,
        priority=priority,
        shipping_address=shipping_address.strip(),
        note=note.strip(),
        requires_approval=not rule.auto_approve,
        approval_rule=asdict(rule),
        approvals_required=rule.approvals_required,
        requires_senior=rule.requires_senior,
        status=states.PENDING_APPROVAL,
        submission_key=submission_key or None,
    )
    # After the insert: an erasure holding the customer's row made it wait, and is visible now.
    if CustomerErasure.objects.filter(customer_id=customer.pk).exists():
        raise OrderError(f"Customer {customer.pk}'s personal data has been erased: no new order can be written for them.")
    order.number = f"OD-{order.pk:06d}"
    order.workflow_id = m.workflow_id_for(order.pk)
    events = [OrderEvent(
        order=order, kind=OrderEvent.Kind.SUBMITTED, idempotency_key=SUBMITTED_EVENT_KEY,
        message=f"Order {order.number} submitted ({total} {order.currency})", actor=created_by.get_username(),
        created_at=order.created_at, status=states.PENDING_APPROVAL,
    )]
    if not rule.auto_approve:
        # The approval gate's first note and deadline, written here as the workflow would write them (entry 1,
        # counted from the submission): its workflow then waits for a decision without a write of its own.
        order.approval_deadline = approval_rules.first_expiry(rule, order.created_at)
        events.append(OrderEvent(order=order, kind=OrderEvent.Kind.NOTE, idempotency_key=AWAITING_EVENT_KEY,
                                 message=approval_rules.awaiting_note(rule, order.approval_deadline), created_at=order.created_at))
    order.save(update_fields=["number", "workflow_id", "approval_deadline"])
    OrderLine.objects.bulk_create(
        OrderLine(order=order, product=line.product, quantity=line.quantity, unit_price=line.product.price) for line in merged
    )
    OrderEvent.objects.bulk_create(events)
    # Never start the workflow before the row is committed: its first activity
    # reads the order. A failed start leaves workflow_started_at empty for
    # reconcile_orders to pick up.
    transaction.on_commit(lambda: order_start_workflow(order_id=order.pk))
    return order


def order_quote(*, customer: Customer | None, lines: Sequence[LineRequest]) -> OrderQuote:
    """The total and approval rule an order gets: what order_submit writes, and what the form previews.

    Repeated products are merged; every quantity, price, line total and the
    total are checked against their columns (AmountOutOfRange, an OrderError,
    before anything is written); the rule is the policy matching the total and
    the customer now. Reads only.
    """
    merged = _merge_lines(lines)
    quoted = [
        QuotedLine(line.product, line.quantity,
                   amounts.line_total(sku=line.product.sku, unit_price=line.product.price, quantity=line.quantity))
        for line in merged
    ]
    total = amounts.total_of(line.line_total for line in quoted)
    # The approval rule is frozen at submission: a policy edited later changes no order in flight.
    return OrderQuote(lines=quoted, total=total, rule=approval_rule_for(total=total, customer=customer))


def order_submit_once(*, submission_key: str | None, created_by: AbstractBaseUser, **submission) -> tuple[Order, bool]:
    """order_submit, once per (creator, submission key): (order, created).

    A repeated key answers with the order the first submission made. Two
    submissions racing past the lookup both insert; the unique constraint
    refuses the second, whose savepoint (and its workflow start) is rolled
    back, and it answers with the first.
    """
    if not submission_key:
        return order_submit(created_by=created_by, **submission), True
    earlier = _submitted_with(created_by=created_by, submission_key=submission_key)
    if earlier is not None:
        return earlier, False
    try:
        with transaction.atomic():
            return order_submit(created_by=created_by, submission_key=submission_key, **submission), True
    except IntegrityError:
        earlier = _submitted_with(created_by=created_by, submission_key=submission_key)
        if earlier is None:
            raise
        return earlier, False


def _submitted_with(*, created_by: AbstractBaseUser, submission_key: str) -> Order | None:
    return Order.objects.filter(created_by=created_by, submission_key=submission_key).first()


def _merge_lines(lines: Sequence[LineRequest]) -> list[LineRequest]:
    if not lines:
        raise OrderError("An order needs at least one line.")
    by_product: OrderedDict[int, LineRequest] = OrderedDict()
    for line in lines:
        if line.quantity < 1:
            raise OrderError(f"Quantity for {line.product.sku} must be at least 1.")
        if not line.product.active:
            raise OrderError(f"{line.product.sku} is no longer sold.")
        previous = by_product.get(line.product.pk)
        quantity = line.quantity + (previous.quantity if previous else 0)
        by_product[line.product.pk] = LineRequest(line.product, quantity)
    return list(by_product.values())


def workflow_input_for(order: Order) -> m.OrderWorkflowInput:
    """The workflow input, from the order as submitted (its frozen approval rule included)."""
    rule = ApprovalRule(**order.approval_rule) if order.approval_rule else None
    return m.OrderWorkflowInput(
        order_id=order.pk,
        order_number=order.number or "",
        total=str(order.total),
        currency=order.currency,
        requested_by=order.created_by.get_username(),
        requires_approval=order.requires_approval,
        approval_deadline_seconds=rule.expire_after_seconds if rule else settings.ORDER_APPROVAL_DEADLINE_HOURS * 3600,
        fulfilment_steps=settings.ORDER_FULFILMENT_STEPS,
        fulfilment_step_seconds=settings.ORDER_FULFILMENT_STEP_SECONDS,
        priority=order.priority,
        shipping_address=order.shipping_address,
        note=order.note,
        approval_rule=rule,
        submitted_at=order.created_at.isoformat(),
        awaiting_noted=order.requires_approval and OrderEvent.objects.filter(order=order, idempotency_key=AWAITING_EVENT_KEY).exists(),
        service_levels=sla.targets_from_settings(),
        track_delivery=settings.ORDER_DESK_TRACK_DELIVERY,
        delivery_promise_days=settings.ORDER_DESK_DELIVERY_PROMISE_DAYS,
        carrier=settings.ORDER_DESK_CARRIER,
    )


def workflow_summary(order: Order) -> str:
    """What the Temporal UI shows for the order's run: "OD-000123 · Globex · 12,600.00 USD"."""
    return f"{order.number} · {order.customer.name} · {order.total:,} {order.currency}"


def order_start_workflow(*, order_id: int) -> bool:
    """Start the order's workflow if it is not running yet. True when it runs now."""
    order = Order.objects.select_related("created_by", "customer").get(pk=order_id)
    if order.workflow_started_at is not None:
        return True
    try:
        order_calls.start_order_workflow(workflow_input_for(order), summary=workflow_summary(order), customer_id=order.customer_id)
    except TemporalUnavailable as err:
        log.warning("Workflow start for %s failed; reconcile_orders will retry: %s", order.number, err)
        return False
    Order.objects.filter(pk=order.pk, workflow_started_at__isnull=True).update(workflow_started_at=timezone.now())
    return True


# --- Requests from people: become signals ---------------------------------------------


def order_signal(order: Order, signal: str, payload: Any, *, authorise: Callable[[], None] | None = None,
                 verdict_wait: float | None = None, send: Callable[[int, Any], None] | None = None) -> m.RequestVerdict:
    """Record a person's request, send it to the order's workflow and return its verdict.

    First the intent (orders.intents): `authorise`, the caller's permission
    and state checks, runs in the transaction that writes it, and that
    transaction is committed before the signal goes, because the workflow
    counts the message only if the database holds it. A double POST reuses
    the intent and sends again (the workflow ignores a request id it has
    seen); a request id reused for another request is refused, as is a
    message the workflow would refuse as malformed, and nothing is sent.

    Temporal errors become user errors. The verdict is the workflow's own,
    read back by request id: accepted, refused (with the reason), still being
    checked, or unknown when no worker has processed the request yet (it is
    queued in the workflow's history and will be applied or refused then).
    `send`: the order_calls function for this signal, if it has its own.
    """
    def checks() -> None:
        if authorise is not None:
            authorise()
        if order.workflow_started_at is None:
            raise WorkflowUnavailable(
                f"Order {order.number} is still being set up (its workflow has not started); nothing was changed. Try again shortly.")

    intent_record(order=order, signal=signal, payload=payload, authorise=checks)
    try:
        if send is not None:
            send(order.pk, payload)
        else:
            order_calls.signal_order(order.pk, signal, payload)
    except WorkflowNotFound as err:
        cause = order_detect_stop(order_id=order.pk)
        if cause is not None:
            raise ActionNotAllowed(
                f"Order {order.number} was stopped outside the desk ({cause.summary}); nothing was changed and no action is possible."
            ) from err
        raise ActionNotAllowed(f"Order {order.number} is no longer running; nothing was changed.") from err
    except WorkflowFlooded as err:
        raise WorkflowUnavailable(
            f"Order {order.number} has more messages waiting than its workflow takes at once (a flood sent from outside "
            "the desk); nothing was changed. It takes messages again once it has worked through them: try again in a minute.",
        ) from err
    except TemporalUnavailable as err:
        raise WorkflowUnavailable("The workflow service is unavailable; nothing was changed. Try again shortly.") from err
    wait = settings.TEMPORAL_VERDICT_WAIT if verdict_wait is None else verdict_wait
    return order_calls.request_verdict(order.pk, payload.request_id, wait=wait)


def order_detect_stop(*, order_id: int) -> StopCause | None:
    """Ask Temporal whether the order's workflow was closed from outside; if so, record it. The cause, or None."""
    try:
        status = workflow_status.describe_order(order_id)
    except (TemporalUnavailable, WorkflowNotFound):
        return None
    if status.stop is not None:
        mirror.order_record_stop(order_id=order_id, cause=status.stop)
    return status.stop


def new_request_id() -> str:
    return uuid.uuid4().hex


def order_request_cancel(*, order: Order, user: AbstractBaseUser, reason: str, request_id: str) -> m.RequestVerdict:
    def authorise() -> None:
        if not user.has_perm("orders.cancel_order"):
            raise PermissionDenied("You are not allowed to cancel orders.")
        if not reason.strip():
            raise OrderError("A reason is required to cancel an order.")
        if order.status not in states.CANCELLABLE:
            raise ActionNotAllowed(f"Order {order.number} is {order.get_status_display().lower()} and can no longer be cancelled.")

    payload = m.CancelSignal(actor=user.get_username(), request_id=request_id, reason=reason.strip())
    return order_signal(order, m.SIGNAL_CANCEL, payload, authorise=authorise)


def order_request_stock_decision(*, order: Order, user: AbstractBaseUser, choices: dict[int, str], request_id: str) -> m.RequestVerdict:
    """Drop or backorder each line no warehouse holds (cancelling is order_request_cancel): the requester or a clerk chooses."""
    def authorise() -> None:
        if order.created_by_id != user.pk and not user.has_perm("orders.change_order"):
            raise PermissionDenied("Only the requester or someone who may change orders chooses what becomes of missing lines.")
        if not Order.objects.filter(pk=order.pk, awaiting_stock=True).exists():
            raise ActionNotAllowed(f"Order {order.number} waits for no stock decision.")

    payload = StockDecisionSignal(actor=user.get_username(), request_id=request_id,
                                  choices={str(product_id): choice for product_id, choice in sorted(choices.items())})
    return order_signal(order, SIGNAL_STOCK_DECISION, payload, authorise=authorise)


def order_request_update(
    *, order: Order, user: AbstractBaseUser, request_id: str,
    priority: str | None = None, shipping_address: str | None = None, note: str | None = None,
) -> m.RequestVerdict:
    def authorise() -> None:
        if not user.has_perm("orders.change_order"):
            raise PermissionDenied("You are not allowed to change orders.")
        if order.status not in states.CANCELLABLE:
            raise ActionNotAllowed(f"Order {order.number} is {order.get_status_display().lower()} and can no longer be changed.")
        if priority is not None and priority not in Priority.values:
            raise OrderError(f"Unknown priority {priority!r}.")
        if shipping_address is not None and not shipping_address.strip():
            raise OrderError("The shipping address cannot be empty.")
        if (shipping_address is not None and shipping_address.strip() != order.shipping_address
                and order.status not in (states.PENDING_APPROVAL, states.APPROVED, states.PROCESSING)):
            raise ActionNotAllowed(f"Order {order.number} is being fulfilled: its shipping address is locked.")

    payload = m.UpdateSignal(
        actor=user.get_username(), request_id=request_id, priority=priority,
        shipping_address=shipping_address.strip() if shipping_address is not None else None,
        note=note.strip() if note is not None else None,
    )
    return order_signal(order, m.SIGNAL_UPDATE, payload, authorise=authorise)


@transaction.atomic
def order_apply_update(update: m.UpdateInput) -> None:
    order = locked_order(update.order_id)
    changed = {}
    if update.priority is not None:
        changed["priority"] = update.priority
    if update.shipping_address is not None:
        changed["shipping_address"] = update.shipping_address
    if update.note is not None:
        changed["note"] = update.note
    if changed:
        Order.objects.filter(pk=order.pk).update(updated_at=timezone.now(), **changed)
    mirror.order_record_entries(update.entries)

"""Holds on credit, fulfilment and payment: an order over its customer's
credit limit waits for finance; staff pause and resume fulfilment; the
payments breaker holds charging by itself (orders.holds.breaker). Workflows ask
`hold_read` (activity read_hold) before reserving stock, before charging and
before fulfilment, and wait while held; a resume (or a raised credit limit)
wakes the orders waiting, which the mirror knows from their "hold" /
"hold_released" entries (Order.hold_stage).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery, Sum
from django.utils import timezone

from orders.exceptions import OrderError, OrderNotFound
from orders.holds import breaker
from orders.holds.models import FulfilmentPause, HoldEvent
from orders.holds.waiting import holds_lifted_signal
from orders.models import Customer, Order, OrderEvent
from temporal_bridge.order import holds, payments, states
from temporal_bridge.order.holds import HoldResult

log = logging.getLogger(__name__)

PAUSE_ROW = 1
# A resume wakes orders waiting on fulfilment, and those whose hold entry the mirror could not read.
FULFILMENT_WAITERS = [holds.STAGE_FULFILMENT, holds.STAGE_UNKNOWN]


def fulfilment_pause_state() -> FulfilmentPause:
    return FulfilmentPause.objects.filter(pk=PAUSE_ROW).first() or FulfilmentPause(pk=PAUSE_ROW)


@transaction.atomic
def fulfilment_pause(*, by: str, reason: str) -> bool:
    """Pause fulfilment for every order. False when it was already paused (nothing changes)."""
    reason = reason.strip()
    if not reason:
        raise OrderError("Say why fulfilment is paused: the reason is shown on every order held.")
    FulfilmentPause.objects.get_or_create(pk=PAUSE_ROW)
    pause = FulfilmentPause.objects.select_for_update().get(pk=PAUSE_ROW)
    if pause.paused:
        return False
    pause.paused, pause.reason, pause.by, pause.since = True, reason[:300], by[:150], timezone.now()
    pause.save()
    HoldEvent.objects.create(kind=HoldEvent.Kind.PAUSED, subject=holds.STAGE_FULFILMENT, by=by[:150], reason=reason[:300], at=pause.since)
    log.warning("Fulfilment paused by %s: %s", by, reason)
    return True


@dataclass
class ResumeResult:
    resumed: bool
    signalled: int = 0
    # Orders the signal did not reach: they read the hold again at their recheck.
    missed: int = 0


def fulfilment_resume(*, by: str) -> ResumeResult:
    """Resume fulfilment and wake the orders waiting on it."""
    with transaction.atomic():
        pause = FulfilmentPause.objects.select_for_update().filter(pk=PAUSE_ROW).first()
        if pause is None or not pause.paused:
            return ResumeResult(resumed=False)
        pause.paused, pause.by, pause.since = False, by[:150], timezone.now()
        pause.save()
        HoldEvent.objects.create(kind=HoldEvent.Kind.RESUMED, subject=holds.STAGE_FULFILMENT, by=by[:150], at=pause.since)
    log.warning("Fulfilment resumed by %s", by)
    signalled, missed = holds_lifted_signal(by=by, stages=FULFILMENT_WAITERS)
    return ResumeResult(resumed=True, signalled=signalled, missed=missed)


def hold_read(order_id: int, stage: str) -> HoldResult:
    """Whether the order must wait before `stage`: stock while over the credit limit,
    fulfilment while staff paused it, payment while its breaker is open."""
    recheck = settings.ORDER_DESK_HOLD_RECHECK_SECONDS
    if stage == holds.STAGE_CREDIT:
        return credit_hold(order_id)
    if stage == holds.STAGE_FULFILMENT:
        pause = fulfilment_pause_state()
        if pause.paused:
            return HoldResult(held=True, reason=pause.reason, by=pause.by, since=pause.since.isoformat() if pause.since else "",
                                recheck_seconds=recheck)
        return HoldResult(held=False, recheck_seconds=recheck)
    if stage == holds.STAGE_PAYMENT:
        return breaker.hold_for(payments.PROVIDER_PAYMENTS)
    return HoldResult(held=False, recheck_seconds=recheck)


def holds_in_force() -> tuple[FulfilmentPause | None, list]:
    """For the banner and the operations page: the pause if paused, and the breakers not closed."""
    pause = fulfilment_pause_state()
    return (pause if pause.paused else None), breaker.open_breakers()


# --- Credit review -------------------------------------------------------------------------

# Finance: who raise a customer's credit limit (the Customer admin) and see the orders held for it.
CREDIT_REVIEW_PERMISSION = "orders.change_customer"
# States whose orders claim none of the customer's credit: not approved yet, or ended.
NOT_OPEN = frozenset({states.PENDING_APPROVAL, *states.TERMINAL})


def credit_open_balance(customer_id: int, *, besides: int) -> Decimal:
    """The open balance, the one statement of the rule: the totals of the
    customer's other orders that were approved and have not finished (not
    terminal), except those still waiting for their own credit review. An
    order claims its credit when its check passes (credit_hold), so of two
    orders waiting, the first that fits goes on and the other counts it."""
    claims = (Order.objects.filter(customer_id=customer_id).exclude(pk=besides).exclude(status__in=NOT_OPEN)
              .exclude(hold_stage=holds.STAGE_CREDIT))
    return claims.aggregate(open=Sum("total"))["open"] or Decimal("0.00")


@transaction.atomic(savepoint=False)
def credit_hold(order_id: int) -> HoldResult:
    """Whether the order must wait for finance: its customer's open balance plus its total exceeds their credit limit.

    Checks of one customer's orders take turns (the customer's row is locked),
    and each sees the others' approvals, written before it in its transaction.
    """
    order = Order.objects.filter(pk=order_id).only("pk", "customer_id", "total", "hold_stage").first()
    if order is None:
        raise OrderNotFound(f"Order {order_id} does not exist.")
    customer = Customer.objects.select_for_update().get(pk=order.customer_id)
    open_balance = credit_open_balance(customer.pk, besides=order.pk)
    held = open_balance + order.total > customer.credit_limit
    if not held and order.hold_stage == holds.STAGE_CREDIT:
        # It counts for the customer's other orders from now on, not from its release entry's write.
        Order.objects.filter(pk=order.pk).update(hold_stage="")
    return HoldResult(held=held, reason=holds.credit_reason(open_balance, order.total, customer.credit_limit),
                      recheck_seconds=settings.ORDER_DESK_HOLD_RECHECK_SECONDS)


def credit_limit_raised(*, customer_id: int, by: str) -> tuple[int, int]:
    """Wake the customer's orders held for credit review: each reads its check again. Returns (signalled, missed)."""
    return holds_lifted_signal(by=by, stages=[holds.STAGE_CREDIT], customer_id=customer_id)


def credit_holds(limit: int = 50) -> list[Order]:
    """Orders waiting for finance, longest held first; `credit_hold` is their hold entry's words."""
    entry = OrderEvent.objects.filter(order=OuterRef("pk"), kind=OrderEvent.Kind.HOLD).order_by("-created_at", "-id").values("message")
    return list(
        Order.objects.filter(status=states.ON_HOLD, hold_stage=holds.STAGE_CREDIT).annotate(credit_hold=Subquery(entry[:1]))
        .select_related("customer", "created_by").order_by("updated_at", "id")[:limit]
    )

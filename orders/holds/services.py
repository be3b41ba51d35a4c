"""Holds on fulfilment and payment: staff pause and resume fulfilment; the
payments breaker holds charging by itself (orders.holds.breaker). Workflows ask
`hold_read` (activity read_hold) before charging and before fulfilment,
and wait while held; a resume wakes the orders waiting, which the mirror
knows from their "hold" / "hold_released" entries (Order.hold_stage).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.exceptions import OrderError
from orders.holds import breaker
from orders.holds.models import FulfilmentPause, HoldEvent
from orders.models import Order
from temporal_bridge import hold_texts, order_calls, states
from temporal_bridge import messages as m
from temporal_bridge.bridge import TemporalUnavailable, WorkflowNotFound

log = logging.getLogger(__name__)

PAUSE_ROW = 1
# A resume wakes orders waiting on fulfilment, and those whose hold entry the mirror could not read.
FULFILMENT_WAITERS = [m.STAGE_FULFILMENT, hold_texts.STAGE_UNKNOWN]


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
    HoldEvent.objects.create(kind=HoldEvent.Kind.PAUSED, subject=m.STAGE_FULFILMENT, by=by[:150], reason=reason[:300], at=pause.since)
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
        HoldEvent.objects.create(kind=HoldEvent.Kind.RESUMED, subject=m.STAGE_FULFILMENT, by=by[:150], at=pause.since)
    log.warning("Fulfilment resumed by %s", by)
    signalled, missed = holds_lifted_signal(by=by, stages=FULFILMENT_WAITERS)
    return ResumeResult(resumed=True, signalled=signalled, missed=missed)


def holds_lifted_signal(*, by: str, stages: Iterable[str]) -> tuple[int, int]:
    """Send "holds lifted" to every order in flight waiting on a hold of `stages`. Returns (signalled, missed).

    A missed order is not lost: it reads its hold again at its recheck. Once
    Temporal is unreachable the rest are not tried (each would wait in vain).
    """
    waiting = list(Order.objects.filter(hold_stage__in=list(stages)).exclude(status__in=states.TERMINAL).values_list("pk", flat=True))
    signalled = 0
    for index, order_id in enumerate(waiting):
        try:
            order_calls.signal_order(order_id, m.SIGNAL_HOLDS_LIFTED, m.HoldsLifted(by=by))
        except WorkflowNotFound:
            continue
        except TemporalUnavailable as err:
            log.warning("Holds lifted: %d orders not signalled (Temporal: %s); they recheck their hold", len(waiting) - index, err)
            return signalled, len(waiting) - signalled
        signalled += 1
    return signalled, len(waiting) - signalled


def hold_read(order_id: int, stage: str) -> m.HoldResult:
    """Whether the order must wait before `stage`: fulfilment while staff paused it, payment while its breaker is open."""
    recheck = settings.ORDER_DESK_HOLD_RECHECK_SECONDS
    if stage == m.STAGE_FULFILMENT:
        pause = fulfilment_pause_state()
        if pause.paused:
            return m.HoldResult(held=True, reason=pause.reason, by=pause.by, since=pause.since.isoformat() if pause.since else "",
                                recheck_seconds=recheck)
        return m.HoldResult(held=False, recheck_seconds=recheck)
    if stage == m.STAGE_PAYMENT:
        return breaker.hold_for(m.PROVIDER_PAYMENTS)
    return m.HoldResult(held=False, recheck_seconds=recheck)


def holds_in_force() -> tuple[FulfilmentPause | None, list]:
    """For the banner and the operations page: the pause if paused, and the breakers not closed."""
    pause = fulfilment_pause_state()
    return (pause if pause.paused else None), breaker.open_breakers()

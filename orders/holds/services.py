"""Holds on fulfilment and payment: staff pause and resume fulfilment; the
payments breaker holds charging by itself (orders.holds.breaker). Workflows ask
`hold_read` (activity read_hold) before charging and before fulfilment,
and wait while held; a resume wakes the orders waiting, which the mirror
knows from their "hold" / "hold_released" entries (Order.hold_stage).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders.exceptions import OrderError
from orders.holds import breaker
from orders.holds.models import FulfilmentPause, HoldEvent
from orders.holds.waiting import holds_lifted_signal
from temporal_bridge.order import holds, payments
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
    """Whether the order must wait before `stage`: fulfilment while staff paused it, payment while its breaker is open."""
    recheck = settings.ORDER_DESK_HOLD_RECHECK_SECONDS
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

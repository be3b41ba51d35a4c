"""Service levels: how long an order spent in each stage against its targets,
which stages overran, and when it should be done.

One pure function for both sides: the workflow's query (its own list of
transitions) and the database mirror (the statuses its timeline entries
carried) give the same report. Free of Django and of I/O, because the
workflow sandbox imports it: standard library and the bridge's Django-free
modules only.

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporal_bridge.contract.payload_types import resolve_annotations
from temporal_bridge.order import states


@dataclass
class ServiceLevelTargets:
    """Target seconds an order may spend in each stage; 0 means no target."""

    approval_seconds: float = 24 * 3600
    processing_seconds: float = 3600
    fulfilment_seconds: float = 4 * 3600
    delivery_seconds: float = 5 * 24 * 3600


@dataclass
class ServiceLevelReport:
    # Seconds spent so far in each stage that was entered ("approval", ...).
    seconds_in_stage: dict[str, float] = field(default_factory=dict)
    breached: list[str] = field(default_factory=list)
    estimated_completion: str | None = None


APPROVAL, PROCESSING, FULFILMENT, DELIVERY = "approval", "processing", "fulfilment", "delivery"

# The way an order travels; delivery only for orders whose parcel is tracked.
STAGES = (APPROVAL, PROCESSING, FULFILMENT, DELIVERY)
STAGE_LABELS = {APPROVAL: "Approval", PROCESSING: "Processing", FULFILMENT: "Fulfilment", DELIVERY: "Delivery"}

# The stage whose clock runs while the order is in each state. A fraud hold
# counts against processing: the customer waits all the same. Terminal states
# stop every clock.
STAGE_OF_STATE = {
    states.PENDING_APPROVAL: APPROVAL,
    states.APPROVED: PROCESSING,
    states.PROCESSING: PROCESSING,
    states.ON_HOLD: PROCESSING,
    states.FULFILLING: FULFILMENT,
    states.PARTIALLY_SHIPPED: FULFILMENT,  # its next part is being packed
    states.IN_TRANSIT: DELIVERY,
}
BREACH_PREFIX = "Service level breached: "


def stage_of(state: str) -> str | None:
    return STAGE_OF_STATE.get(state)


def target_seconds(targets: ServiceLevelTargets, stage: str) -> float:
    """The stage's target in seconds; 0 means none."""
    return float(getattr(targets, f"{stage}_seconds", 0) or 0)


def report(transitions: list[tuple[str, str]], now: datetime, targets: ServiceLevelTargets, *,
           track_delivery: bool) -> ServiceLevelReport:
    """The service-level report of an order whose states were `transitions`
    ((state, ISO time entered), oldest first), as of `now` (timezone-aware).

    A stage entered twice (a question sent the order back to approval) counts
    both stays. A stage still running counts up to `now` and is breached as
    soon as it is over its target, before it ends. The estimate is `now` plus
    what is left of the current stage's target plus the targets of the stages
    ahead; None once the order is finished (or before it has a state).
    """
    seconds: dict[str, float] = {}
    entered = [(state, _aware(at)) for state, at in transitions]
    for index, (state, since) in enumerate(entered):
        stage = stage_of(state)
        if stage is None:
            continue
        until = entered[index + 1][1] if index + 1 < len(entered) else now
        seconds[stage] = seconds.get(stage, 0.0) + max(0.0, (until - since).total_seconds())
    breached = [s for s in STAGES if s in seconds and 0 < target_seconds(targets, s) < seconds[s]]
    current = entered[-1][0] if entered else None
    estimate = None
    stage = stage_of(current) if current is not None and current not in states.TERMINAL else None
    if stage is not None:
        ahead = _stages(track_delivery)
        ahead = ahead[ahead.index(stage) + 1:] if stage in ahead else []
        left = max(0.0, target_seconds(targets, stage) - seconds.get(stage, 0.0))
        left += sum(target_seconds(targets, s) for s in ahead)
        estimate = (now + timedelta(seconds=left)).isoformat()
    return ServiceLevelReport(seconds_in_stage={s: round(seconds[s], 3) for s in STAGES if s in seconds},
                              breached=breached, estimated_completion=estimate)


def breach_text(stage: str, targets: ServiceLevelTargets) -> str:
    """The timeline entry written when `stage` overruns: "Service level breached: approval over 24 h".

    The mirror reads the stage back with `breached_stage`: keep the two together.
    """
    return f"{BREACH_PREFIX}{stage} over {duration_text(target_seconds(targets, stage))}"


def breached_stage(message: str) -> str | None:
    """The stage a breach entry (breach_text) names; None for any other message."""
    if not message.startswith(BREACH_PREFIX):
        return None
    stage = message[len(BREACH_PREFIX):].split(" ", 1)[0]
    return stage if stage in STAGES else None


def duration_text(seconds: float) -> str:
    """A target or a stay for people: "45 min", "24 h", "1.5 h", "5 days"."""
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds >= 48 * 3600 and seconds % 86400 == 0:
        return f"{seconds / 86400:.0f} days"
    return f"{seconds / 3600:.3g} h" if seconds < 100 * 3600 else f"{seconds / 3600:.0f} h"


def _stages(track_delivery: bool) -> list[str]:
    return [s for s in STAGES if track_delivery or s != DELIVERY]


def _aware(at: str) -> datetime:
    moment = datetime.fromisoformat(at)
    # Times without a zone come from our own UTC clocks.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


resolve_annotations(globals())  # after the last class: see temporal_bridge.contract.payload_types

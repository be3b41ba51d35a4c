"""Messages of holds: fulfilment paused by staff, charging held by an open
breaker or a fraud alert; the hold entries' wording and the stage read back
from it.

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

from dataclasses import dataclass

ACT_READ_HOLD = "read_hold"

# Sent to every order waiting on a hold when staff resume (or a breaker closes):
# the workflow reads the hold again at once instead of at its next recheck.
SIGNAL_HOLDS_LIFTED = "holds_lifted"
STAGE_PAYMENT, STAGE_FULFILMENT = "payment", "fulfilment"


@dataclass
class HoldInput:
    order_id: int
    stage: str


@dataclass
class HoldsLifted:
    by: str = ""


# A manager's answer to a fraud hold: release it (cancel uses the cancel signal).
SIGNAL_RELEASE_HOLD = "release_hold"


@dataclass
class HoldResult:
    """Whether a stage of the order is held: a paused fulfilment, an open
    circuit breaker. Read by ACT_READ_HOLD, and with the step before the
    stage (ReserveResult.hold: the payment; PaymentResult.hold: the
    fulfilment), so an order that meets no hold pays no extra activity."""

    held: bool
    reason: str = ""
    by: str = ""
    since: str = ""
    # How long to wait before reading the hold again if no signal comes.
    recheck_seconds: float = 300.0


KIND_HOLD, KIND_HOLD_RELEASED = "hold", "hold_released"
HELD_PREFIX, RELEASED_PREFIX = "Held: ", "Released: "
HOLD_STAGES = (STAGE_PAYMENT, STAGE_FULFILMENT)

# What the mirror records for a hold entry whose stage it cannot read.
STAGE_UNKNOWN = "unknown"


def held_text(stage: str, hold: HoldResult) -> str:
    """"Held: fulfilment paused by alice: warehouse outage"."""
    by = f" by {hold.by}" if hold.by else ""
    reason = f": {hold.reason}" if hold.reason else ""
    return f"{HELD_PREFIX}{stage} paused{by}{reason}"


def released_text(stage: str, by: str = "") -> str:
    """"Released: fulfilment resumed by bob"."""
    return f"{RELEASED_PREFIX}{stage} resumed" + (f" by {by}" if by else "")


def hold_stage(message: str) -> str | None:
    """The stage a hold or release entry names; None for any other message."""
    for prefix in (HELD_PREFIX, RELEASED_PREFIX):
        if message.startswith(prefix):
            stage = message[len(prefix):].split(" ", 1)[0]
            return stage if stage in HOLD_STAGES else None
    return None

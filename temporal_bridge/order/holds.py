"""Messages of holds: fulfilment paused by staff, charging held by an open
breaker or a fraud alert, an order waiting for finance's credit review; the
hold entries' wording and the stage read back from it.

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from temporal_bridge.contract.payload_types import resolve_annotations
from temporal_bridge.order.records import MirrorInput

ACT_READ_HOLD = "read_hold"

# Sent to every order waiting on a hold when staff resume (or a breaker closes):
# the workflow reads the hold again at once instead of at its next recheck.
SIGNAL_HOLDS_LIFTED = "holds_lifted"
STAGE_PAYMENT, STAGE_FULFILMENT = "payment", "fulfilment"
# Before stock is reserved: the customer's open balance with this order must
# stay within their credit limit (orders.holds.services states the rule).
STAGE_CREDIT = "credit"
# Holds that wait on people, not on the desk: the order is on hold while they
# last, and in the inbox of those who may end them.
ON_HOLD_STAGES = (STAGE_CREDIT,)


@dataclass
class HoldInput:
    order_id: int
    stage: str
    # Timeline entries written in the read's transaction, before it (the credit
    # check: from then on the order counts as approved for the customer's others).
    entries: list[MirrorInput] = field(default_factory=list)


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
CREDIT_HELD_PREFIX = "Held for credit review: "
HOLD_STAGES = (STAGE_PAYMENT, STAGE_FULFILMENT, STAGE_CREDIT)

# What the mirror records for a hold entry whose stage it cannot read.
STAGE_UNKNOWN = "unknown"


def held_text(stage: str, hold: HoldResult) -> str:
    """"Held: fulfilment paused by alice: warehouse outage"; "Held for credit review: open balance ..."."""
    if stage == STAGE_CREDIT:
        return f"{CREDIT_HELD_PREFIX}{hold.reason}"
    by = f" by {hold.by}" if hold.by else ""
    reason = f": {hold.reason}" if hold.reason else ""
    return f"{HELD_PREFIX}{stage} paused{by}{reason}"


def released_text(stage: str, by: str = "", hold: HoldResult | None = None) -> str:
    """"Released: fulfilment resumed by bob"; "Released: credit review passed: open balance ...".

    A credit hold ends on what the database says (`hold`, the last read), never
    on who sent the wake-up: anyone reaching Temporal can send that.
    """
    if stage == STAGE_CREDIT:
        return f"{RELEASED_PREFIX}{stage} review passed" + (f": {hold.reason}" if hold and hold.reason else "")
    return f"{RELEASED_PREFIX}{stage} resumed" + (f" by {by}" if by else "")


def credit_reason(open_balance: Decimal, total: Decimal, limit: Decimal) -> str:
    """"open balance 12,400.00 + this order 3,000.00 exceeds the credit limit 10,000.00" (or "is within")."""
    verdict = "exceeds" if open_balance + total > limit else "is within"
    return f"open balance {open_balance:,.2f} + this order {total:,.2f} {verdict} the credit limit {limit:,.2f}"


def hold_stage(message: str) -> str | None:
    """The stage a hold or release entry names; None for any other message."""
    if message.startswith(CREDIT_HELD_PREFIX):
        return STAGE_CREDIT
    for prefix in (HELD_PREFIX, RELEASED_PREFIX):
        if message.startswith(prefix):
            stage = message[len(prefix):].split(" ", 1)[0]
            return stage if stage in HOLD_STAGES else None
    return None


resolve_annotations(globals())  # after the last class: see temporal_bridge.contract.payload_types

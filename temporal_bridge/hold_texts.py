"""The wording of an order's hold entries ("Held: ...", "Released: ..."), and
the stage read back from it.

The workflow writes these entries (kinds "hold" and "hold_released"); the
mirror learns from them which orders wait on a hold, so that a resume can
signal exactly those. Django-free: the workflow sandbox imports it.
"""
from __future__ import annotations

from temporal_bridge.messages_outside import STAGE_FULFILMENT, STAGE_PAYMENT, HoldResult

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

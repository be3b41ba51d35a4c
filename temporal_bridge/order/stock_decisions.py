"""Lines no warehouse holds: the person's choice per line (drop it or
backorder it; cancelling is the ordinary cancel), the wake-up a restock
sends, the activity that records a choice, and the words on the timeline.

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from temporal_bridge.approvals.messages import ApprovalRule
from temporal_bridge.contract.decoding import Refused, display, single_object, text_field
from temporal_bridge.contract.payload_types import resolve_annotations
from temporal_bridge.order import messages as m
from temporal_bridge.order.records import StepRecord, TimelineEntry
from temporal_bridge.order.split_plan import PlannedLine

# The requester or a clerk who may change orders chooses, per unavailable line.
SIGNAL_STOCK_DECISION = "stock_decision"
# A restock happened (the admin's stock receipt, the inventory webhook): the
# order checks the database again. Carries nothing that counts, so it is not
# confirmed: anyone may send it, and all it costs is one reservation attempt.
SIGNAL_STOCK_ARRIVED = "stock_arrived"
ACT_APPLY_STOCK_DECISION = "apply_stock_decision"

DROP, BACKORDER = "drop", "backorder"
CHOICES = (DROP, BACKORDER)
MAX_CHOICES = 100  # far more lines than an order has: a bound on what a message may carry

# Timeline kinds: the order starts and stops waiting for a person's stock decision (the mirror's flag follows them).
KIND_STOCK_WAIT = "stock_wait"
KIND_STOCK_DECIDED = "stock_decided"
WAITING_STEP = "Waiting for a stock decision"


@dataclass
class StockDecisionSignal:
    actor: str
    request_id: str
    # Product id (as text: JSON object keys) -> "drop" or "backorder", one per unavailable line.
    choices: dict[str, str] = field(default_factory=dict)


@dataclass
class StockDecisionInput:
    """Record what becomes of the unavailable lines: dropped (the total lowered), backordered until a date, or filled."""

    order_id: int
    actor: str
    dropped: list[PlannedLine] = field(default_factory=list)
    backordered: list[PlannedLine] = field(default_factory=list)
    filled: list[PlannedLine] = field(default_factory=list)
    backorder_until: str | None = None
    # Why the lines are dropped, for the timeline ("chosen by clerk", "not restocked by ...").
    why: str = ""
    record: StepRecord | None = None


@dataclass
class StockDecisionResult:
    total: str
    lines_left: int
    # The approval rule the remaining total falls under: another one than the approvers met means approve again.
    rule: ApprovalRule | None = None
    recorded: list[TimelineEntry] = field(default_factory=list)


def rule_key(rule: ApprovalRule) -> tuple[int | None, bool, int, bool]:
    """What makes two approval rules the same rule for the people who approve (not its times)."""
    return rule.policy_id, rule.auto_approve, rule.approvals_required, rule.requires_senior


def parse_stock_decision(args: Sequence[Any]) -> StockDecisionSignal:
    payload = single_object(args, "Stock decision")
    try:
        actor = text_field(payload, "actor", m.MAX_ACTOR, required=True)
        request_id = text_field(payload, "request_id", m.MAX_REQUEST_ID, required=True)
    except Refused as err:
        raise Refused(f"Stock decision refused: {err.reason}") from None
    assert actor is not None and request_id is not None
    actor = actor.strip()
    choices = payload.get("choices")
    if not isinstance(choices, dict) or not choices or len(choices) > MAX_CHOICES:
        raise Refused(f"Stock decision by {display(actor)} refused: no choice per line", actor=actor)
    for key, value in choices.items():
        if not (isinstance(key, str) and key.isdigit() and len(key) <= 18) or value not in CHOICES:
            raise Refused(f"Stock decision by {display(actor)} refused: {display(str(key))} → {display(str(value))} is not a choice",
                          actor=actor)
    return StockDecisionSignal(actor=actor, request_id=request_id, choices={key: str(value) for key, value in sorted(choices.items())})


def waiting_text(unavailable_text: str) -> str:
    return (f"Waiting for a stock decision: no warehouse holds {unavailable_text}; the requester or a clerk chooses per line "
            "to drop it, backorder it, or cancel the order")


resolve_annotations(globals())  # after the last class: see temporal_bridge.contract.payload_types

"""The order's timeline records: the entries a workflow keeps and the writes that
carry them to the database mirror. Every domain's step results carry these.

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from temporal_bridge.contract.payload_types import resolve_annotations


def timeline_key(index: int, kind: str) -> str:
    """The mirror's idempotency key of the timeline entry at `index`.

    Entry 0 is always the submission, which order_submit writes itself.
    """
    return f"{index:04d}-{kind}"


def key_position(key: str) -> int:
    """The position in a timeline key ("0012-note" -> 12); -1 for other keys (and "")."""
    number = key.partition("-")[0]
    return int(number) if number.isdigit() else -1


@dataclass
class TimelineEntry:
    at: str
    kind: str
    message: str
    actor: str = ""
    # The entry's key in the database mirror.
    key: str = ""


@dataclass
class OrderRef:
    order_id: int
    # The step writes its timeline entry (and those waiting) with its effect.
    record: StepRecord | None = None


@dataclass
class MirrorInput:
    """One transition or timeline entry to write to the database mirror."""

    order_id: int
    idempotency_key: str
    kind: str
    message: str
    actor: str = ""
    status: str | None = None
    progress: int | None = None
    tracking_number: str | None = None
    failure_reason: str | None = None
    approval_deadline: str | None = None
    escalated: bool | None = None
    # When the workflow appended it; None: when it is written.
    at: str | None = None


@dataclass
class EntriesInput:
    """Timeline entries to write together, in one transaction."""

    order_id: int
    entries: list[MirrorInput]


@dataclass
class StepRecord:
    """What a business step writes beside its effect, in the same transaction.

    `before`: entries appended since the last write (pure state changes such
    as "approved" and "processing"), written first. `key`: the key the
    workflow assigned to the step's own entry, whose words the activity
    knows from its result. `after`: entries that must follow it (the
    terminal state after the customer's email).
    """

    key: str
    kind: str
    before: list[MirrorInput] = field(default_factory=list)
    after: list[MirrorInput] = field(default_factory=list)
    # Decisions the workflow accepted since the last step (recorded intents):
    # written in the same transaction.
    decisions: list[DecisionInput] = field(default_factory=list)


@dataclass
class DecisionInput:
    order_id: int
    actor: str
    decision: str
    comment: str
    request_id: str
    senior: bool = False
    on_behalf_of: str = ""
    # Timeline entries written with the decision, in its transaction (the approval tally).
    entries: list[MirrorInput] = field(default_factory=list)
    # A withdrawal (decision "withdrawn"): the request id of the approval it takes back.
    withdraws: str = ""


resolve_annotations(globals())  # after the last class: see temporal_bridge.contract.payload_types

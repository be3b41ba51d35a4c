"""Messages of an order's activities: their inputs and results, and the
timeline entries they write.

Each business step (reserve, charge, fulfil, ship, notify and the
compensations) writes its own timeline entry in the transaction of its
effect: its input carries a StepRecord (the key the workflow assigned, and the
entries waiting to be written), its result the entries it wrote, which the
workflow adds to its own timeline as they are. The words of each step's
entry are here too, beside the activity's result they describe.

Plain dataclasses, re-exported by temporal_bridge.messages; free of Django.
"""
from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass
class ActorCheckInput:
    """Ask the database whether `actor` may take `action` on the order now."""

    order_id: int
    actor: str
    action: str  # one of the ACTION_* names
    # Also: whether a delegation from this person to `actor` stands now.
    on_behalf_of: str = ""


@dataclass
class ActorCheckResult:
    allowed: bool
    reason: str = ""
    # Holds the senior-approver permission now (the message's claim is ignored).
    senior: bool = False


@dataclass
class UpdateInput:
    order_id: int
    actor: str
    request_id: str
    priority: str | None = None
    shipping_address: str | None = None
    note: str | None = None
    # The address changed after approvals were given: those no longer count.
    reapproval: bool = False
    # The timeline entry saying what changed, written in the update's transaction.
    entries: list[MirrorInput] = field(default_factory=list)


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


@dataclass
class ReserveResult:
    lines_reserved: int
    units_reserved: int
    # The timeline entries the step wrote for its own keys, as written.
    recorded: list[TimelineEntry] = field(default_factory=list)
    # Whether payments are held (the provider's circuit breaker is open).
    hold: HoldResult | None = None


@dataclass
class ReleaseResult:
    units_released: int
    # The timeline entries the step wrote for its own keys, as written.
    recorded: list[TimelineEntry] = field(default_factory=list)


@dataclass
class PaymentInput:
    order_id: int
    idempotency_key: str
    # The step writes its timeline entry (and those waiting) with its effect.
    record: StepRecord | None = None


@dataclass
class PaymentResult:
    amount: str
    currency: str
    provider_reference: str
    # The timeline entries the step wrote for its own keys, as written.
    recorded: list[TimelineEntry] = field(default_factory=list)
    # "captured", or "requires_confirmation": the provider confirms (or
    # fails) the payment later, by webhook (messages_outside.PaymentEvent).
    status: str = "captured"
    # Whether fulfilment is held, read in the charge's transaction.
    hold: HoldResult | None = None


@dataclass
class FulfilInput:
    order_id: int
    steps: int
    step_seconds: float
    # The entries waiting ("fulfilling" among them), written as the work
    # starts. The fulfilment's own entry is not written by it: a cancel can
    # win the race with its end, and then the workflow does not count it.
    first: list[MirrorInput] = field(default_factory=list)


@dataclass
class FulfilResult:
    steps_done: int


@dataclass
class ShipResult:
    tracking_number: str
    carrier: str
    # The timeline entries the step wrote for its own keys, as written.
    recorded: list[TimelineEntry] = field(default_factory=list)


@dataclass
class NotifyInput:
    order_id: int
    kind: str
    idempotency_key: str
    reason: str = ""
    # The step writes its timeline entry (and those waiting) with its effect.
    record: StepRecord | None = None


@dataclass
class NotifyResult:
    sent: bool
    # The timeline entries the step wrote for its own keys, as written.
    recorded: list[TimelineEntry] = field(default_factory=list)


# --- What each step says on the timeline -------------------------------------------
# One wording per step, used by the activity that writes the entry.

def reserved_text(result: ReserveResult) -> str:
    return f"Reserved {result.units_reserved} units on {result.lines_reserved} lines"


def charged_text(result: PaymentResult) -> str:
    if result.status == "requires_confirmation":
        return (f"Payment of {result.amount} {result.currency} submitted (ref {result.provider_reference}); "
                "waiting for the provider's confirmation")
    return f"Charged {result.amount} {result.currency} (ref {result.provider_reference})"


def refunded_text(result: PaymentResult) -> str:
    return f"Refunded {result.amount} {result.currency} (ref {result.provider_reference})"


def released_text(result: ReleaseResult) -> str:
    return f"Released {result.units_released} reserved units"


def shipped_text(result: ShipResult) -> str:
    return f"Shipped with {result.carrier}, tracking number {result.tracking_number}"


def emailed_text(kind: str) -> str:
    return f"Customer emailed ({kind})"


FULFILLED_TEXT = "Fulfilment complete"


"""An order's own messages: the workflow's input and state, people's signals, the
snapshot and verdict queries, the decisions and updates its activities record.

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from temporal_bridge.approvals.messages import ApprovalProgress, ApprovalRule
from temporal_bridge.contract.payload_types import resolve_annotations
from temporal_bridge.order import states
from temporal_bridge.order.discussion import QuestionSignal
from temporal_bridge.order.fulfilment_states import ShippedParcel
from temporal_bridge.order.payments import PROVIDER_PAYMENTS
from temporal_bridge.order.records import DecisionInput, MirrorInput, TimelineEntry
from temporal_bridge.order.service_levels import ServiceLevelReport, ServiceLevelTargets
from temporal_bridge.order.split_plan import PlannedLine
from temporal_bridge.shipment.messages import PROVIDER_CARRIER

# Names of activities, signals and queries, shared by the workflow (which calls
# activities by name so it never imports Django code) and the worker.
WORKFLOW_NAME = "OrderWorkflow"

# Several timeline entries in one transaction (what waited for a write, and the new entry).
ACT_RECORD_ENTRIES = "record_order_entries"
ACT_RECORD_DECISION = "record_decision"
ACT_APPLY_UPDATE = "apply_order_update"
SIGNAL_APPROVE = "approve"
SIGNAL_REJECT = "reject"
SIGNAL_CANCEL = "cancel"
SIGNAL_UPDATE = "update"
SIGNAL_PROGRESS = "report_progress"
QUERY_SNAPSHOT = "snapshot"

# The workflow's verdict on one request id (a RequestVerdict).
QUERY_VERDICT = "verdict"

# Verdicts on a person's request, as the POST's answer shows them.
VERDICT_ACCEPTED = "accepted"
VERDICT_REFUSED = "refused"

# Received; the actor's identity is being checked against the database.
VERDICT_CHECKING = "checking"

# Not (yet) seen by the workflow: no worker has processed it.
VERDICT_UNKNOWN = "unknown"

# The most verdicts a run keeps (and carries over continue-as-new): a sender
# repeating requests must not grow the state without bound.
MAX_VERDICTS = 500

# Caps on the text a message may carry, equal to what the models and forms
# allow (tests/temporal_bridge/order/test_message_checks.py holds them together):
# no activity input or query result can approach the payload limit.
MAX_ACTOR = 150
MAX_REQUEST_ID = 64
MAX_COMMENT = 500
MAX_ADDRESS = 500
MAX_NOTE = 1000
PRIORITIES = ("low", "normal", "high", "urgent")
ERR_ORDER_NOT_FOUND = "OrderNotFound"

# Actions a snapshot may allow; the views show a button for each.
ACTION_APPROVE = states.APPROVE
ACTION_REJECT = states.REJECT
ACTION_CANCEL = states.CANCEL
ACTION_UPDATE = states.UPDATE


def workflow_id_for(order_id: int) -> str:
    return f"order-{order_id}"


def order_id_from_workflow_id(workflow_id: str) -> int | None:
    """The order of an order workflow's id ("order-12" -> 12); None for any other id."""
    prefix, _, number = workflow_id.partition("-")
    return int(number) if prefix == "order" and number.isdigit() else None


@dataclass
class OrderWorkflowInput:
    order_id: int
    order_number: str
    total: str
    currency: str
    requested_by: str
    requires_approval: bool
    approval_deadline_seconds: float
    fulfilment_steps: int = 10
    fulfilment_step_seconds: float = 1.0
    priority: str = "normal"
    shipping_address: str = ""
    note: str = ""
    # The approval policy in force at submission (see ApprovalRule). None in
    # inputs of orders submitted before policies existed.
    approval_rule: ApprovalRule | None = None
    # Continue-as-new: the state of the previous run (None on the first run),
    # and a history length at which to continue even before the server
    # suggests it (0 = only when the server suggests; tests set it low).
    carried: OrderState | None = None
    continue_as_new_after_events: int = 0
    # When the order was submitted (its mirror's entry 0 has this time, so the
    # workflow's has too); None in older inputs: the first task's time.
    submitted_at: str | None = None
    # The desk wrote the gate's first note ("Awaiting …, due by …", entry 1)
    # and the order's approval deadline with the order, counted from
    # `submitted_at`: the workflow adds the note as written (no activity).
    # False in older inputs, and for auto-approved orders.
    awaiting_noted: bool = False
    # Service-level targets per stage (None: no targets).
    service_levels: ServiceLevelTargets | None = None
    # Follow the parcel until the carrier says it is delivered (a shipment
    # child workflow); off where no carrier sends webhooks, so an order ends
    # at `fulfilled` as before.
    track_delivery: bool = False
    delivery_promise_days: float = 5.0
    carrier: str = ""
    # How long a payment that needs the provider's confirmation may wait for its webhook.
    payment_confirmation_timeout_seconds: float = 24 * 3600
    # Lines no warehouse holds: how long the order waits for a person's choice
    # (then it fails, compensated), how long a backorder waits for a restock
    # (then the line is dropped), and how often it reads the stock meanwhile
    # if no restock wakes it.
    stock_decision_timeout_seconds: float = 7 * 24 * 3600
    backorder_wait_seconds: float = 14 * 24 * 3600
    restock_recheck_seconds: float = 6 * 3600


@dataclass
class CarriedApproval:
    actor: str
    senior: bool


@dataclass
class OrderState:
    """Everything an order's workflow knows: what the query shows and every
    rule needs. Continue-as-new hands it whole to the next run, which is then
    indistinguishable from the old one. Fields added after 1.0 take defaults,
    so a state carried by a run of the release before still decodes.
    """

    submitted_at: str
    timeline: list[TimelineEntry]
    decisions: list[DecisionRecord]
    # request_id -> signal name; a repeated POST is recognised and ignored.
    seen_requests: dict[str, str]
    # The approvals that count, in the order accepted.
    approvals: list[CarriedApproval]
    priority: str
    shipping_address: str
    note: str
    reminded: bool = False
    escalated: bool = False
    runs: int = 1
    # A rejection or a cancel accepted (None until one is).
    rejection: DecisionSignal | None = None
    cancel: CancelSignal | None = None
    # The verdicts given so far, newest last at most MAX_VERDICTS.
    verdicts: list[RequestVerdict] = field(default_factory=list)
    # --- The rest of what the order knows (defaults are a run's start) ---
    state: str = states.PENDING_APPROVAL
    step: str = "Waiting for submission"
    progress: int = 0
    # The approval gate's due times (ISO 8601), for the query.
    deadline: str | None = None
    remind_at: str | None = None
    escalate_at: str | None = None
    tracking_number: str = ""
    failure_reason: str = ""
    # Set when the address changes after the approval: approve again before shipping.
    reapproval_reason: str = ""
    # 1, then one more per re-approval (their reminders are new emails).
    approval_round: int = 1
    # Compensations for the steps done so far, run in reverse on cancel or failure.
    compensations: list[str] = field(default_factory=list)
    fulfilment_done: bool = False
    # The position the next timeline entry takes (its key's number); None
    # before the first entry: the timeline's length.
    next_position: int | None = None
    # Timeline entries not yet in the database: pure state changes wait for
    # the next business step, which writes them in its own transaction.
    unwritten: list[MirrorInput] = field(default_factory=list)
    # --- Questions, holds, payments confirmed later, delivery, service levels ---
    # The question waiting for the requester's answer, and when it was asked.
    question: QuestionSignal | None = None
    question_asked_at: str | None = None
    # The approval clock: an answer that edits the order restarts it (at
    # clock_started_at); while a question waits, it stands still, and the
    # time it stood still pushes every due time back (clock_paused_seconds).
    clock_started_at: str | None = None
    clock_paused_seconds: float = 0.0
    # Why the order waits on a hold ("" when it doesn't), and a fraud alert's reason.
    hold_reason: str = ""
    fraud_alert: str = ""
    # The state a fraud hold interrupted, to return to on release.
    held_from: str = ""
    # The payment provider's reference, and the provider events applied (ids, newest last, bounded).
    payment_reference: str = ""
    payment_outcome: str = ""
    # The provider's event that gave the outcome: the settle step checks the desk received it, signed.
    payment_event_id: str = ""
    seen_event_ids: list[str] = field(default_factory=list)
    # (state, entered at) for the service levels, and the stages whose target passed.
    transitions: list[StateTransition] = field(default_factory=list)
    breached: list[str] = field(default_factory=list)
    parcel_status: str = ""
    # A split order's parcels, one per warehouse, each followed by its own shipment workflow (none: one parcel).
    parcels: list[ShippedParcel] = field(default_factory=list)
    # How many warehouses the reservation chose: more than one, and each part is packed and shipped on its own.
    fulfilments_planned: int = 0
    # --- Refused messages, per kind (order_workflow/refusals.py): all counted, and those not yet summarised ---
    refusals: dict[str, int] = field(default_factory=dict)
    refusals_unreported: dict[str, int] = field(default_factory=dict)
    # Decisions accepted and not yet in the database: the next business step writes them.
    unwritten_decisions: list[DecisionInput] = field(default_factory=list)
    # --- Lines no warehouse holds (workflow/stock_wait.py) ---
    # The lines waiting for a choice, then for a restock; the choice (product id -> drop/backorder) and who made it.
    unavailable: list[PlannedLine] = field(default_factory=list)
    stock_choices: dict[str, str] = field(default_factory=dict)
    stock_decided_by: str = ""
    # A restock's wake-up arrived: read the stock again.
    stock_woken: bool = False


@dataclass
class StateTransition:
    state: str
    at: str


@dataclass
class DecisionSignal:
    """Approve or reject. A reject needs a reason in `comment`."""

    actor: str
    request_id: str
    comment: str = ""
    # Whether the actor holds the senior-approver permission; the sender (a
    # service that knows permissions) says so, the workflow cannot look it up.
    senior: bool = False
    # The delegator the actor stands in for (a delegation); "" for oneself.
    on_behalf_of: str = ""


@dataclass
class CancelSignal:
    actor: str
    request_id: str
    reason: str


@dataclass
class UpdateSignal:
    """Change details of an order in flight; None leaves a field as it is."""

    actor: str
    request_id: str
    priority: str | None = None
    shipping_address: str | None = None
    note: str | None = None


@dataclass
class FulfilmentProgress:
    """Sent by the fulfilment activity to its own workflow after each step."""

    percent: int
    step: str


@dataclass
class RequestVerdict:
    """What the workflow made of one request id: accepted, refused (and why),
    still being checked, or unknown (not received yet)."""

    request_id: str
    status: str
    reason: str = ""
    action: str = ""


@dataclass
class DecisionRecord:
    actor: str
    decision: str
    comment: str
    at: str
    request_id: str
    senior: bool = False
    # Who the actor decided for, under a delegation ("" when for themselves).
    on_behalf_of: str = ""
    # An approval its approver took back while the order still waited: it
    # no longer counts, and stays on record, marked.
    withdrawn: bool = False


@dataclass
class OrderSnapshot:
    order_id: int
    number: str
    state: str
    step: str
    progress: int
    requires_approval: bool
    approval_deadline: str | None
    priority: str
    shipping_address: str
    note: str
    tracking_number: str = ""
    failure_reason: str = ""
    cancel_requested: bool = False
    decisions: list[DecisionRecord] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    allowed_actions: list[str] = field(default_factory=list)
    # Quorum, deadlines and escalation of the approval gate; None before it applies.
    approval: ApprovalProgress | None = None
    # The run takes comments and questions; the question waiting for the
    # requester's answer ("" when none) and who asked it.
    questions: bool = False
    open_question: str = ""
    question_by: str = ""
    # Why the order waits on a hold ("" when it doesn't): a paused
    # fulfilment, an open circuit breaker, a fraud alert.
    hold_reason: str = ""
    # Time in each stage, breaches and the estimated completion (None without targets).
    service_levels: ServiceLevelReport | None = None
    # Where the parcel is (a carrier status: messages_outside.PARCEL_*), "" before shipping or untracked.
    parcel_status: str = ""
    # The lines the order waits on: for a person's stock decision (none chosen yet) or for a restock.
    unavailable: list[PlannedLine] = field(default_factory=list)
    stock_decision_open: bool = False
    # A split order's parcels (warehouse, tracking number, status); none for an order shipped as one parcel.
    parcels: list[ShippedParcel] = field(default_factory=list)


PROVIDERS = (PROVIDER_PAYMENTS, PROVIDER_CARRIER)
MAX_EVENT_ID = 100


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


resolve_annotations(globals())  # after the last class: see temporal_bridge.contract.payload_types

"""Messages exchanged with Temporal: workflow input, signals, query result,
activity inputs and results.

Plain dataclasses, one per call, so fields can be added later without breaking
running workflows (add fields with defaults only). Free of Django: the
workflow sandbox imports this module. Money travels as a decimal string.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Names of activities, signals and queries, shared by the workflow (which calls
# activities by name so it never imports Django code) and the worker.
WORKFLOW_NAME = "OrderWorkflow"

ACT_MIRROR = "mirror_order"
ACT_RECORD_DECISION = "record_decision"
ACT_APPLY_UPDATE = "apply_order_update"
ACT_RESERVE_STOCK = "reserve_stock"
ACT_RELEASE_STOCK = "release_stock"
ACT_CHARGE_PAYMENT = "charge_payment"
ACT_REFUND_PAYMENT = "refund_payment"
ACT_FULFIL = "fulfil_order"
ACT_SHIP = "ship_order"
ACT_NOTIFY = "notify_customer"

SIGNAL_APPROVE = "approve"
SIGNAL_REJECT = "reject"
SIGNAL_CANCEL = "cancel"
SIGNAL_UPDATE = "update"
SIGNAL_PROGRESS = "report_progress"
QUERY_SNAPSHOT = "snapshot"

# Error types raised by activities as non-retryable business failures.
ERR_OUT_OF_STOCK = "OutOfStock"
ERR_PAYMENT_DECLINED = "PaymentDeclined"
ERR_ORDER_NOT_FOUND = "OrderNotFound"

# Actions a snapshot may allow; the views show a button for each.
ACTION_APPROVE = "approve"
ACTION_REJECT = "reject"
ACTION_CANCEL = "cancel"
ACTION_UPDATE = "update"


def workflow_id_for(order_id: int) -> str:
    return f"order-{order_id}"


# --- Workflow input and signals -------------------------------------------------


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


@dataclass
class DecisionSignal:
    """Approve or reject. A reject needs a reason in `comment`."""

    actor: str
    request_id: str
    comment: str = ""


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


# --- Query result -------------------------------------------------------------------


@dataclass
class TimelineEntry:
    at: str
    kind: str
    message: str
    actor: str = ""


@dataclass
class DecisionRecord:
    actor: str
    decision: str
    comment: str
    at: str
    request_id: str


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


# --- Activity inputs and results --------------------------------------------------


@dataclass
class OrderRef:
    order_id: int


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


@dataclass
class DecisionInput:
    order_id: int
    actor: str
    decision: str
    comment: str
    request_id: str


@dataclass
class UpdateInput:
    order_id: int
    actor: str
    request_id: str
    priority: str | None = None
    shipping_address: str | None = None
    note: str | None = None


@dataclass
class ReserveResult:
    lines_reserved: int
    units_reserved: int


@dataclass
class ReleaseResult:
    units_released: int


@dataclass
class PaymentInput:
    order_id: int
    idempotency_key: str


@dataclass
class PaymentResult:
    amount: str
    currency: str
    provider_reference: str


@dataclass
class FulfilInput:
    order_id: int
    steps: int
    step_seconds: float


@dataclass
class FulfilResult:
    steps_done: int


@dataclass
class ShipResult:
    tracking_number: str
    carrier: str


@dataclass
class NotifyInput:
    order_id: int
    kind: str
    idempotency_key: str
    reason: str = ""


@dataclass
class NotifyResult:
    sent: bool

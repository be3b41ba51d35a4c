"""Messages of an order's dealings with the outside world and with its
people beyond approve/reject: provider webhooks, the parcel's journey,
holds (a paused fulfilment, an open circuit breaker, a fraud alert),
service levels, and questions before deciding.

Plain dataclasses, free of Django (the workflow sandbox imports them); add
fields with defaults only. Re-exported by temporal_bridge.messages.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from temporal_bridge.messages_steps import HoldResult, StepRecord, TimelineEntry  # noqa: F401 (HoldResult re-exported)

# --- Provider webhooks -----------------------------------------------------------------------

PROVIDER_PAYMENTS = "payments"
PROVIDER_CARRIER = "carrier"
PROVIDERS = (PROVIDER_PAYMENTS, PROVIDER_CARRIER)

# A payment provider's event, delivered to the order's workflow (order-<pk>).
SIGNAL_PAYMENT_EVENT = "payment_event"
PAYMENT_SUCCEEDED, PAYMENT_FAILED, PAYMENT_FRAUD_ALERT = "succeeded", "failed", "fraud_alert"
PAYMENT_EVENT_KINDS = (PAYMENT_SUCCEEDED, PAYMENT_FAILED, PAYMENT_FRAUD_ALERT)


@dataclass
class PaymentEvent:
    # The provider's own event id: a redelivered event is applied once.
    event_id: str
    kind: str
    # The provider's payment reference (as returned by the charge step).
    reference: str = ""
    reason: str = ""
    received_at: str = ""


# A carrier's event, delivered to the order's shipment workflow.
SIGNAL_CARRIER_EVENT = "carrier_event"
PARCEL_IN_TRANSIT, PARCEL_OUT_FOR_DELIVERY, PARCEL_DELIVERED = "in_transit", "out_for_delivery", "delivered"
PARCEL_EXCEPTION, PARCEL_RETURNED = "exception", "returned"
CARRIER_EVENT_KINDS = (PARCEL_IN_TRANSIT, PARCEL_OUT_FOR_DELIVERY, PARCEL_DELIVERED, PARCEL_EXCEPTION, PARCEL_RETURNED)


@dataclass
class CarrierEvent:
    event_id: str
    status: str
    at: str = ""
    location: str = ""
    description: str = ""


# --- The parcel's journey: a child workflow of the order's -------------------------------------

SHIPMENT_WORKFLOW_NAME = "ShipmentWorkflow"
QUERY_PARCEL = "parcel"


def shipment_workflow_id(order_id: int) -> str:
    return f"order-{order_id}-shipment"


@dataclass
class ShipmentState:
    status: str = "shipped"
    events: list[CarrierEvent] = field(default_factory=list)
    seen_event_ids: list[str] = field(default_factory=list)
    promise_missed: bool = False
    runs: int = 1


@dataclass
class ShipmentInput:
    order_id: int
    order_number: str
    tracking_number: str
    carrier: str
    # ISO time by which the customer was promised the parcel.
    promised_by: str
    continue_as_new_after_seconds: float = 24 * 3600
    carried: ShipmentState | None = None


@dataclass
class ShipmentResult:
    # PARCEL_DELIVERED or PARCEL_RETURNED.
    status: str
    at: str = ""


# --- Holds: a paused fulfilment, an open circuit breaker ----------------------------------------

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


# --- Service levels -----------------------------------------------------------------------------

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


# --- Questions before deciding ------------------------------------------------------------------

SIGNAL_COMMENT = "comment"
SIGNAL_ASK_REQUESTER = "ask_requester"
SIGNAL_ANSWER = "answer"
ACT_NOTIFY_DISCUSSION = "notify_discussion"


@dataclass
class CommentSignal:
    actor: str
    request_id: str
    text: str


@dataclass
class QuestionSignal:
    """An approver sends the order back to its requester with a question."""

    actor: str
    request_id: str
    question: str


@dataclass
class AnswerSignal:
    """The requester's answer; edits restart the approval under the order's rule."""

    actor: str
    request_id: str
    answer: str
    priority: str | None = None
    shipping_address: str | None = None
    note: str | None = None


@dataclass
class DiscussionNotice:
    """Email the people involved in an order about a comment, a question or an answer.

    `kind` is "comment", "question" or "answer"; the entry is written by the
    same activity (its key in `record`), so the email and the timeline agree.
    """

    order_id: int
    kind: str
    actor: str
    text: str
    record: StepRecord | None = None


def discussion_text(kind: str, actor: str, text: str) -> str:
    """The timeline's words for a comment, a question or an answer."""
    if kind == "question":
        return f"Question from {actor} for the requester: {text}"
    if kind == "answer":
        return f"Answer from {actor}: {text}"
    return f"Comment by {actor}: {text}"


@dataclass
class DiscussionResult:
    # Who was emailed, and the timeline entry as written (under record.key).
    recipients: list[str] = field(default_factory=list)
    recorded: list[TimelineEntry] = field(default_factory=list)


# Bounds on what an outsider's message may carry.
MAX_QUESTION = 1000
MAX_EVENT_ID = 100
MAX_SEEN_EVENTS = 200


# --- Settling a payment the provider confirmed (or failed) later -------------------------------

ACT_SETTLE_PAYMENT = "settle_payment"


@dataclass
class SettleInput:
    """Mark the payment confirmed ("succeeded") or failed, with its timeline entry (`record`)."""

    order_id: int
    kind: str
    reference: str = ""
    reason: str = ""
    record: StepRecord | None = None
    # The provider's event id: only an event the webhook intake received, signed, settles a payment.
    event_id: str = ""


@dataclass
class SettleResult:
    recorded: list[TimelineEntry] = field(default_factory=list)
    # False: the desk never received that event from the provider (a forged signal); nothing was written.
    received: bool = True


def settled_text(kind: str, reference: str, reason: str) -> str:
    if kind == PAYMENT_SUCCEEDED:
        return f"Payment confirmed by the provider (reference {reference})"
    return f"Payment failed at the provider: {reason or 'no reason given'}"

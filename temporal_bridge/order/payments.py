"""Messages of an order's payment: the capture and refund steps, the provider's
events (confirmation, failure, fraud alert) and their settlement.

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from temporal_bridge.contract.payload_types import resolve_annotations
from temporal_bridge.order.holds import HoldResult
from temporal_bridge.order.records import StepRecord, TimelineEntry

ACT_CHARGE_PAYMENT = "charge_payment"
ACT_REFUND_PAYMENT = "refund_payment"
ERR_PAYMENT_DECLINED = "PaymentDeclined"
PROVIDER_PAYMENTS = "payments"

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


def charged_text(result: PaymentResult) -> str:
    if result.status == "requires_confirmation":
        return (f"Payment of {result.amount} {result.currency} submitted (ref {result.provider_reference}); "
                "waiting for the provider's confirmation")
    return f"Charged {result.amount} {result.currency} (ref {result.provider_reference})"


def refunded_text(result: PaymentResult) -> str:
    return f"Refunded {result.amount} {result.currency} (ref {result.provider_reference})"


resolve_annotations(globals())  # after the last class: see temporal_bridge.contract.payload_types

"""Nothing counts that the desk did not write down first: the contract between
the services that send a message and the workflows that receive it.

Anyone who reaches the Temporal frontend can send any signal, naming any real
user or carrying any provider's event id. So:

- a person's message (approve, reject, cancel, update, comment, ask, answer,
  release a hold) counts only if the service that authorised it wrote its
  intent first: a row (order, request id, actor, on behalf of, signal, digest
  of the content) in the transaction that checked the permission, committed
  before the signal is sent;
- a provider's event (a payment confirmation, a fraud alert, a carrier's
  parcel event) counts only if the webhook intake stored it, signed, with the
  same content.

The workflow asks the database through one read-only activity
(ACT_CONFIRM_MESSAGES) that answers a batch of checks at once, so a flood of
raw signals costs a few reads, not a read each (temporal_bridge.order.confirmations).

Both sides compute the digest here, from the message as the workflow's
decoder reads it (message_checks), so a normalised field (a stripped comment)
digests the same on both sides. Free of Django and I/O: the workflow sandbox
imports it.
"""
# No `from __future__ import annotations`: the dataclasses below carry real
# types, which the workflow sandbox's converter reads without evaluating names.
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporal_bridge.order import discussion, holds, payments
from temporal_bridge.order import message_checks as checks
from temporal_bridge.order import messages as m
from temporal_bridge.order.messages import ActorCheckResult
from temporal_bridge.order.payments import PaymentEvent
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment.messages import CarrierEvent

ACT_CONFIRM_MESSAGES = "confirm_messages"

# The signals a person sends, each with the decoder the workflow reads it with.
PERSON_SIGNALS: dict[str, Callable[[Sequence[Any]], Any]] = {
    m.SIGNAL_APPROVE: lambda args: checks.parse_decision(args, "Approval"),
    m.SIGNAL_REJECT: lambda args: checks.parse_decision(args, "Rejection"),
    m.SIGNAL_CANCEL: checks.parse_cancel,
    m.SIGNAL_UPDATE: checks.parse_update,
    discussion.SIGNAL_COMMENT: checks.parse_comment,
    discussion.SIGNAL_ASK_REQUESTER: checks.parse_question,
    discussion.SIGNAL_ANSWER: checks.parse_answer,
    holds.SIGNAL_RELEASE_HOLD: lambda args: checks.parse_decision(args, "Release"),
}
# Not part of what a person asks for: who (its own columns), and a claim the workflow never trusts.
_NOT_CONTENT = ("actor", "request_id", "senior")


def _digest(kind: str, content: dict[str, Any]) -> str:
    canonical = json.dumps([kind, content], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def message_digest(signal: str, message: Any) -> str:
    """The digest of a decoded person's message: its signal and every field of its content.

    The messages are flat dataclasses: their `vars` are what `asdict` would
    give, without its deep copy (a flood digests thousands in one activation)."""
    content = {name: value for name, value in vars(message).items() if name not in _NOT_CONTENT}
    return _digest(signal, content)


def sent_digest(signal: str, payload: Any) -> str:
    """The digest of a message a service is about to send, read as the
    workflow will read it. Raises message_checks.Refused when the workflow
    would refuse it as malformed (the service's own input checks missed it)."""
    return message_digest(signal, PERSON_SIGNALS[signal]([asdict(payload)]))


def payment_event_digest(event: PaymentEvent) -> str:
    """A payment provider's event: everything but when the desk received it."""
    content = asdict(event)
    content.pop("received_at", None)
    return _digest(payments.SIGNAL_PAYMENT_EVENT, content)


def carrier_event_digest(event: CarrierEvent) -> str:
    return _digest(shipment.SIGNAL_CARRIER_EVENT, asdict(event))


def relayed_payment_event_digest(event: PaymentEvent) -> str:
    """What the workflow will digest of a payment event the intake relays."""
    return payment_event_digest(checks.parse_payment_event([asdict(event)]))


def relayed_carrier_event_digest(event: CarrierEvent) -> str:
    """What the shipment workflow will digest of a carrier event the intake relays."""
    return carrier_event_digest(checks.parse_carrier_event([asdict(event)], datetime.now(UTC)))


@dataclass
class IntentCheck:
    """Did the desk record this request, for this order, as this message? And
    may its actor still take it (the permission, the delegation, the account)?"""

    order_id: int
    signal: str
    request_id: str
    actor: str
    digest: str
    on_behalf_of: str = ""


@dataclass
class EventCheck:
    """Did the webhook intake store this provider's event, for this order, with this content?"""

    provider: str
    order_id: int
    event_id: str
    kind: str
    digest: str


@dataclass
class EventConfirmation:
    received: bool
    # Why it does not count, for the timeline ("" when it counts).
    reason: str = ""


@dataclass
class MessageChecks:
    intents: list[IntentCheck] = field(default_factory=list)
    events: list[EventCheck] = field(default_factory=list)


@dataclass
class MessageConfirmations:
    """One answer per check, in the order asked."""

    intents: list[ActorCheckResult] = field(default_factory=list)
    events: list[EventConfirmation] = field(default_factory=list)

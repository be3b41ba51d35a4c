"""The order's side of "nothing counts that the desk did not write down first"
(temporal_bridge.contract.intents): which signals a person sends, each with
the decoder the workflow reads it with, and the digests of what a service is
about to send and of a payment provider's event.

Free of Django and I/O: the workflow sandbox imports it.
"""
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from temporal_bridge.contract.intents import digest, message_digest
from temporal_bridge.order import discussion, holds, payments, stock_decisions, withdrawal
from temporal_bridge.order import message_checks as checks
from temporal_bridge.order import messages as m
from temporal_bridge.order.payments import PaymentEvent

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
    stock_decisions.SIGNAL_STOCK_DECISION: stock_decisions.parse_stock_decision,
    withdrawal.SIGNAL_WITHDRAW_APPROVAL: lambda args: checks.parse_decision(args, "Withdrawal"),
}


def sent_digest(signal: str, payload: Any) -> str:
    """The digest of a message a service is about to send, read as the
    workflow will read it. Raises temporal_bridge.contract.decoding.Refused when the workflow
    would refuse it as malformed (the service's own input checks missed it)."""
    return message_digest(signal, PERSON_SIGNALS[signal]([asdict(payload)]))


def payment_event_digest(event: PaymentEvent) -> str:
    """A payment provider's event: everything but when the desk received it."""
    content = asdict(event)
    content.pop("received_at", None)
    return digest(payments.SIGNAL_PAYMENT_EVENT, content)


def relayed_payment_event_digest(event: PaymentEvent) -> str:
    """What the workflow will digest of a payment event the intake relays."""
    return payment_event_digest(checks.parse_payment_event([asdict(event)]))



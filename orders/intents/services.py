"""Writing a person's intent before its signal, and reading intents back.

The write runs in the transaction that authorises the request (the caller's
permission and state checks) and is committed when it returns, so the
workflow, which asks the database before the message counts, always finds
it. The content is digested as the workflow's decoder reads it
(temporal_bridge.order.intents), so both sides digest the same message, and a
request the workflow would refuse as malformed is refused here, before
anything is written.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from django.db import IntegrityError, transaction

from orders.exceptions import OrderError
from orders.intents.models import RecordedIntent
from orders.models import Order
from temporal_bridge.contract.decoding import Refused
from temporal_bridge.contract.intents import message_digest
from temporal_bridge.order import intents


class IntentConflict(OrderError):
    """The request id was already used on this order for a different request."""

    status_code = 409


@dataclass(frozen=True)
class Intent:
    """What the workflow will read of a message: who, for whom, which signal, the digest of the rest."""

    request_id: str
    actor: str
    on_behalf_of: str
    signal: str
    digest: str


def intent_of(signal: str, payload: Any) -> Intent:
    """The intent of a message a service is about to send, read as the workflow will read it.

    Raises OrderError (400) when the workflow would refuse the message as
    malformed: the service's own input checks missed something.
    """
    decode = intents.PERSON_SIGNALS.get(signal)
    if decode is None:
        raise ValueError(f"{signal!r} is not a signal a person sends")
    try:
        message = decode([asdict(payload)])
    except Refused as err:
        raise OrderError(f"Nothing was sent: the order's workflow would refuse this request ({err.reason}).") from None
    # The same digest as intents.sent_digest(signal, payload), from the one decoding.
    return Intent(request_id=message.request_id, actor=message.actor, on_behalf_of=getattr(message, "on_behalf_of", ""),
                  signal=signal, digest=message_digest(signal, message))


def intent_record(*, order: Order, signal: str, payload: Any, authorise: Callable[[], None] | None = None) -> RecordedIntent:
    """Authorise a person's request and write its intent; committed when this returns.

    `authorise` (the caller's checks; it raises to refuse) runs in the same
    transaction as the write. The transaction is durable: nested in another,
    the row would not be committed before the signal, and the workflow could
    refuse a genuine request. A double POST (same request id, same request)
    returns the row written first; the same request id with another actor,
    signal or content for this order raises IntentConflict. Nothing is
    written when anything raises.
    """
    with transaction.atomic(durable=True):
        if authorise is not None:
            authorise()
        return _write(order, intent_of(signal, payload))


def _write(order: Order, intent: Intent) -> RecordedIntent:
    existing = RecordedIntent.objects.filter(order=order, request_id=intent.request_id).first()
    if existing is None:
        try:
            with transaction.atomic():
                return RecordedIntent.objects.create(order=order, **asdict(intent))
        except IntegrityError:
            # The same request, posted twice at once: the other one wrote it.
            existing = RecordedIntent.objects.filter(order=order, request_id=intent.request_id).first()
            if existing is None:
                raise
    differs = differences(existing, actor=intent.actor, on_behalf_of=intent.on_behalf_of, signal=intent.signal,
                          digest=intent.digest)
    if differs:
        raise IntentConflict(
            f"Request {intent.request_id} was already used on order {order.number or order.pk} for a different request "
            f"(its {', '.join(differs)} differ); nothing was sent. Reload the page and try again."
        )
    return existing


def differences(row: RecordedIntent, *, actor: str, on_behalf_of: str, signal: str, digest: str) -> list[str]:
    """The fields in which a message differs from the intent recorded under its request id."""
    given = {"actor": actor, "on_behalf_of": on_behalf_of, "signal": signal, "digest": digest}
    return [name for name, value in given.items() if getattr(row, name) != value]


def intents_recorded(keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], RecordedIntent]:
    """The intents recorded under these (order id, request id) pairs, in one query."""
    wanted = set(keys)
    if not wanted:
        return {}
    rows = RecordedIntent.objects.filter(order_id__in={order_id for order_id, _ in wanted},
                                         request_id__in={request_id for _, request_id in wanted})
    return {(row.order_id, row.request_id): row for row in rows if (row.order_id, row.request_id) in wanted}

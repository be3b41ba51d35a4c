"""Whether a provider's event a workflow was sent is one the webhook intake stored.

Anyone who reaches the Temporal frontend can send a payment confirmation or
a parcel's delivery with any event id. The workflow counts it only if the
intake stored that event, signed, for that order, and the message it got
digests like the one the intake relays for the stored row (so a genuine id
carrying other content is refused too). Asked in a batch, answered in one
query; never raises on what a raw signal can carry.
"""
from __future__ import annotations

from collections.abc import Sequence

from orders.amounts import MAX_ID
from orders.webhooks.models import WebhookEvent
from orders.webhooks.services import TYPES, relayed_message
from temporal_bridge.contract.decoding import Refused
from temporal_bridge.contract.intents import EventCheck, EventConfirmation
from temporal_bridge.order import intents
from temporal_bridge.order.payments import PaymentEvent
from temporal_bridge.shipment.message_checks import relayed_carrier_event_digest

NOT_RECEIVED = "the desk received no such event from the provider"
DIFFERS = "differs from the event the provider sent"
MAX_EVENT_ID = WebhookEvent._meta.get_field("event_id").max_length
# The provider's event type for each kind a message carries, e.g. payments/succeeded -> payment.succeeded.
EVENT_TYPES = {provider: {kind: event_type for event_type, kind in types.items()} for provider, types in TYPES.items()}


def events_confirm(checks: Sequence[EventCheck]) -> list[EventConfirmation]:
    """One answer per check, in order: received only if stored, for that order, with that content."""
    asked = [check if _well_formed(check) else None for check in checks]
    keys = {(check.provider, check.event_id) for check in asked if check is not None}
    stored: dict[tuple[str, str], WebhookEvent] = {}
    if keys:
        rows = WebhookEvent.objects.filter(provider__in={p for p, _ in keys}, event_id__in={e for _, e in keys})
        stored = {(row.provider, row.event_id): row for row in rows}
    return [_confirm(check, stored) if check is not None else EventConfirmation(False, NOT_RECEIVED) for check in asked]


def _confirm(check: EventCheck, stored: dict[tuple[str, str], WebhookEvent]) -> EventConfirmation:
    row = stored.get((check.provider, check.event_id))
    if row is None or row.order_id != check.order_id or row.type != EVENT_TYPES[check.provider][check.kind]:
        return EventConfirmation(False, NOT_RECEIVED)
    if relayed_digest(row) != check.digest:
        return EventConfirmation(False, DIFFERS)
    return EventConfirmation(True)


def relayed_digest(event: WebhookEvent) -> str:
    """The digest of the message the intake relays for a stored event, as its workflow reads it ("" if it would not)."""
    message = relayed_message(event)
    try:
        if isinstance(message, PaymentEvent):
            return intents.relayed_payment_event_digest(message)
        return relayed_carrier_event_digest(message)
    except Refused:
        return ""


def _well_formed(check: object) -> bool:
    """A check the database can be asked about: anything else is no event the intake could have stored
    (and a NUL byte would make PostgreSQL refuse the query, failing the activity for ever)."""
    if not isinstance(check, EventCheck):
        return False
    provider, kind, event_id, order_id = check.provider, check.kind, check.event_id, check.order_id
    return (
        isinstance(provider, str) and provider in EVENT_TYPES
        and isinstance(kind, str) and kind in EVENT_TYPES[provider]
        and isinstance(event_id, str) and 0 < len(event_id) <= MAX_EVENT_ID and event_id.isprintable()
        and isinstance(order_id, int) and not isinstance(order_id, bool) and 0 < order_id <= MAX_ID
        and isinstance(check.digest, str)
    )

"""Provider webhooks: receive an event, keep it, deliver it to the workflow.

The promise to a provider: a 2xx means the event is stored (in the same
transaction), so it is never lost, whatever happens to Temporal afterwards.
Delivery follows on commit as a signal to the order's workflow (payments) or
its shipment workflow (carrier); an event that could not be delivered stays
`pending` and `reconcile_orders` (webhook_deliver_pending) sends it later.
A redelivered event (same provider and id) is answered 200 and applied once.

Everything a provider can send is refused with a 4xx/503 and a reason, never
a 500: WebhookRefused carries the status the view answers with.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from orders.delivery import services as parcels
from orders.models import Order
from orders.webhooks.models import WebhookEvent
from orders.webhooks.signing import BadSignature, verify
from temporal_bridge.client.bridge import TemporalUnavailable, WorkflowNotFound
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import payments, states
from temporal_bridge.order.payments import PaymentEvent
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment.messages import CarrierEvent

log = logging.getLogger(__name__)

Delivery = WebhookEvent.Delivery

# Each provider's fields: (longest accepted, required). Anything else is refused,
# so a provider's change of format shows up as 400s rather than as silent gaps.
FIELDS: dict[str, dict[str, tuple[int, bool]]] = {
    payments.PROVIDER_PAYMENTS: {"id": (100, True), "type": (40, True), "order": (40, True), "reference": (64, False), "reason": (300,
                                                                                                                                  False)},
    shipment.PROVIDER_CARRIER: {
        "id": (100, True), "type": (40, True), "order": (40, True), "tracking_number": (40, False), "at": (40, False),
        "location": (200, False),
    },
}
# The provider's event type -> the kind the workflow's message carries.
TYPES: dict[str, dict[str, str]] = {
    payments.PROVIDER_PAYMENTS: {f"payment.{kind}": kind for kind in payments.PAYMENT_EVENT_KINDS},
    shipment.PROVIDER_CARRIER: {f"parcel.{kind}": kind for kind in shipment.CARRIER_EVENT_KINDS},
}
FRAUD_ALERT_TYPE = f"payment.{payments.PAYMENT_FRAUD_ALERT}"
# Events for an order the desk does not know count against the flood cap for
# this long only: they never drain by delivery, and must not close the intake for good.
UNKNOWN_ORDER_WINDOW = timedelta(hours=1)


class WebhookRefused(Exception):
    """The request is refused; nothing was stored. `status_code` is the answer."""

    def __init__(self, status_code: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status_code, self.message, self.retry_after = status_code, message, retry_after


@dataclass(frozen=True)
class Receipt:
    """What the provider is told about an event that was kept."""

    status_code: int
    event: WebhookEvent
    duplicate: bool = False
    # Whether this request hands the event to delivery (a new event, or one whose order just appeared).
    deliver: bool = False

    @property
    def outcome(self) -> str:
        if self.status_code == 404:
            return "unknown_order"
        return "duplicate" if self.duplicate else "accepted"


def webhook_receive(*, provider: str, body: bytes, signature: str | None, now: float | None = None) -> Receipt:
    """Check, parse and store one provider request; deliver it once committed.

    Raises WebhookRefused (nothing stored) for an unknown provider (404), a
    bad or old signature (401), a body too large (413) or not an event (400),
    and a provider over its undelivered cap (503). An unknown order is kept
    and answered 404.
    """
    if provider not in FIELDS:
        raise WebhookRefused(404, "No such webhook provider.")
    if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
        raise WebhookRefused(413, f"The body is larger than {settings.WEBHOOK_MAX_BODY_BYTES} bytes.")
    try:
        verify(settings.WEBHOOK_SECRETS.get(provider, ""), body, signature, tolerance=settings.WEBHOOK_TOLERANCE_SECONDS, now=now)
    except BadSignature as err:
        raise WebhookRefused(401, f"Signature refused: {err}.") from err
    fields = parse_event(provider, body)
    with transaction.atomic():
        receipt = _store(provider, fields)
        if receipt.deliver:
            event_pk = receipt.event.pk
            transaction.on_commit(lambda: webhook_deliver(event_pk))
    return receipt


def parse_event(provider: str, body: bytes) -> dict[str, str]:
    """The event's fields, each a bounded printable string; WebhookRefused(400) otherwise."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise WebhookRefused(400, "The body is not JSON.") from None
    if not isinstance(data, dict):
        raise WebhookRefused(400, "The body must be a JSON object.")
    allowed = FIELDS[provider]
    unknown = [str(name)[:40] for name in data if name not in allowed]
    if unknown:
        raise WebhookRefused(400, f"Unknown fields: {', '.join(sorted(unknown)[:5])}.")
    fields: dict[str, str] = {}
    for name, (longest, required) in allowed.items():
        value = data.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise WebhookRefused(400, f"Field {name!r} must be a string.")
        value = value.strip()
        if required and not value:
            raise WebhookRefused(400, f"Field {name!r} is required.")
        if len(value) > longest:
            raise WebhookRefused(400, f"Field {name!r} is longer than {longest} characters.")
        # PostgreSQL refuses NUL in text and JSON; no provider field needs control characters.
        if not value.isprintable():
            raise WebhookRefused(400, f"Field {name!r} contains control characters.")
        fields[name] = value
    if fields["type"] not in TYPES[provider]:
        raise WebhookRefused(400, f"Unknown event type; expected one of {', '.join(TYPES[provider])}.")
    if fields.get("at"):
        try:
            datetime.fromisoformat(fields["at"])
        except ValueError:
            raise WebhookRefused(400, "Field 'at' must be an ISO 8601 time.") from None
    return fields


def _store(provider: str, fields: dict[str, str]) -> Receipt:
    existing = WebhookEvent.objects.filter(provider=provider, event_id=fields["id"]).first()
    if existing is not None:
        return _redelivered(existing)
    if undelivered_count(provider) >= settings.WEBHOOK_PENDING_CAP:
        raise WebhookRefused(
            503, "Too many events are waiting for delivery; retry later.", retry_after=settings.WEBHOOK_RETRY_AFTER_SECONDS,
        )
    order = Order.objects.filter(number=fields["order"]).only("pk").first()
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                provider=provider, event_id=fields["id"], type=fields["type"], order=order, order_number=fields["order"],
                payload=fields, status=Delivery.PENDING if order else Delivery.UNKNOWN_ORDER,
            )
    except IntegrityError:
        # The same event, sent twice at once: the other request stored it.
        return _redelivered(WebhookEvent.objects.get(provider=provider, event_id=fields["id"]))
    return Receipt(200 if order else 404, event, deliver=order is not None)


def _redelivered(event: WebhookEvent) -> Receipt:
    """A provider sending an event again: applied once. An event for an order
    that now exists (the provider was faster than the desk) is linked and delivered."""
    if event.status != Delivery.UNKNOWN_ORDER:
        return Receipt(200, event, duplicate=True)
    if not _link_order(event):
        return Receipt(404, event, duplicate=True)
    return Receipt(200, event, duplicate=True, deliver=True)


def _link_order(event: WebhookEvent) -> bool:
    order = Order.objects.filter(number=event.order_number).only("pk").first()
    if order is None:
        return False
    WebhookEvent.objects.filter(pk=event.pk, status=Delivery.UNKNOWN_ORDER).update(order=order, status=Delivery.PENDING, last_error="")
    event.order, event.status = order, Delivery.PENDING
    return True


def webhook_received(*, provider: str, event_id: str, order_id: int, kind: str) -> bool:
    """Whether the intake stored this event (its signature checked) for this order: what the
    workflow's settle step asks before a signal that claims to be the provider's counts."""
    return WebhookEvent.objects.filter(provider=provider, event_id=event_id, order_id=order_id, type=kind).exists()


def undelivered_count(provider: str) -> int:
    """Stored-but-undelivered events of a provider, counted up to the cap only (a bounded query)."""
    recent_unknown = Q(status=Delivery.UNKNOWN_ORDER, received_at__gte=timezone.now() - UNKNOWN_ORDER_WINDOW)
    waiting = WebhookEvent.objects.filter(Q(status=Delivery.PENDING) | recent_unknown, provider=provider)
    return waiting.values("pk")[: settings.WEBHOOK_PENDING_CAP].count()


# --- Delivery --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryOutcome:
    status: str
    error: str = ""
    # Temporal could not be reached: later events would fail the same way.
    unavailable: bool = False


def webhook_deliver(event_pk: int) -> DeliveryOutcome:
    """Signal one stored event to its workflow and record the attempt. Never raises.

    A delivered event is not sent again. Two deliveries racing (the request's
    on-commit and a reconcile run) may both signal: the workflow applies an
    event id once, so that costs a message, not a double effect.
    """
    event = WebhookEvent.objects.select_related("order").filter(pk=event_pk).first()
    if event is None or event.status == Delivery.DELIVERED:
        return DeliveryOutcome(event.status if event else "missing")
    if event.status == Delivery.UNKNOWN_ORDER and not _link_order(event):
        return DeliveryOutcome(Delivery.UNKNOWN_ORDER)
    try:
        _send(event)
    except TemporalUnavailable as err:
        return _record_failure(event, f"Temporal unavailable: {err}", unavailable=True)
    except parcels.NoSuchParcel as err:
        # Its parcel's shipment may not have opened it yet: kept pending, tried again.
        return _record_failure(event, str(err))
    except WorkflowNotFound:
        if _no_receiver_ever(event):
            # Nothing will ever receive it: the order's life is over.
            return _record_failure(event, f"the order is {event.order.status}: its workflow no longer runs", final=True)
        return _record_failure(event, "its workflow is not running yet")
    except Exception as err:  # noqa: BLE001 - runs after the provider's commit: kept pending and reported, never a 500
        log.exception("Delivering webhook event %s failed", event.pk)
        return _record_failure(event, f"{type(err).__name__}: {err}")
    WebhookEvent.objects.filter(pk=event.pk).exclude(status=Delivery.DELIVERED).update(
        status=Delivery.DELIVERED, attempts=F("attempts") + 1, delivered_at=timezone.now(), last_error="",
    )
    return DeliveryOutcome(Delivery.DELIVERED)


def _no_receiver_ever(event: WebhookEvent) -> bool:
    """The order's life is over for this kind of event. A fulfilled order's
    parcel is still travelling: its shipment workflow may start after it."""
    over = states.TERMINAL - {states.FULFILLED} if event.provider == shipment.PROVIDER_CARRIER else states.TERMINAL
    return event.order.status in over


def _send(event: WebhookEvent) -> None:
    message = relayed_message(event)
    if isinstance(message, PaymentEvent):
        order_calls.signal_payment_event(event.order_id, message)
    else:
        # A split order's parcels each have their own shipment: the tracking number says which.
        warehouse = parcels.parcel_warehouse_for(order_id=event.order_id, tracking_number=event.payload.get("tracking_number", ""))
        order_calls.signal_carrier_event(event.order_id, message, warehouse=warehouse)


def relayed_message(event: WebhookEvent) -> PaymentEvent | CarrierEvent:
    """The message the intake relays for a stored event: one builder for the
    delivery and for the check that a message a workflow received is this event."""
    kind = TYPES[event.provider][event.type]
    payload = event.payload
    if event.provider == payments.PROVIDER_PAYMENTS:
        return PaymentEvent(
            event_id=event.event_id, kind=kind, reference=payload.get("reference", ""), reason=payload.get("reason", ""),
            received_at=event.received_at.isoformat(),
        )
    return CarrierEvent(
        event_id=event.event_id, status=kind, at=payload.get("at") or event.received_at.isoformat(),
        location=payload.get("location", ""), description=payload.get("tracking_number", ""),
    )


def _record_failure(event: WebhookEvent, error: str, *, unavailable: bool = False, final: bool = False) -> DeliveryOutcome:
    attempts = event.attempts + 1
    status = Delivery.FAILED if final or attempts >= settings.WEBHOOK_MAX_ATTEMPTS else Delivery.PENDING
    WebhookEvent.objects.filter(pk=event.pk).exclude(status=Delivery.DELIVERED).update(
        status=status, attempts=F("attempts") + 1, last_error=error[:300],
    )
    return DeliveryOutcome(status, error, unavailable)


@dataclass
class DeliveryRun:
    delivered: int = 0
    still_pending: int = 0
    failed: int = 0
    # Temporal was unreachable: the run stopped at the first event, the rest wait.
    temporal_unavailable: bool = False

    def count(self, outcome) -> None:
        if outcome.status == Delivery.DELIVERED:
            self.delivered += 1
        elif outcome.status == Delivery.FAILED:
            self.failed += 1
        else:
            self.still_pending += 1
        self.temporal_unavailable |= outcome.unavailable


def webhook_deliver_pending(*, limit: int | None = None) -> DeliveryRun:
    """Deliver waiting events, oldest first, at most `limit` (settings.WEBHOOK_DELIVER_BATCH)."""
    limit = settings.WEBHOOK_DELIVER_BATCH if limit is None else limit
    run = DeliveryRun()
    waiting = WebhookEvent.objects.filter(status=Delivery.PENDING).order_by("received_at", "id").values_list("pk", flat=True)[:limit]
    for event_pk in list(waiting):
        outcome = webhook_deliver(event_pk)
        run.count(outcome)
        if outcome.unavailable:
            break
    return run


def webhook_deliver_again(event_pks) -> DeliveryRun:
    """The admin's "deliver again": failed, pending or unknown-order events, each through webhook_deliver."""
    run = DeliveryRun()
    for event_pk in event_pks:
        WebhookEvent.objects.filter(pk=event_pk, status=Delivery.FAILED).update(status=Delivery.PENDING)
        run.count(webhook_deliver(event_pk))
    return run


def latest_fraud_reason(order_ids) -> dict[int, str]:
    """The reason of each order's latest fraud alert, for the managers' inbox."""
    alerts = (
        WebhookEvent.objects.filter(order_id__in=list(order_ids), provider=payments.PROVIDER_PAYMENTS, type=FRAUD_ALERT_TYPE)
        .order_by("order_id", "-received_at", "-id").values_list("order_id", "payload")
    )
    reasons: dict[int, str] = {}
    for order_id, payload in alerts:
        reasons.setdefault(order_id, (payload or {}).get("reason") or "no reason given by the provider")
    return reasons

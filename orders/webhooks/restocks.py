"""POST /webhooks/inventory/: the warehouses' inventory system's signed "inventory.restocked" event.

Signed like every provider's webhook (orders.webhooks.signing, the secret
WEBHOOK_SECRET_INVENTORY). The event is stored (unique per provider and
event id) in the same transaction as the stock it adds, so a 2xx means the
units are on hand, and a redelivery is answered 200 and adds nothing. Once
committed, the orders with a backorder waiting for that product are woken
(restock.py). Every refusal is a 4xx with a reason, never a 500, and stores
nothing.
"""
from __future__ import annotations

import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from orders.inventory import services
from orders.inventory.models import Warehouse
from orders.models import Product
from orders.webhooks.models import WebhookEvent
from orders.webhooks.signing import SIGNATURE_META, BadSignature, verify
from orders.webhooks.views import capped_body, provider_post

PROVIDER = "inventory"
EVENT_RESTOCKED = "inventory.restocked"
MAX_UNITS = 1_000_000


class Refused(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code, self.message = status_code, message


@provider_post
def restock_intake(request: HttpRequest) -> JsonResponse:
    try:
        event, duplicate = restock_receive(body=capped_body(request), signature=request.META.get(SIGNATURE_META))
    except Refused as err:
        return JsonResponse({"error": err.message}, status=err.status_code)
    return JsonResponse({"status": "duplicate" if duplicate else "applied", "event": event.event_id}, status=200)


def restock_receive(*, body: bytes, signature: str | None) -> tuple[WebhookEvent, bool]:
    """Check, store and apply a restock event. Returns (the stored event, whether it came before)."""
    if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
        raise Refused(413, "The body is too large.")
    try:
        verify(settings.WEBHOOK_SECRETS.get(PROVIDER, ""), body, signature, tolerance=settings.WEBHOOK_TOLERANCE_SECONDS)
    except BadSignature as err:
        raise Refused(401, f"Not signed by the inventory system: {err}.") from None
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refused(400, "The body is not JSON.") from None
    event_id, warehouse, product, units = _fields(payload)
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = WebhookEvent.objects.create(
                    provider=PROVIDER, event_id=event_id, type=EVENT_RESTOCKED, order=None, order_number="",
                    payload={"warehouse": warehouse.code, "sku": product.sku, "units": units},
                    status=WebhookEvent.Delivery.DELIVERED, delivered_at=timezone.now(), attempts=1,
                )
        except IntegrityError:
            return WebhookEvent.objects.get(provider=PROVIDER, event_id=event_id), True
        services.stock_receive(warehouse_id=warehouse.pk, product_id=product.pk, units=units)
    return event, False


def _fields(payload: object) -> tuple[str, Warehouse, Product, int]:
    if not isinstance(payload, dict):
        raise Refused(400, "The event is not a JSON object.")
    unknown = sorted(set(payload) - {"id", "type", "warehouse", "sku", "units"})
    if unknown:
        raise Refused(400, f"Unknown fields: {', '.join(str(name)[:40] for name in unknown[:5])}.")
    event_id, kind, code, sku, units = (payload.get(name) for name in ("id", "type", "warehouse", "sku", "units"))
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 100 or not event_id.isprintable():
        raise Refused(400, "'id' must be text of 1 to 100 printable characters.")
    if kind != EVENT_RESTOCKED:
        raise Refused(400, f"'type' must be {EVENT_RESTOCKED!r}.")
    if not isinstance(units, int) or isinstance(units, bool) or not 0 < units <= MAX_UNITS:
        raise Refused(400, f"'units' must be a whole number from 1 to {MAX_UNITS:,}.")
    if not isinstance(code, str) or not isinstance(sku, str) or len(code) > 12 or len(sku) > 40:
        raise Refused(400, "'warehouse' and 'sku' must be text.")
    warehouse = Warehouse.objects.filter(code=code).first()
    product = Product.objects.filter(sku=sku).first()
    if warehouse is None or product is None:
        raise Refused(422, f"No {'warehouse ' + repr(code[:12]) if warehouse is None else 'product ' + repr(sku[:40])} at the desk.")
    return event_id, warehouse, product, units

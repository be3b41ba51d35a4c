"""The intake API's one write of its own: an idempotent order create."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from django.db import IntegrityError, transaction

from orders import services
from orders.api.models import ApiKey, IdempotencyRecord
from orders.api.validation import CreateRequest
from orders.exceptions import OrderError
from orders.models import Order


class IdempotencyKeyReused(OrderError):
    """The same Idempotency-Key came with a different request body."""

    status_code = 422


def request_fingerprint(data: Any) -> str:
    """The same JSON, whatever its key order or spacing, has the same fingerprint."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent_replay(*, api_key: ApiKey, idempotency_key: str, fingerprint: str) -> Order | None:
    """The order an earlier create with this key made, if any."""
    record = IdempotencyRecord.objects.select_related("order").filter(api_key=api_key, key=idempotency_key).first()
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {idempotency_key!r} was used for a different request (order {record.order.number}); "
            "use a new key for a new order."
        )
    return record.order


def api_order_create(*, api_key: ApiKey, request: CreateRequest, idempotency_key: str | None, fingerprint: str) -> tuple[Order, bool]:
    """Create the order as the key's user; (order, created). A retried key returns the first order.

    The order and its idempotency record commit together, so two concurrent
    retries make one order: the second insert of the key fails, its order is
    rolled back (its workflow never starts), and it answers with the first.
    """
    if idempotency_key:
        earlier = idempotent_replay(api_key=api_key, idempotency_key=idempotency_key, fingerprint=fingerprint)
        if earlier is not None:
            return earlier, False
    try:
        with transaction.atomic():
            order = services.order_submit(
                customer=request.customer,
                lines=[services.LineRequest(product, quantity) for product, quantity in request.lines],
                created_by=api_key.user,
                shipping_address=request.shipping_address,
                priority=request.priority,
                note=request.note,
            )
            if idempotency_key:
                IdempotencyRecord.objects.create(api_key=api_key, key=idempotency_key, request_hash=fingerprint, order=order)
    except IntegrityError:
        if not idempotency_key:
            raise
        earlier = idempotent_replay(api_key=api_key, idempotency_key=idempotency_key, fingerprint=fingerprint)
        if earlier is None:
            raise
        return earlier, False
    return order, True

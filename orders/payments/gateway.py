"""The payment provider boundary.

There is no real card processor on this project's machines, so the built-in
provider is `SimulatedGateway`, named as what it is: an in-process provider
that applies one real rule (a charge above the customer's credit limit is
declined) and returns a stable reference derived from the idempotency key, the
way real providers deduplicate retried captures. A production deployment
points `PAYMENT_GATEWAY` at an adapter with the same two methods.
"""
from __future__ import annotations

import hashlib
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

from orders.exceptions import PaymentDeclined
from orders.holds.breaker import GuardedGateway
from temporal_bridge.order.payments import PROVIDER_PAYMENTS


class SimulatedGateway:
    def capture(self, *, customer_credit_limit: Decimal, amount: Decimal, currency: str, idempotency_key: str) -> str:
        if amount > customer_credit_limit:
            raise PaymentDeclined(f"Payment declined: {amount} {currency} exceeds the customer's credit limit of {customer_credit_limit}")
        return self._reference("CAP", idempotency_key)

    def refund(self, *, amount: Decimal, currency: str, idempotency_key: str) -> str:
        return self._reference("REF", idempotency_key)

    @staticmethod
    def _reference(prefix: str, key: str) -> str:
        return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12].upper()}"


@lru_cache(maxsize=1)
def gateway():
    # Its failures, told from its answers, count for the payments breaker.
    configured = getattr(settings, "PAYMENT_GATEWAY", "orders.payments.gateway.SimulatedGateway")
    return GuardedGateway(PROVIDER_PAYMENTS, import_string(configured)())

"""The payment provider and the carrier, simulated from outside the desk.

`manage.py simulate_providers` runs this: each tick it reads which orders a
provider would be talking about (a payment awaiting the provider's
confirmation, a parcel in transit), decides which events are due, and sends
them as real signed webhooks over HTTP, exactly as a provider would. The
choosing (`Simulator.due`) is pure, so it is tested without a clock or a
network; the reading (`pending_payments`, `parcels_in_transit`) is one small
query each; the sending (`send`) is plain HTTP.

Event ids are derived from the order and the event, so a restarted simulator
that sends an event again is deduplicated by the desk, as a provider's retry is.
"""
from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings

from orders.delivery.models import Parcel as DeliveryParcel
from orders.models import Order
from orders.payments.models import PaymentTransaction
from orders.webhooks import signing as webhook_signing
from temporal_bridge.order import states
from temporal_bridge.order.payments import PROVIDER_PAYMENTS
from temporal_bridge.shipment.messages import PROVIDER_CARRIER

log = logging.getLogger(__name__)

# PaymentTransaction.Status.AWAITING_CONFIRMATION on main (the payments branch): a capture
# the provider has yet to confirm. A string here, so this module imports before that field exists.
AWAITING_CONFIRMATION = "awaiting_confirmation"
CITIES = ("Rotterdam", "Antwerp", "Cologne", "Lyon", "Milan", "Vienna", "Prague", "Leipzig")
PARCEL_JOURNEY = ("parcel.in_transit", "parcel.out_for_delivery", "parcel.delivered")


@dataclass(frozen=True)
class PendingPayment:
    order_id: int
    number: str
    reference: str
    order_status: str


@dataclass(frozen=True)
class Parcel:
    order_id: int
    number: str
    tracking_number: str
    # A split order's parcel: its warehouse (each travels on its own); "" for an order's only parcel.
    warehouse: str = ""

    @property
    def key(self) -> str:
        return f"{self.order_id}-{self.warehouse}" if self.warehouse else str(self.order_id)


@dataclass(frozen=True)
class Webhook:
    provider: str
    body: dict

    @property
    def event_id(self) -> str:
        return self.body["id"]


def pending_payments() -> list[PendingPayment]:
    """Orders whose payment awaits the provider's confirmation.

    """
    rows = (PaymentTransaction.objects.filter(status=AWAITING_CONFIRMATION)
            .values_list("order_id", "order__number", "provider_reference", "order__status"))
    return [PendingPayment(order_id, number or "", reference or "", status) for order_id, number, reference, status in rows]


def parcels_in_transit() -> list[Parcel]:
    """The parcels of orders in transit: the order's own, or each of a split order's (by its tracking number);
    a partially shipped order's parcels already followed travel too."""
    rows = (Order.objects.filter(status__in=(states.IN_TRANSIT, states.PARTIALLY_SHIPPED)).exclude(tracking_number="")
            .values_list("pk", "number", "tracking_number", "status"))
    orders = {pk: (number or "", tracking, status) for pk, number, tracking, status in rows}
    split: dict[int, list[Parcel]] = {pk: [] for pk, (_, _, status) in orders.items() if status == states.PARTIALLY_SHIPPED}
    for order_id, warehouse, tracking in (DeliveryParcel.objects.filter(order_id__in=list(orders)).exclude(warehouse="")
                                          .order_by("id").values_list("order_id", "warehouse", "tracking_number")):
        split.setdefault(order_id, []).append(Parcel(order_id, orders[order_id][0], tracking, warehouse))
    return [parcel for pk, (number, tracking, _) in orders.items() for parcel in split.get(pk, [Parcel(pk, number, tracking)])]


@dataclass
class Simulator:
    """What each provider would say next, given what it sees and what it has said."""

    payment_delay: float = 3.0
    # Every Nth order (by id) awaiting confirmation gets a fraud alert instead; 0: never.
    fraud_every: int = 7
    parcel_step: float = 10.0
    first_seen: dict[str, float] = field(default_factory=dict)
    sent: set[str] = field(default_factory=set)
    # Orders seen on hold after a fraud alert: once released, their payment is confirmed.
    held: set[int] = field(default_factory=set)

    def due(self, payments: list[PendingPayment], parcels: list[Parcel], now: float) -> list[Webhook]:
        """The events due at `now` (seconds on any monotonic clock), oldest first, none already sent."""
        due = []
        for payment in payments:
            if payment.order_status == states.ON_HOLD:
                # A manager decides now; once the hold is released, the payment is confirmed.
                self.held.add(payment.order_id)
                continue
            since = self.first_seen.setdefault(f"payment-{payment.order_id}", now)
            if now - since < self.payment_delay:
                continue
            fraud = self.fraud_every > 0 and payment.order_id % self.fraud_every == 0
            if not fraud:
                kind = "payment.succeeded"
            elif self._id(payment.order_id, "payment.fraud_alert") not in self.sent:
                kind = "payment.fraud_alert"
            elif payment.order_id in self.held:
                kind = "payment.succeeded"
            else:
                continue  # the alert is sent and the order not yet seen on hold
            reason = "The card issuer reported this payment as suspected fraud." if kind == "payment.fraud_alert" else ""
            due.append(Webhook(PROVIDER_PAYMENTS, {"id": self._id(payment.order_id, kind), "type": kind, "order": payment.number,
                                                   "reference": payment.reference, "reason": reason}))
        for parcel in parcels:
            since = self.first_seen.setdefault(f"parcel-{parcel.key}", now)
            for step, kind in enumerate(PARCEL_JOURNEY, start=1):
                if now - since >= step * self.parcel_step:
                    due.append(Webhook(PROVIDER_CARRIER, {
                        "id": self._id(parcel.key, kind), "type": kind, "order": parcel.number,
                        "tracking_number": parcel.tracking_number, "at": datetime.now(UTC).isoformat(timespec="seconds"),
                        "location": CITIES[(parcel.order_id + step) % len(CITIES)],
                    }))
        return [webhook for webhook in due if webhook.event_id not in self.sent]

    @staticmethod
    def _id(subject: int | str, kind: str) -> str:
        return f"sim-{subject}-{kind}"


def secret(provider: str) -> str:
    """The provider's shared secret: settings.WEBHOOK_SECRETS when the intake defines it, else the environment."""
    configured = getattr(settings, "WEBHOOK_SECRETS", {}) or {}
    return configured.get(provider) or os.environ.get(f"WEBHOOK_SECRET_{provider.upper()}", "")


class Unreachable(Exception):
    """The web app did not answer (down, restarting) or failed (5xx): worth another try."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A provider does not follow a redirect (to a login page, say): it is the desk's answer.
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def send(base_url: str, webhook: Webhook, *, timeout: float = 5.0) -> int:
    """POST the signed webhook; its HTTP status (a 3xx or 4xx is the desk's refusal), or Unreachable."""
    body = json.dumps(webhook.body, separators=(",", ":")).encode()
    signature = webhook_signing.sign(secret(webhook.provider), body)
    request = urllib.request.Request(
        f"{base_url.rstrip('/')}/webhooks/{webhook.provider}/", data=body, method="POST",
        headers={"Content-Type": "application/json", webhook_signing.SIGNATURE_HEADER: signature},
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as err:
        if err.code >= 500:
            raise Unreachable(f"HTTP {err.code}") from None
        return err.code
    except (urllib.error.URLError, OSError) as err:
        raise Unreachable(str(getattr(err, "reason", err))) from None


def tick(simulator: Simulator, base_url: str, now: float) -> list[tuple[Webhook, int]]:
    """Send what is due; what the desk answered for each. Stops at the first unreachable send."""
    results = []
    for webhook in simulator.due(pending_payments(), parcels_in_transit(), now):
        try:
            status = send(base_url, webhook)
        except Unreachable as err:
            log.warning("Web app unreachable at %s (%s); %s waits for the next tick", base_url, err, webhook.event_id)
            break
        # A 3xx or 4xx will not change by sending again (a wrong secret, an order the desk does not know): noted, not retried.
        simulator.sent.add(webhook.event_id)
        results.append((webhook, status))
        level = logging.INFO if status < 400 else logging.WARNING
        log.log(level, "%s %s for %s -> HTTP %s", webhook.provider, webhook.body["type"], webhook.body["order"], status)
    return results

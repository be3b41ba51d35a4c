"""The payments circuit breaker: opens after N provider failures in a row,
holds charging (read_hold), lets one trial through after the cool-down,
closes on a success and tells operations each time.

Through the real activities (ActivityEnvironment) and a provider adapter that
fails like an unreachable provider would. The activities close connections
as a worker must, so these tests use real transactions.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from orders.holds import breaker
from orders.holds import services as holds
from orders.holds.models import CircuitBreaker, HoldEvent
from orders.payments import gateway as payments
from orders.payments.models import PaymentTransaction
from orders.timeline import mirror
from temporal_bridge.order import activities as acts
from temporal_bridge.order import holds as holds_messages
from temporal_bridge.order import payments as payment
from temporal_bridge.order import records, states
from temporal_bridge.order.activities import read_hold
from temporal_bridge.order.holds import HoldInput
from temporal_bridge.order.payments import PaymentInput, PaymentResult
from temporal_bridge.order.records import MirrorInput
from temporal_bridge.runtime.worker import ACTIVITIES
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)


class UnreachableGateway:
    """A provider that cannot be reached (the desk's own simulator never fails)."""

    def capture(self, **kwargs) -> str:
        raise ConnectionError("payments.example: connection refused")

    def refund(self, **kwargs) -> str:
        raise ConnectionError("payments.example: connection refused")


@pytest.fixture
def provider(settings):
    """Switch the payment provider between unreachable and answering; the breaker trips after 3."""
    settings.ORDER_DESK_BREAKER_FAILURES = 3
    settings.ORDER_DESK_BREAKER_COOLDOWN_SECONDS = 60
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    class Switch:
        def down(self) -> None:
            settings.PAYMENT_GATEWAY = f"{__name__}.UnreachableGateway"
            payments.gateway.cache_clear()

        def up(self) -> None:
            settings.PAYMENT_GATEWAY = "orders.payments.gateway.SimulatedGateway"
            payments.gateway.cache_clear()

    yield Switch()
    payments.gateway.cache_clear()


def charge(order) -> PaymentResult:
    return ActivityEnvironment().run(acts.charge_payment, PaymentInput(order.pk, f"charge-{order.pk}"))


def fail_charge(order) -> None:
    with pytest.raises(breaker.ProviderFailed):
        charge(order)


def payments_breaker() -> CircuitBreaker:
    return CircuitBreaker.objects.get(provider=payment.PROVIDER_PAYMENTS)


def later(seconds: float) -> None:
    """Move the breaker's clock back instead of waiting for the cool-down."""
    b = payments_breaker()
    shift = timedelta(seconds=seconds)
    CircuitBreaker.objects.filter(pk=b.pk).update(opened_at=b.opened_at - shift if b.opened_at else None,
                                                  trial_started_at=b.trial_started_at - shift if b.trial_started_at else None)


def test_the_breaker_opens_after_n_failures_in_a_row_holds_charging_and_tells_staff(provider, make_order):
    make_user("ops", is_staff=True, email="ops@example.com")
    provider.down()
    order = make_order(status=states.PROCESSING)
    for _ in range(2):
        fail_charge(order)
    assert payments_breaker().state == CircuitBreaker.CLOSED and payments_breaker().consecutive_failures == 2
    assert holds.hold_read(order.pk, holds_messages.STAGE_PAYMENT).held is False
    fail_charge(order)
    assert payments_breaker().state == CircuitBreaker.OPEN
    answer = holds.hold_read(order.pk, holds_messages.STAGE_PAYMENT)
    assert answer.held and answer.by == "circuit breaker" and "3 failures in a row" in answer.reason
    assert 0 < answer.recheck_seconds <= 60, "the order looks again when the cool-down ends"
    assert [e.kind for e in HoldEvent.objects.all()] == [HoldEvent.Kind.BREAKER_OPENED]
    assert [(msg.subject, msg.to) for msg in mail.outbox] == [
        ("[Order Desk] Circuit breaker open: the payments provider is failing", ["ops@example.com"])]
    assert breaker.BREAKER_OPEN.labels(payment.PROVIDER_PAYMENTS)._value.get() == 1
    # Fulfilment is not held by it.
    assert holds.hold_read(order.pk, holds_messages.STAGE_FULFILMENT).held is False
    assert not PaymentTransaction.objects.exists()


def test_a_decline_is_the_provider_answering_not_failing(provider, make_order, customer):
    provider.down()
    order = make_order(status=states.PROCESSING)
    fail_charge(order)
    fail_charge(order)
    provider.up()
    customer.credit_limit = Decimal("1")
    customer.save()
    with pytest.raises(ApplicationError) as declined:
        charge(order)
    assert declined.value.type == payment.ERR_PAYMENT_DECLINED
    assert payments_breaker().consecutive_failures == 0, "a decline resets the count"


def test_after_the_cool_down_one_trial_goes_through_and_its_success_closes_the_breaker(provider, make_order, fake_temporal):
    make_user("ops", is_staff=True, email="ops@example.com")
    provider.down()
    first, trial, waiting = (make_order(status=states.PROCESSING) for _ in range(3))
    for _ in range(3):
        fail_charge(first)
    # Orders waiting on the payment hold, as their timeline entries tell the mirror.
    for order in (first, waiting):
        text = holds_messages.held_text(holds_messages.STAGE_PAYMENT, holds.hold_read(order.pk, holds_messages.STAGE_PAYMENT))
        mirror.order_record_entries([MirrorInput(order.pk, records.timeline_key(7, "hold"), "hold", text)])
    later(61)
    assert holds.hold_read(trial.pk, holds_messages.STAGE_PAYMENT).held is False, "the first to ask after the cool-down is the trial"
    assert payments_breaker().state == CircuitBreaker.HALF_OPEN
    assert holds.hold_read(waiting.pk, holds_messages.STAGE_PAYMENT).held is True, "one trial at a time"

    provider.up()
    charge(trial)
    assert payments_breaker().state == CircuitBreaker.CLOSED and payments_breaker().consecutive_failures == 0
    assert sorted(s.order_id for s in fake_temporal.signals) == sorted([first.pk, waiting.pk])
    assert {s.name for s in fake_temporal.signals} == {holds_messages.SIGNAL_HOLDS_LIFTED}
    assert [e.kind for e in HoldEvent.objects.order_by("at", "id")] == [HoldEvent.Kind.BREAKER_OPENED, HoldEvent.Kind.BREAKER_CLOSED]
    assert mail.outbox[-1].subject == "[Order Desk] Circuit breaker closed: the payments provider answers again"
    assert holds.hold_read(waiting.pk, holds_messages.STAGE_PAYMENT).held is False


def test_a_failed_trial_opens_the_breaker_again_for_another_cool_down(provider, make_order):
    provider.down()
    order = make_order(status=states.PROCESSING)
    for _ in range(3):
        fail_charge(order)
    later(61)
    assert holds.hold_read(order.pk, holds_messages.STAGE_PAYMENT).held is False
    fail_charge(order)
    b = payments_breaker()
    assert b.state == CircuitBreaker.OPEN and b.opened_at > timezone.now() - timedelta(seconds=5)
    assert holds.hold_read(order.pk, holds_messages.STAGE_PAYMENT).held is True
    assert HoldEvent.objects.count() == 1, "re-opening after a failed trial is not news: staff were told when it opened"


def test_a_trial_that_never_reports_is_handed_to_another_order_after_the_cool_down(provider, make_order):
    provider.down()
    order, other = make_order(status=states.PROCESSING), make_order(status=states.PROCESSING)
    for _ in range(3):
        fail_charge(order)
    later(61)
    assert holds.hold_read(order.pk, holds_messages.STAGE_PAYMENT).held is False  # its order was then cancelled: no outcome ever comes
    assert holds.hold_read(other.pk, holds_messages.STAGE_PAYMENT).held is True
    later(61)
    assert holds.hold_read(other.pk, holds_messages.STAGE_PAYMENT).held is False


def test_the_banner_and_the_operations_page_say_a_breaker_is_open(provider, make_order, client, manager, fake_temporal):
    provider.down()
    order = make_order(status=states.PROCESSING)
    for _ in range(3):
        fail_charge(order)
    client.force_login(manager)
    html = client.get("/ops/").content.decode()
    assert "circuit breaker is open" in html and 'data-breaker="payments"' in html
    assert "Circuit breaker opened (payments) by circuit breaker: 3 failures in a row" in html
    banner = client.get("/orders/").content.decode()
    assert 'id="hold-banner"' in banner and "The payments provider's circuit breaker is open" in banner


def test_the_read_hold_activity_is_registered_and_answers_from_the_database(make_order):
    assert read_hold in ACTIVITIES
    holds.fulfilment_pause(by="olga", reason="outage")
    order = make_order(status=states.PROCESSING)
    answer = ActivityEnvironment().run(read_hold, HoldInput(order.pk, holds_messages.STAGE_FULFILMENT))
    assert (answer.held, answer.reason) == (True, "outage")

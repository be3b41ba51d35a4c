"""A circuit breaker per provider, kept in the database (so every worker
shares it and it survives restarts).

closed: calls go through; each failure counts, a success resets the count.
open: after ORDER_DESK_BREAKER_FAILURES failures in a row, orders about to
call the provider wait (the read_hold activity says held) instead of
hammering it; operations are told (email, banner, operations page).
half-open: once the cool-down has passed, the next order to ask is let
through as the trial; its success closes the breaker (and wakes the waiting
orders), its failure opens it again for another cool-down.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from prometheus_client import Gauge

from orders.exceptions import PaymentDeclined
from orders.holds.models import CircuitBreaker, HoldEvent
from orders.holds.waiting import holds_lifted_signal
from temporal_bridge.order import holds
from temporal_bridge.order.holds import HoldResult

log = logging.getLogger(__name__)

BREAKER_OPEN = Gauge(
    "orderdesk_circuit_breaker_open", "1 while the provider's circuit breaker is open or half-open (as this process last saw it).",
    ["provider"],
)
BREAKER_BY = "circuit breaker"


class ProviderFailed(Exception):
    """The provider did not answer (an outage, a timeout, a 5xx): retryable, and counted by its breaker."""

    def __init__(self, provider: str, err: Exception) -> None:
        super().__init__(f"the {provider} provider failed: {type(err).__name__}: {err}"[:300])
        self.provider = provider


class GuardedGateway:
    """A provider adapter whose failures are told apart from its answers: a
    decline is an answer; anything else it raises becomes ProviderFailed."""

    ANSWERS = (PaymentDeclined,)

    def __init__(self, provider: str, inner: object) -> None:
        self.provider, self.inner = provider, inner

    def __getattr__(self, name: str):
        method = getattr(self.inner, name)
        if not callable(method):
            return method

        def call(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except self.ANSWERS:
                raise
            except Exception as err:
                raise ProviderFailed(self.provider, err) from err

        return call


@contextmanager
def provider_call(provider: str) -> Iterator[None]:
    """Count the outcome of a step that calls `provider` for its breaker.

    Used around the step's transaction, not inside it: a failure rolls the
    step back, and would roll its count back with it. The bookkeeping never
    changes the step's own outcome.
    """
    try:
        yield
    except ProviderFailed as err:
        _quietly(record_failure, provider, str(err))
        raise
    except PaymentDeclined:
        _quietly(record_success, provider)  # the provider answered
        raise
    else:
        _quietly(record_success, provider)


def _quietly(func, *args) -> None:
    try:
        func(*args)
    except Exception:  # noqa: BLE001 - see provider_call
        log.exception("Circuit breaker bookkeeping for %s failed", args[0])


def record_failure(provider: str, error: str = "") -> bool:
    """Count a failed call. True when this failure opened the breaker."""
    now = timezone.now()
    with transaction.atomic():
        breaker = _locked(provider)
        breaker.consecutive_failures += 1
        breaker.last_error = error[:300]
        was = breaker.state
        too_many = breaker.consecutive_failures >= settings.ORDER_DESK_BREAKER_FAILURES
        trips = was == CircuitBreaker.HALF_OPEN or (was == CircuitBreaker.CLOSED and too_many)
        if trips:
            breaker.state, breaker.opened_at, breaker.trial_started_at = CircuitBreaker.OPEN, now, None
        breaker.save()
        opened = trips and was == CircuitBreaker.CLOSED
        if opened:
            HoldEvent.objects.create(kind=HoldEvent.Kind.BREAKER_OPENED, subject=provider, by=BREAKER_BY,
                                     reason=f"{breaker.consecutive_failures} failures in a row: {error}"[:300], at=now)
    if trips:
        BREAKER_OPEN.labels(provider).set(1)
        log.warning("Circuit breaker for %s %s after %d failures: %s", provider, "opened" if opened else "opened again",
                    breaker.consecutive_failures, error)
    if opened:
        _tell_staff(f"Circuit breaker open: the {provider} provider is failing",
                    f"The {provider} provider failed {breaker.consecutive_failures} times in a row (last: {error}).\n"
                    f"Orders wait before calling it; after {settings.ORDER_DESK_BREAKER_COOLDOWN_SECONDS:g} s one order tries again.\n"
                    f"{settings.ORDER_DESK_BASE_URL.rstrip('/')}/ops/")
    return opened


def record_success(provider: str) -> bool:
    """Count a call that the provider answered. True when this closed an open breaker."""
    if not CircuitBreaker.objects.filter(provider=provider).exclude(state=CircuitBreaker.CLOSED, consecutive_failures=0).exists():
        return False  # the usual case: one read, no write
    with transaction.atomic():
        breaker = _locked(provider)
        was = breaker.state
        breaker.state, breaker.consecutive_failures, breaker.opened_at, breaker.trial_started_at = CircuitBreaker.CLOSED, 0, None, None
        breaker.save()
        closed = was != CircuitBreaker.CLOSED
        if closed:
            HoldEvent.objects.create(kind=HoldEvent.Kind.BREAKER_CLOSED, subject=provider, by=BREAKER_BY,
                                     reason="the provider answered again")
    if closed:
        BREAKER_OPEN.labels(provider).set(0)
        log.warning("Circuit breaker for %s closed: the provider answered again", provider)
        _tell_staff(f"Circuit breaker closed: the {provider} provider answers again", "Orders waiting on it continue now.")
        holds_lifted_signal(by=BREAKER_BY, stages=[holds.STAGE_PAYMENT])
    return closed


def hold_for(provider: str) -> HoldResult:
    """Whether an order about to call `provider` must wait; the half-open trial is handed out here."""
    recheck = settings.ORDER_DESK_HOLD_RECHECK_SECONDS
    if not CircuitBreaker.objects.filter(provider=provider).exclude(state=CircuitBreaker.CLOSED).exists():
        return HoldResult(held=False, recheck_seconds=recheck)
    cooldown = timedelta(seconds=settings.ORDER_DESK_BREAKER_COOLDOWN_SECONDS)
    now = timezone.now()
    with transaction.atomic():
        breaker = _locked(provider)
        if breaker.state == CircuitBreaker.CLOSED:
            return HoldResult(held=False, recheck_seconds=recheck)
        opened_at = breaker.opened_at or now
        # The trial: the first order after the cool-down; again if the last trial never reported (its order was cancelled).
        trial_due = (breaker.trial_started_at or opened_at) + cooldown
        if now >= trial_due and (breaker.state == CircuitBreaker.OPEN or breaker.state == CircuitBreaker.HALF_OPEN):
            breaker.state, breaker.trial_started_at = CircuitBreaker.HALF_OPEN, now
            breaker.save()
            log.info("Circuit breaker for %s half-open: one call goes through as the trial", provider)
            return HoldResult(held=False, recheck_seconds=recheck)
        return HoldResult(
            held=True, by=BREAKER_BY, since=opened_at.isoformat(),
            reason=f"the {provider} provider is failing ({breaker.consecutive_failures} failures in a row); waiting before calling it",
            recheck_seconds=max(1.0, min(recheck, (trial_due - now).total_seconds())),
        )


def open_breakers() -> list[CircuitBreaker]:
    return list(CircuitBreaker.objects.exclude(state=CircuitBreaker.CLOSED).order_by("provider"))


def _locked(provider: str) -> CircuitBreaker:
    CircuitBreaker.objects.get_or_create(provider=provider)
    return CircuitBreaker.objects.select_for_update().get(provider=provider)


def _tell_staff(subject: str, body: str) -> None:
    recipients = list(get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="").values_list("email", flat=True))
    if recipients:
        try:
            send_mail(subject=f"[Order Desk] {subject}", message=body, from_email=None, recipient_list=recipients)
        except OSError as err:  # the banner and the operations page still say it
            log.warning("Could not email staff about %r: %s", subject, err)

"""Erasing a customer: their personal data leaves the mirror, their key is destroyed, the erasure is
recorded; what the audit needs stays; running orders, missing reasons and the wrong people are refused."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from approvals.models import ApprovalDecision, AuditExport
from orders import services
from orders.exceptions import OrderError
from orders.models import Customer, CustomerNotification, Order, OrderEvent
from orders.privacy.models import CustomerDataKey, CustomerErasure
from orders.privacy.services import ErasureRefused, customer_erase
from temporal_bridge.order import states

pytestmark = pytest.mark.django_db

PERSONAL = ("acme", "larkspur", "hollowell", "jane", "buyer@", "main street")


def everything_written_about(customer: Customer) -> str:
    """Every text the mirror holds for the customer and their orders, lower-cased."""
    orders = Order.objects.filter(customer=customer)
    parts = [customer.name, customer.email]
    parts += [f"{o.shipping_address} {o.note} {o.failure_reason}" for o in orders]
    parts += OrderEvent.objects.filter(order__in=orders).values_list("message", flat=True)
    parts += ApprovalDecision.objects.filter(order__in=orders).values_list("comment", flat=True)
    for recipient, subject in CustomerNotification.objects.filter(order__in=orders).values_list("recipient", "subject"):
        parts += [recipient, subject]
    return "\n".join(parts).lower()


def test_erasure_removes_every_personal_text_and_keeps_the_audit(protector, customer, closed_order):
    assert all(word in everything_written_about(customer) for word in PERSONAL)  # the fixture does name them
    decisions_before = list(ApprovalDecision.objects.values_list("decision", "approver_username", "created_at"))
    kinds_before = list(OrderEvent.objects.filter(order=closed_order).values_list("kind", "actor", "created_at"))

    outcome = customer_erase(customer_id=customer.pk, actor=protector, reason="Request DPR-2026-17")

    assert outcome.erased_now and outcome.orders_count == 1
    customer.refresh_from_db()
    closed_order.refresh_from_db()
    text = everything_written_about(customer)
    assert [word for word in PERSONAL if word in text] == []
    assert customer.name == f"Erased customer {customer.pk}"
    assert closed_order.shipping_address == f"Erased customer {customer.pk}"
    # Amounts, lines, states, decisions, approvers and times stay.
    assert (closed_order.total, closed_order.status, closed_order.lines.count()) == (30, states.FULFILLED, 1)
    assert list(ApprovalDecision.objects.values_list("decision", "approver_username", "created_at")) == decisions_before
    assert list(OrderEvent.objects.filter(order=closed_order).values_list("kind", "actor", "created_at")) == kinds_before
    assert ApprovalDecision.objects.get().comment == f"Known customer, Erased customer {customer.pk}"


def test_the_key_is_destroyed_and_the_erasure_recorded_without_personal_data(protector, customer, closed_order):
    customer_erase(customer_id=customer.pk, actor=protector, reason="Request DPR-2026-17")

    key = CustomerDataKey.objects.get(customer=customer)
    assert key.wrapped_key is None and key.destroyed_at is not None
    record = CustomerErasure.objects.get(customer=customer)
    assert (record.erased_by, record.reason, record.orders_count, record.by_retention) == ("dpo", "Request DPR-2026-17", 1, False)
    assert "acme" not in str(record).lower()


def test_erasing_twice_changes_nothing_and_says_so(protector, customer, closed_order):
    first = customer_erase(customer_id=customer.pk, actor=protector, reason="Request DPR-2026-17")
    again = customer_erase(customer_id=customer.pk, actor=protector, reason="a replayed request")

    assert not again.erased_now and again.erased_at == first.erased_at
    assert "erased already" in again.message
    assert CustomerErasure.objects.get().reason == "Request DPR-2026-17"


@pytest.mark.parametrize("status", [states.PENDING_APPROVAL, states.PROCESSING, states.ON_HOLD, states.IN_TRANSIT])
def test_a_customer_with_a_running_order_is_refused_and_nothing_changes(protector, customer, closed_order, make_order, status):
    running = make_order(status=status)

    with pytest.raises(ErasureRefused, match=f"1 order\\(s\\) still running or closed in the last 2 minutes \\({running.number}\\)"):
        customer_erase(customer_id=customer.pk, actor=protector, reason="Request DPR-2026-17")

    customer.refresh_from_db()
    assert customer.name == "Acme Corporation"
    assert not CustomerErasure.objects.exists()
    assert not CustomerDataKey.objects.filter(destroyed_at__isnull=False).exists()


@pytest.mark.parametrize("role", ["clerk", "manager", "senior", "auditor"])
def test_clerks_managers_and_auditors_may_not_erase(request, customer, closed_order, role):
    user = request.getfixturevalue(role)
    with pytest.raises(PermissionDenied):
        customer_erase(customer_id=customer.pk, actor=user, reason="I was asked to")
    customer.refresh_from_db()
    assert customer.name == "Acme Corporation" and not CustomerErasure.objects.exists()


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_reason_is_required_and_bounded(protector, customer, closed_order, reason):
    with pytest.raises(ErasureRefused):
        customer_erase(customer_id=customer.pk, actor=protector, reason=reason)
    assert not CustomerErasure.objects.exists()


def test_an_unknown_customer_is_a_clear_refusal(protector):
    with pytest.raises(ErasureRefused, match="no customer 999999"):
        customer_erase(customer_id=999999, actor=protector, reason="Request DPR-2026-17")


def test_no_new_order_can_be_written_for_an_erased_customer(protector, customer, closed_order, clerk, widget, fake_temporal):
    customer_erase(customer_id=customer.pk, actor=protector, reason="Request DPR-2026-17")
    with pytest.raises(OrderError, match="erased"):
        services.order_submit(customer=customer, lines=[services.LineRequest(widget, 1)], created_by=clerk,
                              shipping_address="somewhere")
    assert Order.objects.filter(customer=customer).count() == 1


def test_a_customer_without_any_key_gets_a_destroyed_one_so_none_is_made_later(protector, customer, closed_order):
    assert not CustomerDataKey.objects.exists()
    customer_erase(customer_id=customer.pk, actor=protector, reason="Request DPR-2026-17")
    assert CustomerDataKey.objects.get(customer=customer).destroyed_at is not None


def test_an_audit_exports_record_that_searched_the_customer_by_name_is_scrubbed(protector, auditor, customer, closed_order):
    named = AuditExport.objects.create(user=auditor, username="auditor", records="all", format="csv",
                                       filters={"customer": "acme corp", "state": "fulfilled"})
    other = AuditExport.objects.create(user=auditor, username="auditor", records="all", format="csv", filters={"customer": "Globex"})

    customer_erase(customer_id=customer.pk, actor=protector, reason="Request DPR-2026-17")

    named.refresh_from_db()
    other.refresh_from_db()
    assert named.filters == {"customer": f"Erased customer {customer.pk}", "state": "fulfilled"}
    assert other.filters == {"customer": "Globex"}


def test_an_order_closed_moments_ago_still_counts_as_running(protector, customer, closed_order, make_order):
    just_closed = make_order(status=states.CANCELLED)  # its workflow may still be completing under the customer's key
    with pytest.raises(ErasureRefused, match=just_closed.number):
        customer_erase(customer_id=customer.pk, actor=protector, reason="Request DPR-2026-17")
    Order.objects.filter(pk=just_closed.pk).update(updated_at=timezone.now() - timedelta(minutes=3))
    assert customer_erase(customer_id=customer.pk, actor=protector, reason="Request DPR-2026-17").orders_count == 2

"""A customer with a closed order whose trail names them, and the people around an erasure."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from approvals.models import ApprovalDecision
from orders import roles
from orders.models import CustomerNotification, Order, OrderEvent
from orders.privacy.keys import customer_keys
from temporal_bridge.order import states
from tests.conftest import make_user


@pytest.fixture
def protector(db):
    """The data protection officer: may erase, staff for the admin."""
    Group.objects.get_or_create(name=roles.DATA_PROTECTION)
    roles.ensure_roles()
    return make_user("dpo", roles.DATA_PROTECTION, is_staff=True)


@pytest.fixture
def closed_order(make_order, manager):
    """A fulfilled order of Acme Corporation, closed yesterday, whose timeline, decision and e-mail mention them."""
    order = make_order(status=states.FULFILLED, shipping_address="Acme Corporation\n77 Larkspur Mews\nHollowell HW9 4QZ",
                       note="Ring Jane at reception")
    Order.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(days=1))
    order.refresh_from_db()
    OrderEvent.objects.create(order=order, kind=OrderEvent.Kind.UPDATE, idempotency_key="u1", actor="clerk",
                              message="Updated by clerk: shipping address “1 Main Street” → “77 Larkspur Mews”")
    OrderEvent.objects.create(order=order, kind=OrderEvent.Kind.COMMENT, idempotency_key="c1", actor="manager",
                              message="Checked with acme corporation about 77 Larkspur Mews, fine")
    OrderEvent.objects.create(order=order, kind=OrderEvent.Kind.DECISION, idempotency_key="d1", actor="manager",
                              message="Approved by manager", status=states.APPROVED)
    ApprovalDecision.objects.create(order=order, approver=manager, approver_username="manager", request_id="r1",
                                    decision=ApprovalDecision.Decision.APPROVED, comment="Known customer, buyer@acme.example")
    CustomerNotification.objects.create(order=order, kind="shipped", idempotency_key="n1", recipient="buyer@acme.example",
                                        subject=f"{order.number} for Acme Corporation has shipped")
    return order


@pytest.fixture(autouse=True)
def fresh_key_cache():
    """Each test meets the process's key cache empty: order ids repeat between tests, never in production."""
    customer_keys.workflow_keys.clear()
    customer_keys.keys.clear()
    yield
    customer_keys.workflow_keys.clear()
    customer_keys.keys.clear()

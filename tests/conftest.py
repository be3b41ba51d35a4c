"""Shared fixtures: the desk's roles as real users, and a small catalogue."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from approvals.models import ApprovalPolicy
from orders import roles
from orders.models import Customer, Order, OrderLine, Product
from temporal_bridge.order import states
from tests.fakes import FakeTemporal


def make_user(username: str, *group_names: str, **extra):
    user = get_user_model().objects.create_user(username=username, password="pw", **extra)
    user.groups.set(Group.objects.filter(name__in=group_names))
    return user


@pytest.fixture
def clerk(db):
    return make_user("clerk", roles.CLERKS)


@pytest.fixture
def auditor(db):
    return make_user("auditor", roles.AUDITORS)


@pytest.fixture
def manager(db):
    return make_user("manager", roles.MANAGERS, is_staff=True)


@pytest.fixture
def manager2(db):
    return make_user("manager2", roles.MANAGERS, is_staff=True)


@pytest.fixture
def senior(db):
    """A manager who also holds the senior-approver permission (as seed_demo's `senior`)."""
    return make_user("senior", roles.MANAGERS, roles.SENIOR_MANAGERS, is_staff=True)


@pytest.fixture
def policies(db):
    """The default approval policies, stated here (a transactional test's flush
    removes what the data migration seeded): below 500 automatic, one manager
    up to 10,000, above that two managers including a senior; 24/36/48 h."""
    ApprovalPolicy.objects.all().delete()
    times = {"remind_after_hours": Decimal("24"), "escalate_after_hours": Decimal("36"), "expire_after_hours": Decimal("48")}
    return {
        "small": ApprovalPolicy.objects.create(
            name="Small orders", min_total=Decimal("0"), max_total=Decimal("500"), auto_approve=True, **times,
        ),
        "standard": ApprovalPolicy.objects.create(
            name="Standard orders", min_total=Decimal("500"), max_total=Decimal("10000"), **times,
        ),
        "large": ApprovalPolicy.objects.create(
            name="Large orders", min_total=Decimal("10000"), approvals_required=2, requires_senior=True, **times,
        ),
    }


@pytest.fixture
def outsider(db):
    """Logged in, but in no role."""
    return make_user("outsider")


@pytest.fixture
def customer(db):
    return Customer.objects.create(name="Acme Corporation", email="buyer@acme.example", credit_limit=Decimal("100000"))


@pytest.fixture
def widget(db):
    return Product.objects.create(sku="WID-1", name="Widget", price=Decimal("10.00"), stock_on_hand=100)


@pytest.fixture
def server(db):
    return Product.objects.create(sku="SRV-1", name="Server", price=Decimal("1000.00"), stock_on_hand=5)


@pytest.fixture
def make_order(db, customer, clerk, widget):
    """An order row as order_submit writes it, without starting a workflow."""

    def make(
        *, status: str = states.PENDING_APPROVAL, product=None, quantity: int = 3, created_by=None, started: bool = True, **fields,
    ) -> Order:
        product = product or widget
        total = product.price * quantity
        order = Order.objects.create(
            customer=fields.pop("customer", customer), created_by=created_by or clerk, status=status, total=total,
            shipping_address=fields.pop("shipping_address", "1 Main Street"),
            requires_approval=fields.pop("requires_approval", True), **fields,
        )
        order.number = f"OD-{order.pk:06d}"
        order.workflow_id = f"order-{order.pk}"
        if started:
            order.workflow_started_at = timezone.now()
        order.save()
        OrderLine.objects.create(order=order, product=product, quantity=quantity, unit_price=product.price)
        return order

    return make


@pytest.fixture
def fake_temporal(monkeypatch):
    """The Temporal boundary replaced by a recording fake (see tests/fakes.py)."""
    return FakeTemporal().install(monkeypatch)

"""Approval policies: which one an order gets, the snapshot frozen at
submission, validation in the admin, and the page saying which rule applies."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from approvals.models import ApprovalPolicy
from approvals.selectors import approval_rule_for, policy_for
from orders import services
from orders.models import Customer, Order
from orders.timeline.models import OrderEvent
from temporal_bridge.approvals.messages import ApprovalRule

pytestmark = pytest.mark.django_db


def submit(clerk, customer, product, quantity) -> Order:
    return services.order_submit(
        customer=customer, lines=[services.LineRequest(product, quantity)], created_by=clerk, shipping_address="1 Main St",
    )


def test_migration_seeds_the_default_policies():
    # (Transactional tests flush the table; pytest-django runs them after this one.)
    seeded = {p.name: p for p in ApprovalPolicy.objects.all()}
    assert set(seeded) == {"Small orders", "Standard orders", "Large orders"}
    assert seeded["Small orders"].auto_approve and seeded["Small orders"].max_total == Decimal("500")
    standard, large = seeded["Standard orders"], seeded["Large orders"]
    def terms(p):
        return p.min_total, p.max_total, p.approvals_required, p.requires_senior

    assert terms(standard) == (Decimal("500"), Decimal("10000"), 1, False)
    assert terms(large) == (Decimal("10000"), None, 2, True)
    assert (large.remind_after_hours, large.escalate_after_hours, large.expire_after_hours) == (Decimal("24"), Decimal("36"), Decimal("48"))


@pytest.mark.parametrize(("total", "expected"), [
    ("0.00", "small"), ("499.99", "small"), ("500.00", "standard"), ("9999.99", "standard"), ("10000.00", "large"), ("50000.00", "large"),
])
def test_an_order_gets_the_policy_whose_total_range_covers_it(policies, customer, total, expected):
    assert policy_for(total=Decimal(total), customer=customer) == policies[expected]


def test_a_customers_own_policy_wins_over_the_general_one(policies, customer):
    globex = Customer.objects.create(name="Globex", email="x@globex.example")
    strict = ApprovalPolicy.objects.create(name="Acme: always two", customer=customer, min_total=Decimal("0"), approvals_required=2)
    assert policy_for(total=Decimal("100"), customer=customer) == strict
    assert policy_for(total=Decimal("100"), customer=globex) == policies["small"]


def test_inactive_policies_match_nothing_and_the_settings_are_the_fallback(policies, customer, settings):
    ApprovalPolicy.objects.update(active=False)
    settings.ORDER_AUTO_APPROVE_BELOW = Decimal("300")
    settings.ORDER_APPROVAL_DEADLINE_HOURS = 12
    assert policy_for(total=Decimal("1000"), customer=customer) is None
    assert approval_rule_for(total=Decimal("299"), customer=customer).auto_approve is True
    fallback = approval_rule_for(total=Decimal("1000"), customer=customer)
    assert fallback == ApprovalRule(auto_approve=False, approvals_required=1, expire_after_seconds=12 * 3600.0)


def test_overlapping_active_policies_are_refused_with_the_name_of_the_other(policies):
    clash = ApprovalPolicy(name="Mid", min_total=Decimal("5000"), max_total=Decimal("20000"))
    with pytest.raises(ValidationError, match="overlaps the active policy “Standard orders”"):
        clash.full_clean()
    clash.active = False
    clash.full_clean()  # an inactive draft may overlap


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"remind_after_hours": Decimal("50")}, "remind_after_hours", "The reminder must come before the expiry"),
    ({"escalate_after_hours": Decimal("48")}, "escalate_after_hours", "The escalation must come before the expiry"),
    ({"remind_after_hours": Decimal("30"), "escalate_after_hours": Decimal("20")}, "escalate_after_hours", "after the reminder"),
    ({"max_total": Decimal("100")}, "max_total", "Must be above"),
    ({"approvals_required": 0}, "approvals_required", "greater than or equal to 1"),
])
def test_policy_validation_explains_what_is_wrong(db, fields, field, message):
    policy = ApprovalPolicy(name="Draft", min_total=Decimal("100000"), **fields)
    with pytest.raises(ValidationError) as caught:
        policy.full_clean()
    assert any(message in text for text in caught.value.message_dict[field])


def test_submission_freezes_the_policy_into_the_order_and_the_workflow_input(
    policies, clerk, customer, server, fake_temporal, django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        order = submit(clerk, customer, server, 12)  # 12,000.00: "Large orders"
    [started] = fake_temporal.starts
    rule = started.approval_rule
    assert rule == ApprovalRule(
        policy_id=policies["large"].pk, policy_name="Large orders", auto_approve=False, approvals_required=2, requires_senior=True,
        remind_after_seconds=24 * 3600.0, escalate_after_seconds=36 * 3600.0, expire_after_seconds=48 * 3600.0,
    )
    assert (started.requires_approval, started.approval_deadline_seconds) == (True, 48 * 3600.0)
    order.refresh_from_db()
    assert (order.approvals_required, order.requires_senior, order.requires_approval) == (2, True, True)


def test_submission_writes_the_gates_first_note_and_deadline_and_tells_the_workflow(
    policies, clerk, customer, server, widget, fake_temporal, django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        large = submit(clerk, customer, server, 12)
        small = submit(clerk, customer, widget, 2)
    large.refresh_from_db()
    due = large.created_at + timedelta(hours=48)
    assert large.approval_deadline == due
    notes = [(e.idempotency_key, e.kind, e.message, e.created_at) for e in OrderEvent.objects.filter(order=large)]
    assert notes == [("0000-submitted", "submitted", f"Order {large.number} submitted (12000.00 USD)", large.created_at),
                     ("0001-note", "note", f"Awaiting 2 approvals from different managers, at least one senior "
                      f"(policy “Large orders”), due by {due:%Y-%m-%d %H:%M} UTC", large.created_at)]
    started = {inp.order_id: inp for inp in fake_temporal.starts}
    assert (started[large.pk].awaiting_noted, started[large.pk].submitted_at) == (True, large.created_at.isoformat())
    # An auto-approved order waits for nobody: no note, no deadline, and its workflow is told so.
    small.refresh_from_db()
    assert small.approval_deadline is None
    assert list(OrderEvent.objects.filter(order=small).values_list("idempotency_key", flat=True)) == ["0000-submitted"]
    assert started[small.pk].awaiting_noted is False


def test_an_order_submitted_without_the_note_has_its_workflow_write_it(policies, clerk, customer, server, fake_temporal):
    fake_temporal.unavailable = True  # as an order submitted before the desk wrote the note, started later by reconcile
    order = submit(clerk, customer, server, 12)
    OrderEvent.objects.filter(order=order, idempotency_key="0001-note").delete()
    fake_temporal.unavailable = False
    assert services.order_start_workflow(order_id=order.pk) is True
    assert fake_temporal.starts[-1].awaiting_noted is False


def test_editing_a_policy_changes_no_order_already_submitted(
    policies, clerk, customer, server, fake_temporal, django_capture_on_commit_callbacks,
):
    fake_temporal.unavailable = True  # the start fails: reconcile_orders starts it later
    order = submit(clerk, customer, server, 12)
    large = policies["large"]
    large.approvals_required, large.requires_senior, large.expire_after_hours = 3, False, Decimal("4")
    large.save()

    fake_temporal.unavailable = False
    assert services.order_start_workflow(order_id=order.pk) is True
    started = fake_temporal.starts[-1].approval_rule
    assert (started.approvals_required, started.requires_senior, started.expire_after_seconds) == (2, True, 48 * 3600.0)
    order.refresh_from_db()
    assert "2 approvals from different people, at least one senior" in order.approval_rule_text
    # A new order gets the edited rule.
    with django_capture_on_commit_callbacks(execute=True):
        newer = submit(clerk, customer, server, 12)
    assert fake_temporal.starts[-1].approval_rule.approvals_required == 3
    assert newer.approvals_required == 3


def test_detail_page_says_which_rule_applies(client, policies, clerk, manager, customer, server, widget, fake_temporal):
    large = submit(clerk, customer, server, 12)
    small = submit(clerk, customer, widget, 2)
    client.force_login(manager)
    html = client.get(large.get_absolute_url()).content.decode()
    assert ("“Large orders”: 2 approvals from different people, at least one senior; "
            "reminder after 24 h, escalation after 36 h, expires after 48 h") in html
    assert "“Small orders”: approved automatically" in client.get(small.get_absolute_url()).content.decode()


def test_senior_manager_edits_a_policy_in_the_admin_and_a_manager_only_reads(client, policies, senior, manager):
    url = f"/admin/approvals/approvalpolicy/{policies['standard'].pk}/change/"
    data = {
        "name": "Standard orders", "active": "on", "min_total": "500", "max_total": "10000", "customer": "",
        "approvals_required": "1", "remind_after_hours": "12", "escalate_after_hours": "24", "expire_after_hours": "36",
    }
    client.force_login(manager)
    assert client.get(url).status_code == 200
    assert client.post(url, data).status_code == 403

    client.force_login(senior)
    response = client.post(url, data)
    assert response.status_code == 302
    policies["standard"].refresh_from_db()
    assert policies["standard"].expire_after_hours == Decimal("36")

    overlapping = {**data, "name": "Overlap", "min_total": "9000", "max_total": "11000"}
    response = client.post("/admin/approvals/approvalpolicy/add/", overlapping)
    assert response.status_code == 200
    assert "overlaps the active policy" in response.content.decode()
    assert not ApprovalPolicy.objects.filter(name="Overlap").exists()

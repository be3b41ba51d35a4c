"""Orders held for credit review are finance's tasks: in their inbox (and
superusers'), with the way to raise the limit and the ordinary cancel; not a
clerk's or a manager's, and no manager's "Release hold" ends them."""
from __future__ import annotations

import re

import pytest

from approvals.identity import actor_verify
from orders import roles
from orders.models import Order
from temporal_bridge.contract.intents import ActorCheckInput
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from tests.conftest import make_user
from tests.orders.holds.test_credit import OVER, held_for_credit

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance(db):
    return make_user("fiona", roles.FINANCE, is_staff=True)


@pytest.fixture
def credit_held(make_order):
    def make(**fields) -> Order:
        order = make_order(status=states.APPROVED, **fields)
        held_for_credit(order)
        order.refresh_from_db()
        return order

    return make


def test_finance_sees_the_held_order_with_why_and_how_to_decide(client, finance, credit_held, make_order, fake_temporal):
    order = credit_held()
    make_order(status=states.PENDING_APPROVAL)  # awaiting approval: not finance's
    client.force_login(finance)
    html = client.get("/approvals/").content.decode()
    assert html.count("data-credit-hold=") == 1 and f'data-credit-hold="{order.number}"' in html
    assert f"Held for credit review: {OVER}" in html
    assert f'href="/admin/orders/customer/{order.customer_id}/change/"' in html and "Raise the credit limit" in html
    assert f'action="/orders/{order.pk}/cancel/"' in html
    assert 'id="inbox"' not in html and "Approve selected" not in html, "finance decides no approvals"
    assert 'href="/approvals/"' in html, "the nav leads finance to the inbox"


def test_a_superuser_sees_credit_reviews_beside_the_approvals(client, credit_held, fake_temporal):
    credit_held()
    admin = make_user("admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    html = client.get("/approvals/").content.decode()
    assert html.count("data-credit-hold=") == 1 and 'id="inbox"' in html


def test_a_clerk_has_no_inbox_and_a_manager_sees_no_credit_review(client, clerk, manager, credit_held, fake_temporal):
    credit_held()
    client.force_login(clerk)
    assert client.get("/approvals/").status_code == 403
    client.force_login(manager)
    html = client.get("/approvals/").content.decode()
    assert "data-credit-hold=" not in html and 'id="credit-holds"' not in html


def test_finance_cancels_from_the_inbox_with_the_ordinary_cancel_which_the_workflow_accepts_from_them(
    client, finance, credit_held, fake_temporal,
):
    order = credit_held()
    client.force_login(finance)
    html = client.get("/approvals/").content.decode()
    request_id = re.search(r'name="cancel-request_id" value="([^"]+)"', html).group(1)
    response = client.post(f"/orders/{order.pk}/cancel/", {"cancel-request_id": request_id, "cancel-reason": "Credit refused"})
    assert response.status_code == 302
    [sent] = fake_temporal.signals
    assert (sent.name, sent.payload.actor, sent.payload.reason) == (m.SIGNAL_CANCEL, "fiona", "Credit refused")
    assert actor_verify(ActorCheckInput(order_id=order.pk, actor="fiona", action=m.SIGNAL_CANCEL)).allowed


def test_no_manager_releases_a_credit_hold(client, manager, credit_held, fake_temporal):
    order = credit_held()
    client.force_login(manager)
    assert client.post(f"/orders/{order.pk}/release-hold/", {"release-request_id": "req-12345678"}).status_code == 403
    assert fake_temporal.signals == []
    html = client.get(order.get_absolute_url()).content.decode()
    assert "Release hold" not in html and "Cancel order" in html


def test_an_order_passed_its_check_leaves_the_inbox_at_once(client, finance, credit_held, fake_temporal):
    order = credit_held()
    Order.objects.filter(pk=order.pk).update(hold_stage="")  # its check passed: it claimed its credit
    client.force_login(finance)
    assert "data-credit-hold=" not in client.get("/approvals/").content.decode()

"""Hostile and clumsy input, generated: every page and action, as every role,
with random and malformed data. Nothing answers 5xx, and input the server
refuses changes nothing (no row written, no signal sent to a workflow)."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from approvals.models import ApprovalDecision
from orders.models import Order, OrderEvent, OrderLine, Product
from temporal_bridge import states

pytestmark = pytest.mark.django_db

# Text a browser, a script or an attacker might send: unicode, control
# characters, markup, SQL, very long strings, numbers as text.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=3000),
    st.sampled_from(["", " ", "0", "-1", "1e309", "NaN", "999999999999999999999", "<script>alert(1)</script>",
                     "'; DROP TABLE orders_order; --", "\x00", "../../etc/passwd", "%00", "☃" * 50, "true", "[]", "{}"]),
)
ACTION_FIELDS = ["request_id", "comment", "reject-reason", "reject-request_id", "cancel-reason", "cancel-request_id",
                 "priority", "shipping_address", "note", "customer", "lines-TOTAL_FORMS", "lines-INITIAL_FORMS",
                 "lines-MIN_NUM_FORMS", "lines-MAX_NUM_FORMS", "lines-0-product", "lines-0-quantity", "lines-1-product",
                 "lines-1-quantity", "status", "q", "before", "after", "page", "unexpected"]
form_data = st.dictionaries(st.sampled_from(ACTION_FIELDS) | st.text(min_size=1, max_size=12), hostile_text, max_size=10)
ROLES = ["anonymous", "outsider", "clerk", "manager"]
POST_ENDPOINTS = ["/orders/new/", "/orders/{pk}/approve/", "/orders/{pk}/reject/", "/orders/{pk}/cancel/", "/orders/{pk}/update/"]
GET_ENDPOINTS = ["/orders/", "/orders/{pk}/", "/orders/{pk}/panel/", "/approvals/", "/admin/orders/order/"]


def world_state() -> tuple:
    """What a refused request must leave untouched."""
    return (
        Order.objects.count(), OrderLine.objects.count(), OrderEvent.objects.count(), ApprovalDecision.objects.count(),
        tuple(Order.objects.order_by("id").values_list("status", "priority", "shipping_address", "note")),
        tuple(Product.objects.order_by("id").values_list("stock_on_hand", "stock_reserved")),
    )


@pytest.fixture
def actors(clerk, manager, outsider):
    return {"anonymous": AnonymousUser(), "outsider": outsider, "clerk": clerk, "manager": manager}


@pytest.fixture
def orders(make_order, customer):
    pending = make_order()
    fulfilled = make_order(status=states.FULFILLED)
    return {"pending": pending.pk, "fulfilled": fulfilled.pk, "missing": 999_999}


def client_as(actors, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(actors[role])
    return client


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(role=st.sampled_from(ROLES), endpoint=st.sampled_from(POST_ENDPOINTS), which=st.sampled_from(["pending", "fulfilled", "missing"]),
       data=form_data, htmx=st.booleans())
def test_random_posts_never_fail_with_5xx_and_refusals_change_nothing(fake_temporal, actors, orders, role, endpoint, which, data, htmx):
    before, signals_before = world_state(), len(fake_temporal.signals)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client_as(actors, role).post(endpoint.format(pk=orders[which]), data, **headers)

    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400 or role in ("anonymous", "outsider"):
        assert world_state() == before
        assert len(fake_temporal.signals) == signals_before


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(role=st.sampled_from(ROLES), endpoint=st.sampled_from(GET_ENDPOINTS), which=st.sampled_from(["pending", "fulfilled", "missing"]),
       params=form_data)
def test_random_queries_never_fail_with_5xx_nor_write(fake_temporal, actors, orders, role, endpoint, which, params):
    before = world_state()
    response = client_as(actors, role).get(endpoint.format(pk=orders[which]), params)
    assert response.status_code < 500, response.content[:500]
    assert world_state() == before
    assert fake_temporal.signals == []


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=st.sampled_from(["unavailable", "not_found"]), action=st.sampled_from(["approve", "reject", "cancel", "update"]))
def test_signals_to_a_finished_or_unreachable_workflow_answer_a_clear_message(fake_temporal, actors, orders, state, action):
    fake_temporal.unavailable = state == "unavailable"
    fake_temporal.not_found = state == "not_found"
    data = {"request_id": "abcdef123456", "reject-reason": "no", "reject-request_id": "abcdef123457", "cancel-reason": "no",
            "cancel-request_id": "abcdef123458", "priority": "high", "shipping_address": "2 Road"}
    try:
        response = client_as(actors, "manager").post(f"/orders/{orders['pending']}/{action}/", data, HTTP_HX_REQUEST="true")
    finally:
        fake_temporal.unavailable = fake_temporal.not_found = False
    assert response.status_code == (503 if state == "unavailable" else 409)
    body = response.content.decode()
    assert "Traceback" not in body
    assert ("unavailable" in body) if state == "unavailable" else ("no longer running" in body)

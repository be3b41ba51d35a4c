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
from orders.intents.models import RecordedIntent
from orders.models import Order, OrderLine, Product
from orders.timeline.models import OrderEvent
from temporal_bridge.order import states

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
                 "lines-1-quantity", "status", "q", "before", "after", "page", "unexpected", "customer_search",
                 "date_from", "date_to", "approver", "state", "records", "format", "line-1", "line-2"]
form_data = st.dictionaries(st.sampled_from(ACTION_FIELDS) | st.text(min_size=1, max_size=12), hostile_text, max_size=10)
ROLES = ["anonymous", "outsider", "clerk", "manager", "auditor"]
ORDER_POSTS = ["/orders/{pk}/approve/", "/orders/{pk}/reject/", "/orders/{pk}/cancel/", "/orders/{pk}/update/",
               "/orders/{pk}/stock-decision/"]
POST_ENDPOINTS = ["/orders/new/", "/orders/new/preview/", *ORDER_POSTS]
GET_ENDPOINTS = ["/orders/", "/orders/{pk}/", "/orders/{pk}/panel/", "/approvals/", "/admin/orders/order/",
                 "/orders/new/customers/", "/approvals/audit/", "/approvals/audit/export/"]


def world_state() -> tuple:
    """What a refused request must leave untouched."""
    return (
        Order.objects.count(), OrderLine.objects.count(), OrderEvent.objects.count(), ApprovalDecision.objects.count(),
        RecordedIntent.objects.count(),
        tuple(Order.objects.order_by("id").values_list("status", "priority", "shipping_address", "note")),
        tuple(Product.objects.order_by("id").values_list("stock_on_hand", "stock_reserved")),
    )


@pytest.fixture
def actors(clerk, manager, outsider, auditor):
    return {"anonymous": AnonymousUser(), "outsider": outsider, "clerk": clerk, "manager": manager, "auditor": auditor}


@pytest.fixture
def orders(make_order, customer):
    pending = make_order()
    fulfilled = make_order(status=states.FULFILLED)
    # Some lines in no warehouse: the requester or a clerk chooses (the stock decision's POST accepts only then).
    waiting = make_order(status=states.PROCESSING, awaiting_stock=True)
    return {"pending": pending.pk, "fulfilled": fulfilled.pk, "waiting": waiting.pk, "missing": 999_999}


def client_as(actors, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(actors[role])
    return client


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(role=st.sampled_from(ROLES), endpoint=st.sampled_from(POST_ENDPOINTS),
       which=st.sampled_from(["pending", "fulfilled", "waiting", "missing"]), data=form_data, htmx=st.booleans())
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
    # One request id per action: the same id for another action on the same order is refused as a reuse.
    request_id = f"abcdef-{action}"
    data = {"request_id": request_id, "reject-reason": "no", "reject-request_id": request_id, "cancel-reason": "no",
            "cancel-request_id": request_id, "priority": "high", "shipping_address": "2 Road"}
    try:
        response = client_as(actors, "manager").post(f"/orders/{orders['pending']}/{action}/", data, HTTP_HX_REQUEST="true")
    finally:
        fake_temporal.unavailable = fake_temporal.not_found = False
    assert response.status_code == (503 if state == "unavailable" else 409)
    body = response.content.decode()
    assert "Traceback" not in body
    assert ("unavailable" in body) if state == "unavailable" else ("no longer running" in body)


# --- Numbers beyond what a column can hold: a 4xx with a clear message, never a 500 ---

BEYOND_INT64 = "9" * 23  # a 23-digit id: no bigint primary key can hold it
JUST_BEYOND_INT64 = str(2**63)


@pytest.mark.parametrize("value", [BEYOND_INT64, JUST_BEYOND_INT64, "0", "-3", "1e3", "abc"])
def test_bulk_decision_with_an_impossible_order_id_is_a_400_and_sends_nothing(client, manager, fake_temporal, orders, value):
    client.force_login(manager)
    response = client.post("/approvals/bulk/", {"orders": [str(orders["pending"]), value], "decision": "approve"})
    assert response.status_code == 400
    assert "Invalid order selection." in response.content.decode()
    assert fake_temporal.starts == [] and fake_temporal.signals == []


@pytest.mark.parametrize("param", ["before", "after"])
@pytest.mark.parametrize("value", [BEYOND_INT64, JUST_BEYOND_INT64, "0", "-1", "x"])
def test_list_cursor_beyond_any_order_id_is_a_400_with_a_message(client, clerk, fake_temporal, orders, param, value):
    client.force_login(clerk)
    response = client.get("/orders/", {param: value})
    assert response.status_code == 400
    assert "Invalid filter" in response.content.decode()
    assert "Not a position in the list." in response.content.decode()


@pytest.mark.parametrize("value", [BEYOND_INT64, "0", "-1", "abc", "1.5"])
def test_inbox_page_that_is_no_page_number_is_a_400_with_a_message(client, manager, fake_temporal, orders, value):
    client.force_login(manager)
    response = client.get("/approvals/", {"page": value})
    assert response.status_code == 400
    assert "Page must be a whole number" in response.content.decode()


def test_inbox_page_past_the_last_shows_the_last(client, manager, fake_temporal, orders):
    client.force_login(manager)
    response = client.get("/approvals/", {"page": "7"})
    assert response.status_code == 200
    assert response.context["page"].number == 1


@pytest.mark.parametrize("path", ["/orders/{pk}/", *ORDER_POSTS])
@pytest.mark.parametrize("pk", [BEYOND_INT64, JUST_BEYOND_INT64])
def test_an_order_id_beyond_int64_in_the_url_is_no_such_order(client, manager, fake_temporal, path, pk):
    client.force_login(manager)
    method = client.get if path == "/orders/{pk}/" else client.post
    response = method(path.format(pk=pk), {"reject-reason": "x", "cancel-reason": "x"})
    assert response.status_code == 404
    assert fake_temporal.signals == []


@pytest.mark.parametrize("model, action", [("order", "approve_orders"), ("order", "cancel_orders"), ("product", "delete_selected"),
                                           ("customer", "delete_selected")])
@pytest.mark.parametrize("value", [BEYOND_INT64, JUST_BEYOND_INT64, "abc"])
def test_admin_action_on_an_impossible_id_is_a_400_and_does_nothing(admin_client, fake_temporal, orders, model, action, value):
    before = world_state()
    response = admin_client.post(f"/admin/orders/{model}/", {"action": action, "_selected_action": [str(orders["pending"]), value],
                                                              "reason": "r", "post": "yes"})
    assert response.status_code == 400
    assert "Invalid selection" in response.content.decode()
    assert world_state() == before
    assert fake_temporal.signals == []


@pytest.mark.parametrize("path, params", [
    ("/admin/orders/order/", {"id": BEYOND_INT64}), ("/admin/orders/order/", {"p": BEYOND_INT64}),
    ("/admin/orders/order/", {"customer__id__exact": BEYOND_INT64}), ("/admin/orders/order/", {"q": BEYOND_INT64}),
    ("/admin/orders/order/{big}/change/", {}), ("/admin/orders/product/{big}/change/", {}), ("/admin/orders/order/{big}/history/", {}),
])
def test_admin_pages_with_numbers_beyond_int64_answer_without_a_server_error(admin_client, fake_temporal, orders, path, params):
    response = admin_client.get(path.format(big=BEYOND_INT64), params)
    assert response.status_code < 500


big_numbers = st.one_of(st.integers(min_value=2**63 - 2, max_value=10**30), st.integers(max_value=0, min_value=-(10**30))).map(str)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(role=st.sampled_from(["clerk", "manager"]),
       target=st.sampled_from(["list:before", "list:after", "inbox:page", "bulk:orders", "new:customer", "new:lines-0-product",
                               "new:lines-0-quantity", "new:lines-TOTAL_FORMS"]),
       number=big_numbers)
def test_numeric_parameters_at_and_beyond_int64_never_answer_5xx(fake_temporal, actors, orders, role, target, number):
    page, field = target.split(":")
    before = world_state()
    client = client_as(actors, role)
    if page == "list":
        response = client.get("/orders/", {field: number})
    elif page == "inbox":
        response = client.get("/approvals/", {field: number})
    elif page == "bulk":
        response = client.post("/approvals/bulk/", {"orders": number, "decision": "approve"})
    else:
        data = {"customer": "1", "priority": "normal", "shipping_address": "x", "lines-TOTAL_FORMS": "1", "lines-INITIAL_FORMS": "0",
                "lines-0-product": "1", "lines-0-quantity": "1", field: number}
        response = client.post("/orders/new/", data)
    assert response.status_code < 500, response.content[:300]
    if response.status_code >= 400:
        assert world_state() == before
        assert fake_temporal.signals == [] and fake_temporal.starts == []

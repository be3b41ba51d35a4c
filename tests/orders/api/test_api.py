"""The intake API: a storefront creates, follows and cancels orders with an API key."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from orders import roles
from orders.api.models import ApiKey, IdempotencyRecord
from orders.models import Order
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from temporal_bridge.order.records import TimelineEntry
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def issue_key(user, name: str = "Shop") -> str:
    prefix, secret, full_key = ApiKey.generate()
    key = ApiKey(name=name, user=user, prefix=prefix)
    key.set_secret(secret)
    key.save()
    return full_key


@pytest.fixture
def storefront(db):
    return make_user("shop-bot", roles.STOREFRONTS)


@pytest.fixture
def api(storefront):
    return ApiClient(issue_key(storefront))


class ApiClient:
    """A storefront's HTTP client: bearer key, JSON bodies, CSRF enforced as for any browser."""

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.http = Client(enforce_csrf_checks=True)

    def headers(self, extra: dict | None = None) -> dict:
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return {**headers, **(extra or {})}

    def post(self, path: str, body, *, headers: dict | None = None, content_type: str = "application/json"):
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        return self.http.post(f"/api/v1{path}", data, content_type=content_type, headers=self.headers(headers))

    def get(self, path: str, *, headers: dict | None = None):
        return self.http.get(f"/api/v1{path}", headers=self.headers(headers))


def order_request(customer, product, quantity: int = 2, **extra) -> dict:
    return {"customer_id": customer.pk, "lines": [{"sku": product.sku, "quantity": quantity}],
            "shipping_address": "1 Main Street\nSpringfield", **extra}


# --- Create ------------------------------------------------------------------------------


def test_storefront_creates_an_order_and_its_workflow_starts_after_commit(
    api, storefront, customer, widget, fake_temporal, django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/orders", order_request(customer, widget, 3, priority="high", note="Gate code 1234"))
    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get(number=body["number"])
    assert response["Location"] == f"/api/v1/orders/{order.number}"
    assert order.created_by == storefront and order.customer == customer
    assert (order.total, order.priority, order.note) == (widget.price * 3, "high", "Gate code 1234")
    assert body["status"] == states.PENDING_APPROVAL
    assert body["lines"] == [{"sku": "WID-1", "name": "Widget", "quantity": 3, "unit_price": "10.00", "dropped": False}]
    assert body["total"] == "30.00" and body["can_cancel"] is True
    assert [s.order_id for s in fake_temporal.starts] == [order.pk]


def test_customer_can_be_named_by_email_in_any_case(api, customer, widget, fake_temporal):
    response = api.post("/orders", {"customer_email": "BUYER@acme.example", "lines": [{"sku": "WID-1", "quantity": 1}],
                                    "shipping_address": "1 Main Street"})
    assert response.status_code == 201, response.content
    assert response.json()["customer"] == {"id": customer.pk, "name": customer.name, "email": customer.email}


def test_invalid_create_answers_400_with_a_message_per_field_and_writes_nothing(api, customer, widget, fake_temporal):
    response = api.post("/orders", {
        "customer_id": customer.pk,
        "lines": [{"sku": "WID-1", "quantity": "3"}, {"sku": "NOPE", "quantity": 1}, {"sku": "WID-1", "quantity": 0, "colour": "red"}],
        "shipping_address": "   ",
        "priority": "asap",
        "coupon": "FREE",
    })
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["fields"] == {
        "coupon": ["Unknown field."],
        "lines[0].quantity": ["Must be an integer."],
        "lines[1].sku": ["No product with SKU NOPE."],
        "lines[2].colour": ["Unknown field."],
        "lines[2].quantity": ["Must be between 1 and 10000."],
        "shipping_address": ["This field is required."],
        "priority": ["Must be one of: low, normal, high, urgent."],
    }
    assert Order.objects.count() == 0 and fake_temporal.starts == []


@pytest.mark.parametrize("customer_fields, message", [
    ({}, "Give exactly one of customer_id and customer_email."),
    ({"customer_id": 1, "customer_email": "a@b.example"}, "Give exactly one of customer_id and customer_email."),
    ({"customer_id": True}, "Must be an integer."),
    ({"customer_id": 2**70}, f"Must be between 1 and {2**63 - 1}."),
])
def test_customer_must_be_named_once_and_properly(api, widget, fake_temporal, customer_fields, message):
    response = api.post("/orders", {**customer_fields, "lines": [{"sku": "WID-1", "quantity": 1}], "shipping_address": "x"})
    assert response.status_code == 400
    assert response.json()["fields"]["customer_id"] == [message]


def test_unknown_customer_email_and_text_with_nul_are_field_errors(api, widget, customer, fake_temporal):
    response = api.post("/orders", {"customer_email": "nobody@x.example", "lines": [{"sku": "WID-1", "quantity": 1}],
                                    "shipping_address": "a\x00b"})
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert fields["customer_email"] == ["No customer with email nobody@x.example."]
    assert fields["shipping_address"] == ["Must not contain NUL characters."]


def test_malformed_json_is_400_and_another_content_type_415(api, fake_temporal):
    broken = api.post("/orders", '{"lines": [', content_type="application/json")
    assert broken.status_code == 400 and broken.json()["code"] == "invalid_json"
    form = api.post("/orders", "a=b", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 415


def test_an_oversized_body_is_413_in_json(api, settings, fake_temporal):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.post("/orders", {"note": "x" * 2000})
    assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_a_product_no_longer_sold_is_refused(api, customer, widget, fake_temporal):
    widget.active = False
    widget.save()
    response = api.post("/orders", order_request(customer, widget))
    assert response.status_code == 400
    assert response.json()["fields"] == {"lines[0].sku": ["WID-1 is no longer sold."]}


# --- Idempotency ------------------------------------------------------------------------------


def test_retried_create_with_the_same_idempotency_key_returns_the_first_order(
    api, customer, widget, fake_temporal, django_capture_on_commit_callbacks,
):
    request = order_request(customer, widget)
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post("/orders", request, headers={"Idempotency-Key": "cart-7f3a"})
        # The same JSON with its keys in another order is the same request.
        retry = api.post("/orders", dict(reversed(list(request.items()))), headers={"Idempotency-Key": "cart-7f3a"})
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json()["number"] == first.json()["number"]
    assert retry["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert Order.objects.count() == 1 and len(fake_temporal.starts) == 1


def test_same_idempotency_key_with_a_different_body_is_refused_with_422(api, customer, widget, fake_temporal):
    first = api.post("/orders", order_request(customer, widget, 1), headers={"Idempotency-Key": "cart-1"})
    other = api.post("/orders", order_request(customer, widget, 5), headers={"Idempotency-Key": "cart-1"})
    assert first.status_code == 201
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused" and first.json()["number"] in other.json()["message"]
    assert Order.objects.count() == 1


def test_idempotency_keys_belong_to_their_api_key(api, storefront, customer, widget, fake_temporal):
    other_shop = ApiClient(issue_key(storefront, "Second shop"))
    a = api.post("/orders", order_request(customer, widget), headers={"Idempotency-Key": "shared-id"})
    b = other_shop.post("/orders", order_request(customer, widget), headers={"Idempotency-Key": "shared-id"})
    assert a.json()["number"] != b.json()["number"]
    assert IdempotencyRecord.objects.count() == 2


def test_an_invalid_request_does_not_use_up_its_idempotency_key(api, customer, widget, fake_temporal):
    bad = api.post("/orders", {**order_request(customer, widget), "shipping_address": ""}, headers={"Idempotency-Key": "k-1"})
    good = api.post("/orders", order_request(customer, widget), headers={"Idempotency-Key": "k-1"})
    assert (bad.status_code, good.status_code) == (400, 201)


def test_a_malformed_idempotency_key_is_a_field_error(api, customer, widget, fake_temporal):
    response = api.post("/orders", order_request(customer, widget), headers={"Idempotency-Key": "has space"})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]


# --- Authentication and permissions -------------------------------------------------------------


def test_no_key_is_401_with_a_bearer_challenge(fake_temporal):
    response = ApiClient(None).post("/orders", {})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"


def test_a_wrong_secret_a_revoked_key_and_an_inactive_user_are_all_401(api, storefront, customer, widget, fake_temporal):
    prefix = api.key.split("_")[1]
    wrong = ApiClient(f"od_{prefix}_{'x' * 43}").post("/orders", order_request(customer, widget))
    assert wrong.status_code == 401

    storefront.is_active = False
    storefront.save()
    assert api.post("/orders", order_request(customer, widget)).status_code == 401

    storefront.is_active = True
    storefront.save()
    ApiKey.objects.update(active=False)
    assert api.post("/orders", order_request(customer, widget)).status_code == 401
    assert Order.objects.count() == 0


def test_key_of_a_user_without_the_permission_is_403(outsider, customer, widget, fake_temporal):
    response = ApiClient(issue_key(outsider)).post("/orders", order_request(customer, widget))
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert Order.objects.count() == 0


def test_a_clerk_key_may_create_but_not_cancel(clerk, customer, widget, fake_temporal):
    api = ApiClient(issue_key(clerk))
    number = api.post("/orders", order_request(customer, widget)).json()["number"]
    response = api.post(f"/orders/{number}/cancel", {"reason": "changed my mind"})
    assert response.status_code == 403
    assert fake_temporal.signals == []


def test_use_of_a_key_is_recorded(api, customer, widget, fake_temporal):
    assert ApiKey.objects.get().last_used_at is None
    api.post("/orders", order_request(customer, widget))
    assert timezone.now() - ApiKey.objects.get().last_used_at < timedelta(seconds=5)


# --- Status -------------------------------------------------------------------------------------------


def test_status_is_the_live_workflow_snapshot(api, customer, widget, fake_temporal):
    number = api.post("/orders", order_request(customer, widget)).json()["number"]
    order = Order.objects.get(number=number)
    order.workflow_started_at = timezone.now()
    order.save()
    fake_temporal.snapshot = m.OrderSnapshot(
        order_id=order.pk, number=number, state=states.FULFILLING, step="Packing", progress=40, requires_approval=False,
        approval_deadline=None, priority="normal", shipping_address="1 Main Street", note="",
        timeline=[TimelineEntry("2026-01-01T10:00:00+00:00", "status", "Fulfilment started", "worker")],
        allowed_actions=[m.ACTION_CANCEL],
    )
    body = api.get(f"/orders/{number}").json()
    assert (body["status"], body["step"], body["progress"], body["source"]) == ("fulfilling", "Packing", 40, "workflow")
    assert body["timeline"] == [{"at": "2026-01-01T10:00:00+00:00", "kind": "status", "message": "Fulfilment started"}]
    assert fake_temporal.queries == [order.pk]


def test_status_falls_back_to_the_database_and_says_so_when_no_worker_answers(api, customer, widget, fake_temporal):
    number = api.post("/orders", order_request(customer, widget)).json()["number"]
    Order.objects.filter(number=number).update(workflow_started_at=timezone.now())
    fake_temporal.unavailable = True
    response = api.get(f"/orders/{number}")
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "database" and "Live state unavailable" in body["notice"]


def test_orders_of_other_users_and_unknown_numbers_are_404(api, make_order, fake_temporal):
    clerks_order = make_order()
    for path in (f"/orders/{clerks_order.number}", "/orders/OD-999999", "/orders/not-a-number", "/orders/a/b/c"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
    assert fake_temporal.queries == []


def test_unknown_endpoints_and_methods_answer_json(api, fake_temporal):
    assert api.get("/nothing-here").json()["code"] == "not_found"
    wrong_method = api.get("/orders")
    assert wrong_method.status_code == 405 and wrong_method["Allow"] == "POST"
    assert wrong_method.json()["code"] == "method_not_allowed"


# --- Cancel ---------------------------------------------------------------------------------------------


@pytest.fixture
def shop_order(api, customer, widget, fake_temporal) -> Order:
    number = api.post("/orders", order_request(customer, widget)).json()["number"]
    Order.objects.filter(number=number).update(workflow_started_at=timezone.now())
    return Order.objects.get(number=number)


def test_cancel_needs_a_reason_and_sends_nothing_without_one(api, shop_order, fake_temporal):
    response = api.post(f"/orders/{shop_order.number}/cancel", {"reason": "  "})
    assert response.status_code == 400
    assert response.json()["fields"] == {"reason": ["This field is required."]}
    assert fake_temporal.signals == []


def test_cancel_signals_the_workflow_as_the_key_user_and_answers_202(api, shop_order, fake_temporal):
    response = api.post(f"/orders/{shop_order.number}/cancel", {"reason": "Customer changed their mind"})
    assert response.status_code == 202
    assert response.json()["cancel_requested"] is True
    [sent] = fake_temporal.signals
    assert (sent.order_id, sent.name) == (shop_order.pk, m.SIGNAL_CANCEL)
    assert (sent.payload.actor, sent.payload.reason) == ("shop-bot", "Customer changed their mind")


def test_a_cancel_the_workflow_refuses_is_a_409_with_its_reason(api, shop_order, fake_temporal):
    fake_temporal.verdict = m.VERDICT_REFUSED
    response = api.post(f"/orders/{shop_order.number}/cancel", {"reason": "Customer changed their mind"})
    assert response.status_code == 409
    assert response.json()["code"] == "refused"


def test_a_retried_cancel_carries_the_same_request_id(api, shop_order, fake_temporal):
    for _ in range(2):
        api.post(f"/orders/{shop_order.number}/cancel", {"reason": "dup"}, headers={"Idempotency-Key": "cancel-1"})
    first, second = fake_temporal.signals
    assert first.payload.request_id == second.payload.request_id


def test_cancel_of_a_finished_order_is_409(api, shop_order, fake_temporal):
    Order.objects.filter(pk=shop_order.pk).update(status=states.FULFILLED)
    response = api.post(f"/orders/{shop_order.number}/cancel", {"reason": "too late"})
    assert response.status_code == 409
    assert "can no longer be cancelled" in response.json()["message"]
    assert fake_temporal.signals == []


def test_cancel_while_temporal_is_down_is_503_and_changes_nothing(api, shop_order, fake_temporal):
    fake_temporal.unavailable = True
    response = api.post(f"/orders/{shop_order.number}/cancel", {"reason": "x"})
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"


# --- Schema and admin ---------------------------------------------------------------------------------


def test_openapi_document_is_served_without_a_key(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {"/orders", "/orders/{number}", "/orders/{number}/cancel"}


def test_admin_shows_a_new_key_once_and_stores_only_its_hash(client, storefront, customer, widget, fake_temporal):
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post("/admin/orders/apikey/add/", {"name": "Webshop", "user": storefront.pk, "active": "on"})
    assert response.status_code == 200
    html = response.content.decode()
    key = ApiKey.objects.get()
    full_key = html.split('id="api-key"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    assert full_key.startswith(f"od_{key.prefix}_")
    secret = full_key[len(f"od_{key.prefix}_"):]
    assert secret not in key.hashed_secret and key.matches(secret)
    assert key.created_by == admin
    # Never shown again.
    assert secret not in client.get(f"/admin/orders/apikey/{key.pk}/change/").content.decode()
    # And it works.
    assert ApiClient(full_key).post("/orders", order_request(customer, widget)).status_code == 201

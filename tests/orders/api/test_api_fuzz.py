"""Schema-driven fuzzing of the intake API: whatever schemathesis sends, the
API answers as its OpenAPI document says, never with a 5xx other than the
documented 503, and schema-invalid requests are refused.

In-process through the WSGI app (no server), with a bounded number of examples
per operation so the run stays within a few seconds.
"""
from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings

from orders import roles
from orders.api.schema import document
from orders.models import Order
from tests.conftest import make_user
from tests.orders.api.test_api import issue_key

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
    schemathesis.checks.negative_data_rejection,
]


@pytest.fixture(autouse=True)
def keep_the_test_connection_open(db):
    # The real WSGI app, except that (as in Django's test client) the end of a
    # request must not close the test's database connection and its transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def storefront_key(db, customer, widget, fake_temporal):
    """A storefront key, and orders of its own for the status and cancel operations to find."""
    user = make_user("fuzz-shop", roles.STOREFRONTS)
    # OD-000001 is the schema's example number: the generated requests reach a real order.
    for number in ("OD-000001", "OD-000002"):
        Order.objects.create(number=number, customer=customer, created_by=user, total=10, shipping_address="x",
                             workflow_started_at=timezone.now())
    return issue_key(user)


# The document the API serves, and the app it describes (called in-process).
schema = schemathesis.openapi.from_dict(document())
schema.app = get_wsgi_application()


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_api_conforms_to_its_schema_and_never_fails_with_a_server_error(case, storefront_key):
    server_errors_allowed = {503} if case.operation.method.upper() == "POST" and case.path.endswith("/cancel") else set()
    response = case.call(headers={**(case.headers or {}), "Authorization": f"Bearer {storefront_key}"})
    assert response.status_code < 500 or response.status_code in server_errors_allowed, (response.status_code, response.text[:500])
    case.validate_response(response, checks=CHECKS)



# Numbers at and beyond what an id, a quantity or an amount column can hold, in every numeric field.
NUMBERS = ["9223372036854775807", "9223372036854775808", "99999999999999999999999", "-9223372036854775809", "0", "-1",
           "1e400", "-1e400", "1.5", "10001", "1e19", "NaN", "Infinity", "9" * 5000, "true", '"7"']


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["customer_id", "quantity"])
@pytest.mark.parametrize("number", NUMBERS)
def test_every_numeric_field_beyond_its_column_is_a_json_400_and_writes_nothing(storefront_key, customer, widget, field, number):
    customer_id = number if field == "customer_id" else str(customer.pk)
    quantity = number if field == "quantity" else "1"
    lines = f'[{{"sku": "{widget.sku}", "quantity": {quantity}}}]'
    body = f'{{"customer_id": {customer_id}, "lines": {lines}, "shipping_address": "1 Main St"}}'
    before = Order.objects.count()
    response = Client().post("/api/v1/orders", body, content_type="application/json", headers={"Authorization": f"Bearer {storefront_key}"})
    assert response.status_code == 400, response.content[:300]
    assert response.json()["code"] in ("validation_failed", "invalid_json")
    assert Order.objects.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize("number", ["OD-" + "9" * 18, "OD-" + "9" * 19, "OD-" + "9" * 30, "OD--1", "9" * 23])
def test_order_numbers_beyond_any_order_are_a_json_404(storefront_key, number):
    headers = {"Authorization": f"Bearer {storefront_key}"}
    assert Client().get(f"/api/v1/orders/{number}", headers=headers).status_code == 404
    response = Client().post(f"/api/v1/orders/{number}/cancel", '{"reason": "x"}', content_type="application/json", headers=headers)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"

"""The Temporal UI's codec endpoint after an erasure: the customer's payloads come back as a tombstone
(not an error), everyone else's still decode, and only staff allowed to decode see either."""
from __future__ import annotations

import json

import pytest
from django.test import Client

from orders.privacy.services import customer_erase
from temporal_bridge.client.subject_keys import is_tombstone
from tests.orders.privacy.test_customer_keys import encode, for_workflow, order_input, plain
from tests.temporal_bridge.client.test_codec_server import DECODE, UI, as_json, decoded_payloads, logged_in, post

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ui_settings(settings):
    settings.TEMPORAL_NAMESPACE = "default"
    settings.TEMPORAL_UI_ORIGINS = [UI]
    return settings


def test_the_ui_reads_a_customers_payload_and_after_erasure_the_tombstone(ui_settings, manager, protector, customer, closed_order):
    sealed = encode(for_workflow(f"order-{closed_order.pk}"), order_input(closed_order))
    operational = encode(for_workflow("bulk-decision-1"), plain("batch of 3"))
    browser = logged_in(manager)

    before = decoded_payloads(post(browser, DECODE, as_json(sealed, operational)))
    assert b"Larkspur" in before[0].data and before[1] == plain("batch of 3")

    outcome = customer_erase(customer_id=customer.pk, actor=protector, reason="Request DPR-2026-17")
    response = post(browser, DECODE, as_json(sealed, operational))

    assert response.status_code == 200
    after = decoded_payloads(response)
    assert is_tombstone(after[0]) and b"Larkspur" not in response.content
    assert json.loads(after[0].data) == f"personal data erased on {outcome.erased_at.date().isoformat()}"
    assert after[1] == plain("batch of 3")  # the rest of the history stays readable


@pytest.mark.parametrize("who", ["anonymous", "clerk", "protector"])
def test_the_tombstone_is_for_staff_allowed_to_decode_only(ui_settings, request, customer, closed_order, who):
    sealed = encode(for_workflow(f"order-{closed_order.pk}"), order_input(closed_order))
    browser = Client() if who == "anonymous" else logged_in(request.getfixturevalue(who))
    response = post(browser, DECODE, as_json(sealed))
    assert response.status_code == 403 and b"Larkspur" not in response.content

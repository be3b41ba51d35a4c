"""What Temporal stores unencrypted, search attributes and workflow ids, never carries personal data:
every attribute is vetted here (a new one fails until it is), and their values for a customer with a
name, an e-mail and an address hold none of them. (The dev server proof: tests/integration/test_crypto_shredding.py.)"""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from temporal_bridge.approvals.messages import bulk_workflow_id
from temporal_bridge.order import messages as m
from temporal_bridge.order import search_attributes as sa
from temporal_bridge.order import states
from temporal_bridge.shipment.messages import shipment_workflow_id

pytestmark = pytest.mark.database_agnostic

# Each attribute, and why its value is no personal data.
VETTED = {
    "OrderState": "one of the order states",
    "OrderNumber": "OD- and the order's primary key",
    "CustomerId": "the customer's primary key: an id, which names no one once the customer is erased",
    "TotalBand": "one of four bands, not the amount",
    "Escalated": "a flag",
    "SlaBreached": "a flag",
    "StateEnteredAt": "a time",
}


def test_every_search_attribute_is_vetted_and_none_is_free_text():
    assert {key.name for key in sa.ALL} == set(VETTED)
    assert all(key.indexed_value_type.name in ("KEYWORD", "INT", "BOOL", "DATETIME") for key in sa.ALL)  # no Text attribute


def test_the_values_set_for_a_customer_hold_none_of_their_data():
    personal = ["Perpetua Quillfeather", "p.quillfeather@saltmarsh.example", "Saltmarsh Lane"]
    values = [pair.value for pair in sa.at_start(state=states.PENDING_APPROVAL, number="OD-000042", customer_id=42,
                                                  total="12600.00", entered_at=datetime(2026, 12, 5, tzinfo=UTC))]
    # The workflow's own upserts: a state, a time, two flags.
    values += [states.FULFILLED, datetime(2026, 12, 5, tzinfo=UTC), True]
    text = " ".join(map(str, values))
    assert [word for word in personal if word in text] == []
    assert set(values) >= {"OD-000042", 42, "10k-50k"}


@pytest.mark.parametrize("workflow_id", [m.workflow_id_for(42), shipment_workflow_id(42), shipment_workflow_id(42, "EAST-2"),
                                         bulk_workflow_id("3f2a9c0d5e6b4a7f8e9d0c1b2a3f4e5d")])
def test_workflow_ids_are_made_of_ids_only(workflow_id):
    assert re.fullmatch(r"(order-\d+(-shipment(-[A-Z0-9-]{2,12})?)?|bulk-decision-[0-9a-f-]{1,64})", workflow_id)


@pytest.mark.parametrize("warehouse", ["east", "E", "EAST WING", "ÉAST", "A" * 13, "EAST\n"])
def test_a_shipment_id_takes_only_a_warehouse_code(warehouse):
    with pytest.raises(ValueError):
        shipment_workflow_id(42, warehouse)

"""The one rule that says what an order is from its parcels (workflow and pages alike)."""
from __future__ import annotations

import pytest

from temporal_bridge.order import states
from temporal_bridge.order.fulfilment_states import order_state_from, parcels_text


def test_an_order_with_no_parcel_followed_has_no_delivery_state():
    assert order_state_from([]) is None


@pytest.mark.parametrize("travelling", ["shipped", "in_transit", "out_for_delivery", "exception"])
def test_one_parcel_still_travelling_keeps_a_split_order_in_transit(travelling):
    assert order_state_from([("MAIN", "delivered"), ("EAST", travelling)]) == states.IN_TRANSIT
    assert order_state_from([("MAIN", travelling)]) == states.IN_TRANSIT


def test_the_order_is_delivered_once_every_parcel_is():
    assert order_state_from([("MAIN", "delivered"), ("EAST", "delivered")]) == states.DELIVERED
    assert order_state_from([("MAIN", "delivered")]) == states.DELIVERED


def test_a_returned_parcel_makes_the_ended_order_returned_for_operations():
    assert order_state_from([("MAIN", "delivered"), ("EAST", "returned")]) == states.RETURNED
    assert order_state_from([("MAIN", "returned"), ("EAST", "in_transit")]) == states.IN_TRANSIT


def test_the_parcels_are_named_only_when_there_are_several():
    assert parcels_text([("MAIN", "delivered")]) == ""
    assert parcels_text([("MAIN", "delivered"), ("EAST", "exception")]) == "MAIN delivered, EAST held by the carrier"


def test_a_parcel_no_longer_tracked_does_not_count():
    assert order_state_from([("MAIN", "delivered"), ("EAST", "untracked")]) == states.DELIVERED
    assert order_state_from([("MAIN", "untracked")]) is None
    assert parcels_text([("MAIN", "delivered"), ("EAST", "untracked")]) == "MAIN delivered, EAST no longer tracked"

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


@pytest.mark.parametrize("shipped", ["shipped", "in_transit", "out_for_delivery", "exception", "delivered", "returned", "untracked"])
def test_some_parts_shipped_while_another_is_not_yet_is_partially_shipped(shipped):
    assert order_state_from([("MAIN", shipped), ("EAST", "not_shipped")]) == states.PARTIALLY_SHIPPED
    assert order_state_from([("MAIN", shipped), ("EAST", "delivered"), ("WEST", "not_shipped")]) == states.PARTIALLY_SHIPPED


def test_nothing_shipped_yet_is_no_delivery_state_and_all_shipped_is_no_longer_partial():
    assert order_state_from([("MAIN", "not_shipped"), ("EAST", "not_shipped")]) is None
    assert order_state_from([("MAIN", "shipped"), ("EAST", "shipped")]) == states.IN_TRANSIT
    assert parcels_text([("MAIN", "in_transit"), ("EAST", "not_shipped")]) == "MAIN in transit, EAST not shipped yet"


def test_partially_shipped_is_cancellable_for_the_parts_not_shipped_and_not_terminal():
    assert states.PARTIALLY_SHIPPED in states.CANCELLABLE and states.PARTIALLY_SHIPPED not in states.TERMINAL
    assert states.allowed_actions(states.PARTIALLY_SHIPPED, awaiting_decision=False) == [states.CANCEL, states.UPDATE]
    # Once the last part is packed, or a cancel is under way, nothing more may be asked.
    assert states.allowed_actions(states.PARTIALLY_SHIPPED, awaiting_decision=False, fulfilment_done=True) == []
    assert states.allowed_actions(states.PARTIALLY_SHIPPED, awaiting_decision=False, cancel_requested=True) == []

"""A split order's parcels on the time-skipping server: one shipment workflow per warehouse, each with its
own tracking number and carrier events, the order in transit until all have ended, then what the one
rule (fulfilment_states) says of them. Activities mocked by name (their database side:
tests/orders/delivery/test_parcels.py and tests/orders/webhooks/test_webhooks.py)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from temporal_bridge.order import fulfilment, payments, states
from temporal_bridge.order import messages as m
from temporal_bridge.order.fulfilment_states import ShippedParcel
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment import workflow as sw
from temporal_bridge.shipment.messages import CarrierEvent
from tests.temporal_bridge.helpers import MANAGER, ORDER_ID, ActivityMocks, Scenario, SharedTimeSkippingEnv, poll
from tests.temporal_bridge.order.test_approval_gate import messages
from tests.temporal_bridge.order.test_outside_world import small_order

pytestmark = pytest.mark.database_agnostic


def split_mocks() -> ActivityMocks:
    return ActivityMocks(shipped_from=["MAIN", "EAST"])


def carrier(event_id: str, status: str, warehouse: str) -> CarrierEvent:
    # The intake relays the event's tracking number as its description.
    return CarrierEvent(event_id=event_id, status=status, location="Lyon", description=f"TRK-0042-{warehouse}")


async def parcel_of(s: Scenario, handle, warehouse: str):
    """The warehouse's shipment workflow, once the order has started it."""
    async def opened() -> list[str]:
        return [parcel.warehouse for parcel in s.mocks.args(sw.ACT_OPEN_PARCEL)]
    await poll(opened, lambda warehouses: warehouse in warehouses, what=f"the shipment from {warehouse} opening its parcel")
    return s.env.client.get_workflow_handle(shipment.shipment_workflow_id(ORDER_ID, warehouse))


async def recorded(s: Scenario, count: int) -> None:
    async def events() -> int:
        return len(s.mocks.args(sw.ACT_RECORD_PARCEL_EVENT))
    await poll(events, lambda n: n >= count, what=f"{count} parcel events recorded")


def test_each_parcel_is_followed_by_its_own_shipment_and_the_order_is_delivered_once_both_are(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(replace(small_order(), track_delivery=True, delivery_promise_days=5))
        main, east = await parcel_of(s, handle, "MAIN"), await parcel_of(s, handle, "EAST")
        shipped = await s.snapshot(handle)
        await east.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_DELIVERED, "EAST"))
        half = await s.wait_for(handle, lambda snap: "EAST delivered" in snap.step, "the first parcel delivered")
        # A genuine event of the EAST parcel sent to MAIN's shipment is not MAIN's.
        await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-2", shipment.PARCEL_DELIVERED, "EAST"))
        await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-3", shipment.PARCEL_IN_TRANSIT, "MAIN"))
        await recorded(s, 2)
        still = await s.snapshot(handle)
        await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-4", shipment.PARCEL_DELIVERED, "MAIN"))
        return shipped, half, still, await handle.result()

    (shipped, half, still, final), mocks = temporal.play(story, split_mocks())

    assert shipped.state == states.IN_TRANSIT and shipped.tracking_number == "TRK-0042"
    assert shipped.parcels == [ShippedParcel("MAIN", "TRK-0042-MAIN"), ShippedParcel("EAST", "TRK-0042-EAST")]
    assert half.state == states.IN_TRANSIT and half.step == "In transit: MAIN shipped, EAST delivered"
    assert still.state == states.IN_TRANSIT and still.allowed_actions == []
    assert final.state == states.DELIVERED and final.parcel_status == shipment.PARCEL_DELIVERED
    assert [(p.warehouse, p.status) for p in final.parcels] == [("MAIN", "delivered"), ("EAST", "delivered")]
    opened = mocks.args(sw.ACT_OPEN_PARCEL)
    assert sorted((o.warehouse, o.tracking_number) for o in opened) == [("EAST", "TRK-0042-EAST"), ("MAIN", "TRK-0042-MAIN")]
    assert [(r.warehouse, r.event.event_id) for r in mocks.args(sw.ACT_RECORD_PARCEL_EVENT)] == [
        ("EAST", "c-1"), ("MAIN", "c-3"), ("MAIN", "c-4")]
    assert mocks.notified() == ["fulfilled", "delivered"]
    assert messages(final, "status")[-2:] == ["Shipped in 2 parcels: in transit, tracking numbers MAIN TRK-0042-MAIN, EAST TRK-0042-EAST",
                                              "Delivered: all 2 parcels"]
    assert messages(final, "note")[-2:] == [
        "Parcel from EAST delivered (tracking number TRK-0042-EAST): 1 of 2 parcels at their end",
        "Parcel from MAIN delivered (tracking number TRK-0042-MAIN): 2 of 2 parcels at their end"]


def test_a_split_order_with_one_parcel_returned_ends_returned_naming_it(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(replace(small_order(), track_delivery=True))
        main, east = await parcel_of(s, handle, "MAIN"), await parcel_of(s, handle, "EAST")
        await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_RETURNED, "MAIN"))
        await east.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-2", shipment.PARCEL_DELIVERED, "EAST"))
        return await handle.result()

    final, mocks = temporal.play(story, split_mocks())

    assert final.state == states.RETURNED and mocks.notified() == ["fulfilled", "returned"]
    assert messages(final, "status")[-1].startswith("Returned to sender: the parcel from MAIN;")


def test_an_order_from_one_warehouse_keeps_its_one_shipment_and_plain_id(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(replace(small_order(), track_delivery=True))
        await s.wait_for_state(handle, states.IN_TRANSIT)
        parcel = s.env.client.get_workflow_handle(shipment.shipment_workflow_id(ORDER_ID))
        await parcel.signal(shipment.SIGNAL_CARRIER_EVENT, CarrierEvent(event_id="c-1", status=shipment.PARCEL_DELIVERED))
        return await handle.result()

    final, mocks = temporal.play(story, ActivityMocks(shipped_from=[]))

    assert final.state == states.DELIVERED and final.parcels == []
    [opened] = mocks.args(sw.ACT_OPEN_PARCEL)
    assert (opened.warehouse, opened.tracking_number) == ("", "TRK-0042")


# --- Each part packed and shipped on its own; a cancel between parts -------------------------------


def packed_one_by_one(**knobs) -> ActivityMocks:
    return ActivityMocks(planned=["MAIN", "EAST"], **knobs)


def test_a_split_order_packs_and_ships_each_warehouses_part_then_follows_both_parcels(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(replace(small_order(), track_delivery=True))
        main, east = await parcel_of(s, handle, "MAIN"), await parcel_of(s, handle, "EAST")
        await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_DELIVERED, "MAIN"))
        await east.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-2", shipment.PARCEL_DELIVERED, "EAST"))
        return await handle.result()

    final, mocks = temporal.play(story, packed_one_by_one())

    assert final.state == states.DELIVERED
    assert [call.warehouse for call in mocks.args(fulfilment.ACT_SHIP_FULFILMENT)] == ["MAIN", "EAST"]
    assert len(mocks.args(fulfilment.ACT_FULFIL)) == 2 and mocks.args(fulfilment.ACT_SHIP) == []
    words = messages(final)
    assert words.index("Fulfilment from MAIN started") < words.index("Shipped from MAIN with ParcelCo, tracking number TRK-0042-MAIN") \
        < words.index("Fulfilment from EAST started") < words.index("Shipped from EAST with ParcelCo, tracking number TRK-0042-EAST")
    assert final.tracking_number == "TRK-0042" and [p.tracking_number for p in final.parcels] == ["TRK-0042-MAIN", "TRK-0042-EAST"]
    assert mocks.args(payments.ACT_REFUND_PAYMENT) == [] and mocks.args(fulfilment.ACT_RELEASE_STOCK) == []


def test_a_cancel_after_the_first_parcel_shipped_compensates_only_the_part_that_did_not(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(small_order())
        packing = await s.wait_for(handle, lambda snap: snap.step == "Fulfilling" and "Fulfilment from EAST started" in messages(snap),
                                   "the second part packing")
        await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "cancel-1", "Customer needs only the desk"))
        return packing, await handle.result()

    (packing, final), mocks = temporal.play(story, packed_one_by_one(fulfil_blocks_from=1))

    assert "Shipped from MAIN with ParcelCo, tracking number TRK-0042-MAIN" in messages(packing)
    assert states.CANCEL in packing.allowed_actions, "the second part can still be stopped"
    assert final.state == states.CANCELLED
    assert [call.warehouse for call in mocks.args(fulfilment.ACT_SHIP_FULFILMENT)] == ["MAIN"]
    assert len(mocks.args(ActivityMocks.FULFIL_CANCELLED)) == 1
    assert len(mocks.args(payments.ACT_REFUND_PAYMENT)) == 1 and len(mocks.args(fulfilment.ACT_RELEASE_STOCK)) == 1
    words = messages(final)
    assert "Fulfilment from EAST stopped at 0%" in words
    assert ("Cancelled between parcels: from MAIN: shipped before the cancel (tracking number TRK-0042-MAIN), not refunded; "
            "from EAST: not shipped, its stock released and its lines refunded") in words
    assert words[-1] == "Cancelled: Customer needs only the desk"


def test_an_untracked_split_order_ends_fulfilled_once_every_part_has_shipped(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(small_order())
        final = await handle.result()
        return final

    final, mocks = temporal.play(story, packed_one_by_one())

    assert final.state == states.FULFILLED and final.allowed_actions == []
    assert messages(final, "status")[-1] == "Fulfilled"


def test_a_parcel_whose_tracking_stops_leaves_the_split_order_fulfilled_and_says_which(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(replace(small_order(), track_delivery=True))
        main, east = await parcel_of(s, handle, "MAIN"), await parcel_of(s, handle, "EAST")
        await east.cancel()  # an operator cancels the EAST parcel's workflow in the Temporal UI
        await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_DELIVERED, "MAIN"))
        return await handle.result()

    final, mocks = temporal.play(story, split_mocks())

    assert final.state == states.FULFILLED
    assert messages(final, "status")[-1] == "Fulfilled (delivery not tracked to the end)"
    assert any(text.startswith("Parcel from EAST (TRK-0042-EAST) needs attention: its shipment workflow was cancelled outside the desk")
               for text in messages(final, "note"))
    assert [(u.warehouse, u.how) for u in mocks.args(shipment.ACT_MARK_PARCEL_UNTRACKED)] == [("EAST", "cancelled")]
    assert [(p.warehouse, p.status) for p in final.parcels] == [("MAIN", "delivered"), ("EAST", "untracked")]

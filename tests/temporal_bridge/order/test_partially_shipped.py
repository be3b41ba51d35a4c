"""A split order between its parcels, on the time-skipping server: partially shipped while the next part is
packed, the shipped parcel followed from the moment it ships, and a cancel between parts that leaves that
parcel followed to its end. Activities mocked by name (their database side: tests/orders/delivery/)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from temporal_bridge.order import fulfilment, payments, states
from temporal_bridge.order import messages as m
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment import workflow as sw
from tests.temporal_bridge.helpers import MANAGER, ActivityMocks, Scenario, SharedTimeSkippingEnv
from tests.temporal_bridge.order.test_approval_gate import messages
from tests.temporal_bridge.order.test_outside_world import small_order
from tests.temporal_bridge.order.test_split_delivery import carrier, parcel_of, recorded

pytestmark = pytest.mark.database_agnostic

PARTIAL = "Partially shipped: MAIN shipped, EAST not shipped yet"


def second_part_held() -> ActivityMocks:
    """MAIN's part packs and ships; EAST's pack runs until the test releases it (or a cancel stops it)."""
    return ActivityMocks(planned=["MAIN", "EAST"], fulfil_blocks_from=1)


async def packing_east(s: Scenario, handle) -> m.OrderSnapshot:
    return await s.wait_for(handle, lambda snap: "Fulfilment from EAST started" in messages(snap), "the second part packing")


def test_a_split_order_is_partially_shipped_between_its_parcels_and_the_first_is_followed_at_once(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(replace(small_order(), track_delivery=True))
        packing = await packing_east(s, handle)
        # The MAIN parcel's shipment runs while EAST is still being packed: its carrier events count now.
        main = await parcel_of(s, handle, "MAIN")
        await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_IN_TRANSIT, "MAIN"))
        await recorded(s, 1)
        travelling = await s.snapshot(handle)
        await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-2", shipment.PARCEL_DELIVERED, "MAIN"))
        delivered = await s.wait_for(handle, lambda snap: any("MAIN delivered" in text for text in messages(snap, "note")),
                                     "MAIN delivered while EAST packs")
        s.mocks.fulfil_released = True
        east = await parcel_of(s, handle, "EAST")
        shipped = await s.wait_for_state(handle, states.IN_TRANSIT)
        await east.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-3", shipment.PARCEL_DELIVERED, "EAST"))
        return packing, travelling, delivered, shipped, await handle.result()

    (packing, travelling, delivered, shipped, final), mocks = temporal.play(story, second_part_held())

    assert packing.state == states.PARTIALLY_SHIPPED and packing.step == "Fulfilling"
    assert packing.allowed_actions == [states.CANCEL, states.UPDATE], "the part not shipped can still be cancelled"
    words = messages(final)
    assert words.index("Shipped from MAIN with ParcelCo, tracking number TRK-0042-MAIN") < words.index(PARTIAL) \
        < words.index("Fulfilment from EAST started") < words.index("Shipped from EAST with ParcelCo, tracking number TRK-0042-EAST")
    # The mirror is told: the entry that moves the order to partially shipped is written, and the next
    # part's packing does not move it back to fulfilling.
    statuses = [(entry.message, entry.status) for entry in mocks.written() if entry.status]
    assert (PARTIAL, states.PARTIALLY_SHIPPED) in statuses
    assert ("Fulfilment from EAST started", states.FULFILLING) not in statuses
    assert travelling.state == states.PARTIALLY_SHIPPED and [(p.warehouse, p.status) for p in travelling.parcels] == [("MAIN", "shipped")]
    # Delivered while EAST is still packed: the order stays partially shipped, and counts EAST's parcel to come.
    assert delivered.state == states.PARTIALLY_SHIPPED and delivered.step == "Fulfilling"
    assert "Parcel from MAIN delivered (tracking number TRK-0042-MAIN): 1 of 2 parcels at their end" in messages(delivered, "note")
    assert shipped.state == states.IN_TRANSIT and shipped.step == "In transit: MAIN delivered, EAST shipped"
    assert final.state == states.DELIVERED and mocks.notified() == ["fulfilled", "delivered"]
    assert [(r.warehouse, r.event.event_id) for r in mocks.args(sw.ACT_RECORD_PARCEL_EVENT)] == [
        ("MAIN", "c-1"), ("MAIN", "c-2"), ("EAST", "c-3")]
    assert sorted(o.warehouse for o in mocks.args(sw.ACT_OPEN_PARCEL)) == ["EAST", "MAIN"]
    assert mocks.args(payments.ACT_REFUND_PAYMENT) == [] and mocks.args(fulfilment.ACT_RELEASE_STOCK) == []


def test_a_partially_shipped_order_refuses_a_new_address_but_takes_a_cancel_for_the_part_not_shipped(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(small_order())
        await packing_east(s, handle)
        await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(MANAGER, "update-1", shipping_address="1 New Street, Lyon"))
        refused = await s.wait_for(handle, lambda snap: any("refused" in text for text in messages(snap)), "the update refused")
        await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "cancel-1", "Customer needs only the desk"))
        return refused, await handle.result()

    (refused, final), mocks = temporal.play(story, second_part_held())

    assert refused.state == states.PARTIALLY_SHIPPED
    assert "Update by manager refused: the shipping address is locked once fulfilment has started" in messages(refused)
    assert final.state == states.CANCELLED and messages(final, "status")[-1] == "Cancelled: Customer needs only the desk"
    assert [call.warehouse for call in mocks.args(fulfilment.ACT_SHIP_FULFILMENT)] == ["MAIN"]
    assert len(mocks.args(payments.ACT_REFUND_PAYMENT)) == 1 and len(mocks.args(fulfilment.ACT_RELEASE_STOCK)) == 1
    assert mocks.args(sw.ACT_OPEN_PARCEL) == [], "an untracked order follows no parcel"


def test_a_parcel_shipped_before_a_cancel_is_followed_to_its_end_and_the_order_ends_cancelled_saying_so(
        temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(replace(small_order(), track_delivery=True))
        await packing_east(s, handle)
        main = await parcel_of(s, handle, "MAIN")
        await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "cancel-1", "Customer needs only the desk"))
        travelling = await s.wait_for(handle, lambda snap: snap.state == states.IN_TRANSIT and snap.cancel_requested,
                                      "the cancelled order following its shipped parcel")
        await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_IN_TRANSIT, "MAIN"))
        await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-2", shipment.PARCEL_DELIVERED, "MAIN"))
        return travelling, await handle.result()

    (travelling, final), mocks = temporal.play(story, second_part_held())

    # Compensated at once, by fulfilment: the part not shipped released and refunded, no more.
    assert len(mocks.args(payments.ACT_REFUND_PAYMENT)) == 1 and len(mocks.args(fulfilment.ACT_RELEASE_STOCK)) == 1
    assert ("Cancelled between parcels: from MAIN: shipped before the cancel (tracking number TRK-0042-MAIN), not refunded; "
            "from EAST: not shipped, its stock released and its lines refunded") in messages(travelling)
    assert travelling.allowed_actions == [] and travelling.step == "In transit: MAIN shipped"
    assert messages(travelling, "status")[-1] == ("Cancelled: Customer needs only the desk; shipped before the cancel and followed to "
                                                  "its end: the parcel from MAIN (tracking number TRK-0042-MAIN)")
    assert [(r.warehouse, r.event.event_id) for r in mocks.args(sw.ACT_RECORD_PARCEL_EVENT)] == [("MAIN", "c-1"), ("MAIN", "c-2")]
    assert final.state == states.CANCELLED
    assert messages(final, "status")[-1] == ("Cancelled: Customer needs only the desk; "
                                             "shipped before the cancel: the parcel from MAIN delivered")
    assert [(p.warehouse, p.status) for p in final.parcels] == [("MAIN", "delivered")]
    assert mocks.notified() == ["cancelled", "delivered"]
    assert [o.warehouse for o in mocks.args(sw.ACT_OPEN_PARCEL)] == ["MAIN"], "the part not shipped has no parcel to follow"


def test_a_failure_after_a_parcel_shipped_refunds_the_rest_and_still_follows_that_parcel(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(replace(small_order(), track_delivery=True))
        travelling = await s.wait_for(handle, lambda snap: snap.state == states.IN_TRANSIT, "the failed order following its parcel")
        main = await parcel_of(s, handle, "MAIN")
        await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_RETURNED, "MAIN"))
        return travelling, await handle.result()

    (travelling, final), mocks = temporal.play(story, ActivityMocks(planned=["MAIN", "EAST"], fulfil_fails_from=1))

    assert [call.warehouse for call in mocks.args(fulfilment.ACT_SHIP_FULFILMENT)] == ["MAIN"]
    assert len(mocks.args(payments.ACT_REFUND_PAYMENT)) == 1 and len(mocks.args(fulfilment.ACT_RELEASE_STOCK)) == 1
    assert travelling.allowed_actions == []
    assert messages(travelling, "status")[-1].startswith("Failed: fulfilment failed: the packing line broke down; shipped before the "
                                                         "failure and followed to its end: the parcel from MAIN")
    assert final.state == states.FAILED and final.failure_reason == "fulfilment failed: the packing line broke down"
    assert messages(final, "status")[-1] == ("Failed: fulfilment failed: the packing line broke down; "
                                             "shipped before the failure: the parcel from MAIN returned")
    assert mocks.notified() == ["failed", "returned"]

"""An operator terminates a parcel's shipment workflow (`order-N-shipment-<WAREHOUSE>`) from the Temporal
UI: the order workflow neither fails its task nor waits forever; it marks the parcel as no longer
tracked, with a task for operations, says so on the timeline and ends fulfilled (delivery not tracked
to the end) once its other parcels have ended.

On the real dev server: the time-skipping test server never tells a parent that its child was
terminated (temporalio/sdk-java#2921, open), so there the order would wait for its run timeout; a
real Temporal server reports it as a ChildWorkflowError caused by TerminatedError, as here. A
cancelled child (which the test server does report) is in test_split_delivery.py."""
from __future__ import annotations

from dataclasses import replace

import pytest

from temporal_bridge.order import states
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment import workflow as sw
from tests.temporal_bridge.helpers import ORDER_ID, ActivityMocks, Scenario, SharedTimeSkippingEnv, poll
from tests.temporal_bridge.order.test_approval_gate import messages
from tests.temporal_bridge.order.test_outside_world import small_order
from tests.temporal_bridge.order.test_split_delivery import carrier, parcel_of, split_mocks

pytestmark = pytest.mark.database_agnostic


def test_a_terminated_parcel_shipment_marks_the_parcel_for_operations_and_the_split_order_still_ends(
        temporal_dev_server: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(replace(small_order(), track_delivery=True))
        main, east = await parcel_of(s, handle, "MAIN"), await parcel_of(s, handle, "EAST")
        await east.terminate(reason="stuck, restarting it")
        marked = await s.wait_for(handle, lambda snap: any("needs attention" in text for text in messages(snap, "note")),
                                  "the EAST parcel marked")
        await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_DELIVERED, "MAIN"))
        return marked, await handle.result()

    (marked, final), mocks = temporal_dev_server.play(story, split_mocks())

    assert marked.state == states.IN_TRANSIT and marked.step == "In transit: MAIN shipped, EAST no longer tracked"
    assert [(u.warehouse, u.tracking_number, u.how) for u in mocks.args(shipment.ACT_MARK_PARCEL_UNTRACKED)] == [
        ("EAST", "TRK-0042-EAST", "terminated")]
    assert ("Parcel from EAST (TRK-0042-EAST) needs attention: its shipment workflow was terminated outside the desk, so its "
            "carrier events are no longer followed; operations check it with the carrier") in messages(final, "note")
    assert final.state == states.FULFILLED and messages(final, "status")[-1] == "Fulfilled (delivery not tracked to the end)"
    assert [(p.warehouse, p.status) for p in final.parcels] == [("MAIN", "delivered"), ("EAST", "untracked")]


def test_a_terminated_shipment_of_an_orders_only_parcel_ends_the_order_fulfilled_and_says_why(temporal_dev_server: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(replace(small_order(), track_delivery=True))
        await poll(lambda: _opened(s), lambda opened: opened > 0, what="the parcel opened")
        await s.env.client.get_workflow_handle(shipment.shipment_workflow_id(ORDER_ID)).terminate(reason="stuck")
        return await handle.result()

    final, mocks = temporal_dev_server.play(story, ActivityMocks())

    marked = [(u.warehouse, u.tracking_number, u.how) for u in mocks.args(shipment.ACT_MARK_PARCEL_UNTRACKED)]
    assert marked == [("", "TRK-0042", "terminated")]
    assert final.state == states.FULFILLED and messages(final, "status")[-1] == "Fulfilled (delivery not tracked to the end)"
    assert ("Delivery tracking stopped: its shipment workflow was terminated outside the desk; "
            "operations check the parcel with the carrier") in messages(final, "note")


async def _opened(s: Scenario) -> int:
    return len(s.mocks.args(sw.ACT_OPEN_PARCEL))

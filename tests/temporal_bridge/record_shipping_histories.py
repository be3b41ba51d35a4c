"""Record the histories of a split order between its parcels (partially shipped, a cancel while a parcel
travels), for the replay test.

    .venv/bin/python -m tests.temporal_bridge.record_shipping_histories 1.3

Beside record_histories.py (whose `record` it uses): the stories go to histories/<release>/shipping_*.json.
"""
from __future__ import annotations

import os
import sys
from dataclasses import replace

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
django.setup()

from temporal_bridge.order import messages as m  # noqa: E402
from temporal_bridge.order import states  # noqa: E402
from temporal_bridge.shipment import messages as shipment  # noqa: E402
from tests.temporal_bridge.helpers import MANAGER, ActivityMocks, Scenario  # noqa: E402
from tests.temporal_bridge.order.test_outside_world import small_order  # noqa: E402
from tests.temporal_bridge.order.test_partially_shipped import packing_east, second_part_held  # noqa: E402
from tests.temporal_bridge.order.test_split_delivery import carrier, parcel_of, recorded, split_mocks  # noqa: E402
from tests.temporal_bridge.record_histories import HISTORIES, record  # noqa: E402


async def partially_shipped_then_delivered(s: Scenario):
    """MAIN's part shipped and followed at once (in transit) while EAST's is packed; then both delivered."""
    handle = await s.start(replace(small_order(), track_delivery=True))
    await packing_east(s, handle)
    main = await parcel_of(s, handle, "MAIN")
    await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_IN_TRANSIT, "MAIN"))
    await recorded(s, 1)
    s.mocks.fulfil_released = True
    east = await parcel_of(s, handle, "EAST")
    await s.wait_for_state(handle, states.IN_TRANSIT)
    await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-2", shipment.PARCEL_DELIVERED, "MAIN"))
    await east.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-3", shipment.PARCEL_DELIVERED, "EAST"))
    await handle.result()
    return handle


async def cancelled_while_a_parcel_travels(s: Scenario):
    """MAIN's part shipped; a cancel while EAST's is packed: EAST released and refunded, MAIN followed until delivered."""
    handle = await s.start(replace(small_order(), track_delivery=True))
    await packing_east(s, handle)
    main = await parcel_of(s, handle, "MAIN")
    await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "cancel-1", "Customer needs only the desk"))
    await s.wait_for(handle, lambda snap: snap.state == states.IN_TRANSIT and snap.cancel_requested, "the shipped parcel followed")
    await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_DELIVERED, "MAIN"))
    await handle.result()
    return handle


async def partially_shipped_untracked(s: Scenario):
    """Delivery not tracked: partially shipped between the parts, fulfilled once both shipped."""
    handle = await s.start(small_order())
    await packing_east(s, handle)
    s.mocks.fulfil_released = True
    await handle.result()
    return handle


async def failed_while_a_parcel_travels(s: Scenario):
    """MAIN's part shipped; EAST's packing fails for good: EAST released and refunded, MAIN followed until returned."""
    handle = await s.start(replace(small_order(), track_delivery=True))
    await s.wait_for(handle, lambda snap: snap.state == states.IN_TRANSIT, "the failed order following its parcel")
    main = await parcel_of(s, handle, "MAIN")
    await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_RETURNED, "MAIN"))
    await handle.result()
    return handle


async def parcel_shipment_terminated(s: Scenario):
    """An operator terminates the EAST parcel's shipment workflow: the parcel is marked for operations, MAIN delivered."""
    handle = await s.start(replace(small_order(), track_delivery=True))
    main, east = await parcel_of(s, handle, "MAIN"), await parcel_of(s, handle, "EAST")
    await east.terminate(reason="stuck, restarting it")
    await s.wait_for(handle, lambda snap: any("needs attention" in e.message for e in snap.timeline), "the EAST parcel marked")
    await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_DELIVERED, "MAIN"))
    await handle.result()
    return handle


ORDER_STORIES: dict[str, tuple] = {
    "shipping_partially_shipped_then_delivered": (partially_shipped_then_delivered, second_part_held()),
    "shipping_cancelled_while_a_parcel_travels": (cancelled_while_a_parcel_travels, second_part_held()),
    "shipping_partially_shipped_untracked": (partially_shipped_untracked, second_part_held()),
    "shipping_failed_while_a_parcel_travels": (failed_while_a_parcel_travels, ActivityMocks(planned=["MAIN", "EAST"], fulfil_fails_from=1)),
}


def main(version: str) -> None:
    target = HISTORIES / version
    target.mkdir(parents=True, exist_ok=True)
    record(target, ORDER_STORIES, plain=True)
    # The time-skipping server never tells a parent its child was terminated (temporalio/sdk-java#2921).
    record(target, {"shipping_parcel_shipment_terminated": (parcel_shipment_terminated, split_mocks())}, plain=True, real_server=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.temporal_bridge.record_shipping_histories <release, e.g. 1.3>")
    main(sys.argv[1])

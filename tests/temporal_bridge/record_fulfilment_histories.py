"""Record the histories of a split order's delivery (one shipment workflow per warehouse), for the replay test.

    .venv/bin/python -m tests.temporal_bridge.record_fulfilment_histories 1.2

Beside record_histories.py (whose `record` it uses): the order's stories go to
histories/<release>/fulfilments_*.json, a split parcel's own journey to
shipment_histories/<release>/fulfilments_*.json.
"""
from __future__ import annotations

import os
import sys
from dataclasses import replace

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
django.setup()

from temporal_bridge.order import messages as m  # noqa: E402
from temporal_bridge.shipment import messages as shipment  # noqa: E402
from tests.temporal_bridge.helpers import MANAGER, ActivityMocks, Scenario  # noqa: E402
from tests.temporal_bridge.order.test_outside_world import small_order  # noqa: E402
from tests.temporal_bridge.order.test_split_delivery import carrier, parcel_of  # noqa: E402
from tests.temporal_bridge.record_histories import HISTORIES, record  # noqa: E402
from tests.temporal_bridge.shipment.test_workflow import event, shipment_input, start  # noqa: E402

SHIPMENT_HISTORIES = HISTORIES.parent / "shipment_histories"


async def split_delivered(s: Scenario):
    """Two parcels, MAIN and EAST: EAST delivered first, an EAST event sent to MAIN's shipment is not its, then MAIN delivered."""
    handle = await s.start(replace(small_order(), track_delivery=True))
    main, east = await parcel_of(s, handle, "MAIN"), await parcel_of(s, handle, "EAST")
    await east.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_DELIVERED, "EAST"))
    await s.wait_for(handle, lambda snap: "EAST delivered" in snap.step, "the first parcel delivered")
    await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-2", shipment.PARCEL_DELIVERED, "EAST"))
    await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-3", shipment.PARCEL_DELIVERED, "MAIN"))
    await handle.result()
    return handle


async def split_one_returned(s: Scenario):
    return await split_one_returned_or_delivered(s, shipment.PARCEL_RETURNED)


async def split_parcel_refuses_another_parcels_event(s: Scenario):
    """A split order's EAST parcel: MAIN's event and one naming no parcel are not its own; then its delivery."""
    handle, t0 = await start(s, lambda now: shipment_input(now, warehouse="EAST", tracking_number="TRK-0042-EAST"))
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("m1", shipment.PARCEL_DELIVERED, t0, "Oslo", "TRK-0042-MAIN"))
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("m2", shipment.PARCEL_DELIVERED, t0, "Oslo"))
    await handle.signal(shipment.SIGNAL_CARRIER_EVENT, event("e1", shipment.PARCEL_DELIVERED, t0, "Bergen", "TRK-0042-EAST"))
    await handle.result()
    return handle


async def packed_one_by_one_delivered(s: Scenario):
    """The reservation chose MAIN and EAST: each part packed and shipped on its own, then both parcels delivered."""
    return await split_one_returned_or_delivered(s, shipment.PARCEL_DELIVERED)


async def split_one_returned_or_delivered(s: Scenario, main_ends: str):
    handle = await s.start(replace(small_order(), track_delivery=True))
    main, east = await parcel_of(s, handle, "MAIN"), await parcel_of(s, handle, "EAST")
    await main.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", main_ends, "MAIN"))
    await east.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-2", shipment.PARCEL_DELIVERED, "EAST"))
    await handle.result()
    return handle


async def cancelled_between_parcels(s: Scenario):
    """MAIN's part shipped, EAST's packing: a cancel stops it; only EAST's part is refunded and released."""
    handle = await s.start(small_order())
    await s.wait_for(handle, lambda snap: "Fulfilment from EAST started" in [e.message for e in snap.timeline], "EAST packing")
    await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "cancel-1", "Customer needs only the desk"))
    await handle.result()
    return handle


def split() -> ActivityMocks:
    return ActivityMocks(shipped_from=["MAIN", "EAST"])


# The stories' mocks: shipped all at once (a split found only at the shipment), or packed one by one (planned at the reservation).
ORDER_STORIES = {
    "fulfilments_split_delivered": (split_delivered, split()),
    "fulfilments_split_one_returned": (split_one_returned, split()),
    "fulfilments_packed_one_by_one_delivered": (packed_one_by_one_delivered, ActivityMocks(planned=["MAIN", "EAST"])),
    "fulfilments_cancelled_between_parcels": (cancelled_between_parcels, ActivityMocks(planned=["MAIN", "EAST"], fulfil_blocks_from=1)),
}
SHIPMENT_STORIES = {
    "fulfilments_split_parcel_refuses_another_parcels_event": (split_parcel_refuses_another_parcels_event, ActivityMocks()),
}


def main(version: str) -> None:
    for root, stories in ((HISTORIES, ORDER_STORIES), (SHIPMENT_HISTORIES, SHIPMENT_STORIES)):
        target = root / version
        target.mkdir(parents=True, exist_ok=True)
        record(target, stories, plain=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.temporal_bridge.record_fulfilment_histories <release, e.g. 1.2>")
    main(sys.argv[1])

"""An order's delivery state from its fulfilments' parcels: the one rule.

A split order ships one parcel per warehouse, each followed by its own
shipment workflow. The order workflow (as its children end) and the desk's
pages (from the parcels' mirror) both ask this module what the order is:

- no parcel has shipped (or is followed): nothing to say (None);
- some parts shipped while others are still packed or wait their turn
  (NOT_SHIPPED): the order is partially shipped;
- any parcel still travelling (shipped, in transit, out for delivery, held by
  the carrier): the order is in transit;
- every parcel delivered: the order is delivered;
- every parcel at its end and one or more returned: the order is returned,
  and operations decide on the returned ones;
- a parcel no longer tracked (its shipment workflow stopped) does not count.

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from temporal_bridge.contract.payload_types import resolve_annotations
from temporal_bridge.order import states
from temporal_bridge.shipment import messages as shipment

FINAL = (shipment.PARCEL_DELIVERED, shipment.PARCEL_RETURNED)
# A parcel whose shipment workflow stopped before the journey ended.
UNTRACKED = shipment.PARCEL_UNTRACKED
# A fulfilment planned and not shipped yet (being packed, or waiting for the
# parts before it). One cancelled before it shipped is not listed at all.
NOT_SHIPPED = "not_shipped"


@dataclass
class ShippedParcel:
    """One fulfilment's parcel of a split order, as the order workflow follows it."""

    warehouse: str
    tracking_number: str
    status: str = "shipped"

PARCEL_WORDS = {
    "shipped": "shipped",
    shipment.PARCEL_IN_TRANSIT: "in transit",
    shipment.PARCEL_OUT_FOR_DELIVERY: "out for delivery",
    shipment.PARCEL_EXCEPTION: "held by the carrier",
    shipment.PARCEL_DELIVERED: "delivered",
    shipment.PARCEL_RETURNED: "returned",
    UNTRACKED: "no longer tracked",
    NOT_SHIPPED: "not shipped yet",
}


def order_state_from(parcels: Sequence[tuple[str, str]]) -> str | None:
    """The order's state from its fulfilments, given as (warehouse, parcel status) pairs; a part not
    shipped yet is NOT_SHIPPED."""
    shipped = [status for _, status in parcels if status != NOT_SHIPPED]
    if shipped and len(shipped) < len(parcels):
        return states.PARTIALLY_SHIPPED  # a parcel no longer tracked has shipped all the same
    statuses = [status for status in shipped if status != UNTRACKED]
    if not statuses:
        return None
    if any(status not in FINAL for status in statuses):
        return states.IN_TRANSIT
    if all(status == shipment.PARCEL_DELIVERED for status in statuses):
        return states.DELIVERED
    return states.RETURNED


def parcels_text(parcels: Sequence[tuple[str, str]]) -> str:
    """Each parcel in words, for an order with more than one ("EAST delivered, MAIN in transit"); "" for one or none."""
    if len(parcels) < 2:
        return ""
    return ", ".join(f"{warehouse} {PARCEL_WORDS.get(status, status)}" for warehouse, status in parcels)


resolve_annotations(globals())  # after the last class: see temporal_bridge.contract.payload_types

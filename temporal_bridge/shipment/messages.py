"""Messages of a parcel's journey: the carrier's events, the shipment workflow's
input, state and result.

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

PROVIDER_CARRIER = "carrier"

# A carrier's event, delivered to the order's shipment workflow.
SIGNAL_CARRIER_EVENT = "carrier_event"
PARCEL_IN_TRANSIT, PARCEL_OUT_FOR_DELIVERY, PARCEL_DELIVERED = "in_transit", "out_for_delivery", "delivered"
PARCEL_EXCEPTION, PARCEL_RETURNED = "exception", "returned"
# Not a carrier's: the parcel's shipment workflow was stopped from outside (terminated, cancelled,
# timed out) before the journey ended, so nothing follows its carrier events any more.
PARCEL_UNTRACKED = "untracked"
CARRIER_EVENT_KINDS = (PARCEL_IN_TRANSIT, PARCEL_OUT_FOR_DELIVERY, PARCEL_DELIVERED, PARCEL_EXCEPTION, PARCEL_RETURNED)


@dataclass
class CarrierEvent:
    event_id: str
    status: str
    at: str = ""
    location: str = ""
    description: str = ""


SHIPMENT_WORKFLOW_NAME = "ShipmentWorkflow"
QUERY_PARCEL = "parcel"


# A warehouse's code as it may appear in a workflow id: what the warehouse
# model allows (capitals, digits, dashes), nothing personal.
WAREHOUSE_IN_ID = re.compile(r"[A-Z0-9-]{2,12}")


def shipment_workflow_id(order_id: int, warehouse: str = "") -> str:
    """The shipment child of an order (one parcel), or of one of its
    fulfilments: an order that ships from one warehouse keeps the plain id,
    each parcel of a split order is named by its warehouse."""
    if not warehouse:
        return f"order-{order_id}-shipment"
    if not WAREHOUSE_IN_ID.fullmatch(warehouse):
        raise ValueError(f"not a warehouse code: {warehouse[:20]!r}")
    return f"order-{order_id}-shipment-{warehouse}"


@dataclass
class ShipmentState:
    status: str = "shipped"
    events: list[CarrierEvent] = field(default_factory=list)
    seen_event_ids: list[str] = field(default_factory=list)
    promise_missed: bool = False
    runs: int = 1


@dataclass
class ShipmentInput:
    order_id: int
    order_number: str
    tracking_number: str
    carrier: str
    # ISO time by which the customer was promised the parcel.
    promised_by: str
    continue_as_new_after_seconds: float = 24 * 3600
    carried: ShipmentState | None = None
    # A split order's parcel: the warehouse it ships from ("" for an order
    # shipped as one parcel). Such a parcel takes only events that name its
    # tracking number: another parcel's genuine event is not its own.
    warehouse: str = ""


@dataclass
class ShipmentResult:
    # PARCEL_DELIVERED or PARCEL_RETURNED.
    status: str
    at: str = ""


# Run by the order workflow when a parcel's shipment workflow stopped from outside: the parcel is
# marked as no longer tracked and operations get a task to check it with the carrier.
ACT_MARK_PARCEL_UNTRACKED = "mark_parcel_untracked"


@dataclass
class ParcelUntrackedInput:
    order_id: int
    tracking_number: str
    # How its shipment workflow ended: "terminated", "cancelled", "timed out", or the failure's words.
    how: str
    warehouse: str = ""


MAX_SEEN_EVENTS = 200

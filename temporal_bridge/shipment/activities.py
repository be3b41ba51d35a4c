"""Activities of the shipment workflow: thin adapters to orders.delivery.services."""
from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

from orders.delivery import services as parcels
from temporal_bridge.contract.db_activity import db_activity
from temporal_bridge.contract.decoding import parse_time
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment import workflow as sw


@activity.defn(name=sw.ACT_OPEN_PARCEL)
@db_activity
def open_parcel(inp: sw.ParcelOpenInput) -> None:
    parcels.parcel_open(order_id=inp.order_id, carrier=inp.carrier, tracking_number=inp.tracking_number, promised_by=inp.promised_by,
                        warehouse=inp.warehouse)


@activity.defn(name=sw.ACT_RECORD_PARCEL_EVENT)
@db_activity
def record_parcel_event(inp: sw.ParcelEventInput) -> None:
    event = inp.event
    # The workflow checked the time when it accepted the event; a retry must
    # not fail forever on an input that, against that check, has none.
    at = parse_time(event.at) or datetime.now(UTC)
    record = parcels.CarrierEventRecord(event.event_id, event.status, at, event.location, event.description)
    parcels.parcel_record_event(order_id=inp.order_id, event=record, status=inp.status, warehouse=inp.warehouse)


@activity.defn(name=sw.ACT_FLAG_PARCEL_LATE)
@db_activity
def flag_parcel_late(inp: sw.ParcelLateInput) -> None:
    parcels.parcel_flag_late(order_id=inp.order_id, promised_by=inp.promised_by, warehouse=inp.warehouse)


@activity.defn(name=shipment.ACT_MARK_PARCEL_UNTRACKED)
@db_activity
def mark_parcel_untracked(inp: shipment.ParcelUntrackedInput) -> None:
    parcels.parcel_mark_untracked(order_id=inp.order_id, how=inp.how, warehouse=inp.warehouse)


SHIPMENT_ACTIVITIES = [open_parcel, record_parcel_event, flag_parcel_late, mark_parcel_untracked]

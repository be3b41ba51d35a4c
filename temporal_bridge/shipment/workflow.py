"""ShipmentWorkflow: one parcel's journey, a child of its order's workflow.

It waits, days if need be, for the carrier's events (signals sent by the
webhook intake), records each accepted one in the database through one
activity, and ends when the parcel is delivered or returned. It flags a
missed delivery promise once, and continues as new every
`continue_as_new_after_seconds` (or when the server suggests it) so that its
history stays small, carrying its ShipmentState.

Deterministic and free of Django: activities are called by name, time comes
from workflow.now(), and the carrier's events are decoded defensively here
(anyone reaching the Temporal frontend can send any payload).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.contract.confirmations import DeskConfirmations
    from temporal_bridge.contract.decoding import Refused, display, parse_time
    from temporal_bridge.contract.intents import EventCheck
    from temporal_bridge.contract.policies import DB_STEP, MIRROR_RETRY
    from temporal_bridge.shipment import messages as shipment
    from temporal_bridge.shipment.message_checks import carrier_event_digest, parse_carrier_event
    from temporal_bridge.shipment.messages import CarrierEvent, ShipmentInput, ShipmentResult, ShipmentState

# Activity names: the lead may move them to messages_outside.py.
ACT_OPEN_PARCEL = "open_parcel"
ACT_RECORD_PARCEL_EVENT = "record_parcel_event"
ACT_FLAG_PARCEL_LATE = "flag_parcel_late"

# Bounds on what one run carries: a flood of distinct event ids must not grow
# the state (and every continue-as-new input) without limit. The database
# refuses a repeat beyond these too (event id unique per parcel).
MAX_SEEN_EVENT_IDS = 500
MAX_EVENTS_KEPT = 100

# How far along the parcel is; an event that is not further (a late
# in_transit after out_for_delivery) is recorded but does not move it back.
PROGRESS = {"shipped": 0, shipment.PARCEL_IN_TRANSIT: 1, shipment.PARCEL_OUT_FOR_DELIVERY: 2}
FINAL = (shipment.PARCEL_DELIVERED, shipment.PARCEL_RETURNED)


@dataclass
class ParcelOpenInput:
    order_id: int
    order_number: str
    carrier: str
    tracking_number: str
    promised_by: str
    # A split order's parcel: its warehouse ("" for the order's only parcel).
    warehouse: str = ""


@dataclass
class ParcelEventInput:
    order_id: int
    order_number: str
    event: CarrierEvent
    # The parcel's status once this event counts (unchanged for a late event).
    status: str
    warehouse: str = ""


@dataclass
class ParcelLateInput:
    order_id: int
    order_number: str
    promised_by: str
    status: str
    warehouse: str = ""


def status_after(current: str, history: Sequence[CarrierEvent], event: CarrierEvent) -> str:
    """The parcel's status once `event` counts, given the events recorded before it.

    Carriers' webhooks arrive out of order: an event older (by the carrier's
    own time) than the newest one recorded, or a progress event behind the
    furthest progress reached, is history and does not move the parcel back.
    A progress event newer than an exception means the carrier moved on.
    """
    if event.status in FINAL:
        return event.status
    newest = max((e.at for e in history), key=_instant, default="")
    if newest and _instant(event.at) < _instant(newest):
        return current
    if event.status == shipment.PARCEL_EXCEPTION or current == shipment.PARCEL_EXCEPTION:
        return event.status
    furthest = max((PROGRESS[e.status] for e in history if e.status in PROGRESS), default=0)
    return event.status if PROGRESS[event.status] >= furthest else current


def _instant(at: str) -> datetime:
    return parse_time(at) or datetime.min.replace(tzinfo=UTC)


@workflow.defn(name=shipment.SHIPMENT_WORKFLOW_NAME)
class ShipmentWorkflow:
    @workflow.init
    def __init__(self, inp: ShipmentInput) -> None:
        # In __init__ so a signal delivered with the first task finds the state.
        self._inp = inp
        self.s = inp.carried or ShipmentState()
        # Accepted events waiting for their record, in arrival order; the run
        # records them one at a time, so each lands in the database in order.
        self._pending: list[CarrierEvent] = []
        self._confirmations = DeskConfirmations()

    @workflow.run
    async def run(self, inp: ShipmentInput) -> ShipmentResult:
        if inp.carried is None:
            await self._activity(ACT_OPEN_PARCEL, ParcelOpenInput(
                inp.order_id, inp.order_number, inp.carrier, inp.tracking_number, inp.promised_by, warehouse=inp.warehouse))
        # The promise is an absolute time, so it survives continue-as-new as is.
        promised = parse_time(inp.promised_by) if inp.promised_by else None
        continue_at = workflow.now() + timedelta(seconds=max(inp.continue_as_new_after_seconds, 1))
        while True:
            while self._pending:
                event = self._pending.pop(0)
                if await self._record(event):
                    if self._pending:
                        workflow.logger.warning("Shipment %s: %d events after %s ignored",
                                                inp.order_number, len(self._pending), event.status)
                    return ShipmentResult(event.status, event.at)
            now = workflow.now()
            if promised is not None and not self.s.promise_missed and now >= promised:
                self.s.promise_missed = True
                await self._activity(ACT_FLAG_PARCEL_LATE, ParcelLateInput(inp.order_id, inp.order_number, inp.promised_by, self.s.status,
                                                                          warehouse=inp.warehouse))
                continue  # events may have arrived meanwhile
            if now >= continue_at or workflow.info().is_continue_as_new_suggested():
                # Handlers only confirm and queue: once they have all finished
                # nothing is half done, and with no await between this check
                # and the hand-over, no event is lost.
                await workflow.wait_condition(workflow.all_handlers_finished)
                if not self._pending:
                    workflow.continue_as_new(replace(inp, carried=replace(self.s, runs=self.s.runs + 1)))
                continue
            wake = continue_at
            if promised is not None and not self.s.promise_missed:
                wake = min(wake, promised)
            try:
                await workflow.wait_condition(lambda: bool(self._pending) or workflow.info().is_continue_as_new_suggested(),
                                              timeout=max(wake - now, timedelta(milliseconds=1)))
            except TimeoutError:
                pass

    async def _record(self, event: CarrierEvent) -> bool:
        """Record an accepted event; True when it ends the journey."""
        s = self.s
        new_status = status_after(s.status, s.events, event)
        if new_status != event.status:
            workflow.logger.info("Shipment %s: late %s event %s kept; the parcel stays %s",
                                 self._inp.order_number, event.status, event.event_id, new_status)
        await self._activity(ACT_RECORD_PARCEL_EVENT, ParcelEventInput(self._inp.order_id, self._inp.order_number, event, new_status,
                                                                       warehouse=self._inp.warehouse))
        s.status = new_status
        s.events = [*s.events, event][-MAX_EVENTS_KEPT:]
        return new_status in FINAL

    async def _activity(self, name: str, arg: Any) -> None:
        # Writes to our own database: retried until they succeed.
        await workflow.execute_activity(name, arg, start_to_close_timeout=DB_STEP, retry_policy=MIRROR_RETRY)

    # --- Messages ------------------------------------------------------------------------------

    @workflow.signal(name=shipment.SIGNAL_CARRIER_EVENT)
    async def carrier_event(self, *args: Any) -> None:
        # *args: the SDK decodes the payloads as plain JSON whatever their
        # number, and parse_carrier_event checks the shape; nothing here raises.
        try:
            event = parse_carrier_event(args, workflow.now())
        except Refused as bad:
            workflow.logger.warning("Shipment %s: carrier event ignored: %s", self._inp.order_number, bad.reason)
            return
        s = self.s
        if self._inp.warehouse and event.description != self._inp.tracking_number:
            # The intake relays the event's tracking number as its description.
            workflow.logger.warning("Shipment %s from %s: carrier event %s names another parcel; ignored",
                                    self._inp.order_number, self._inp.warehouse, display(event.event_id))
            return
        if event.event_id in s.seen_event_ids:
            workflow.logger.info("Shipment %s: carrier event %s already received; ignored", self._inp.order_number, event.event_id)
            return
        # A carrier's event counts only if the webhook intake stored it, signed,
        # as sent (temporal_bridge.order.intents); its id is remembered only once
        # confirmed, so a forged copy cannot make the genuine event a repeat.
        confirmation = await self._confirmations.event(EventCheck(
            shipment.PROVIDER_CARRIER, self._inp.order_id, event.event_id, event.status, carrier_event_digest(event)))
        if not confirmation.received:
            workflow.logger.warning("Shipment %s: carrier event %s refused: %s", self._inp.order_number,
                                    display(event.event_id), confirmation.reason)
            return
        if event.event_id in s.seen_event_ids:
            return  # the same event twice in one task
        s.seen_event_ids = [*s.seen_event_ids, event.event_id][-MAX_SEEN_EVENT_IDS:]
        if s.status in FINAL or any(e.status in FINAL for e in self._pending):
            workflow.logger.warning("Shipment %s: %s event %s after the journey ended; ignored",
                                    self._inp.order_number, event.status, event.event_id)
            return
        self._pending.append(event)

    @workflow.signal(dynamic=True)
    def unknown_message(self, name: str, args: Sequence[RawValue]) -> None:
        # Without this, the SDK would buffer unknown signals in memory forever.
        workflow.logger.warning("Shipment %s: unknown signal %r ignored", self._inp.order_number, name[:40])

    @workflow.query(name=shipment.QUERY_PARCEL)
    def parcel(self) -> ShipmentState:
        return self.s

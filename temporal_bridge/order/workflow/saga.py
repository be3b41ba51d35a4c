"""The fulfilment saga: reserve stock, take payment, fulfil, ship (the
parcels' journey is delivery.py's); and the compensations that undo what was
done, newest first, when the order is cancelled or fails.

Each business step goes through `_step`: the activity writes its own
timeline entry (and the entries waiting) in the transaction of its effect
and returns them, with the words of messages_steps.

Changes to what a running order does go behind `workflow.patched(...)` (see
docs/deployment.md, "Changing a workflow after 1.0").
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.contract.policies import DB_STEP, FULFIL_HEARTBEAT, MIRROR_RETRY, SHORT_STEP
    from temporal_bridge.order import fulfilment as fulfilment_messages
    from temporal_bridge.order import holds, payments, states
    from temporal_bridge.order import messages as m
    from temporal_bridge.order.fulfilment import (
        FulfilInput,
        FulfilmentsToShip,
        FulfilResult,
        ReleaseResult,
        ReserveInput,
        ReserveResult,
        ShipFulfilmentInput,
        ShipResult,
        cancelled_parts_text,
    )
    from temporal_bridge.order.fulfilment_states import NOT_SHIPPED, ShippedParcel, order_state_from, parcels_text
    from temporal_bridge.order.payments import PaymentInput, PaymentResult
    from temporal_bridge.order.records import OrderRef, StepRecord
    from temporal_bridge.order.workflow.outcomes import OrderCancelled, OrderFailed, cause
    from temporal_bridge.order.workflow.stock_wait import StockWait
    from temporal_bridge.order.workflow.timeline import Timeline
    from temporal_bridge.order.workflow.waits import Waits

# Steps with business outcomes: business errors are non-retryable (raised as
# such by the activities); anything else is retried for about ten minutes
# before the order fails with compensation.
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=15,
    non_retryable_error_types=[fulfilment_messages.ERR_OUT_OF_STOCK, payments.ERR_PAYMENT_DECLINED, m.ERR_ORDER_NOT_FOUND],
)

# Orders that reach the stock after this marker check the customer's credit first.
CREDIT_CHECK = "credit-check"
# Orders that reach the stock after this marker reserve what some warehouse
# holds and wait for a person's choice on the rest, instead of failing.
STOCK_DECISIONS = "stock-decisions"
# Orders whose reservation chose several warehouses, past this marker, pack
# and ship each warehouse's part on its own, so that a cancel between them
# compensates only what did not ship.
FULFILMENT_BY_FULFILMENT = "fulfilment-by-fulfilment"
# Orders shipped from several warehouses after this marker follow one parcel
# per warehouse, each by its own shipment workflow, rather than one parcel.
SHIPMENT_PER_FULFILMENT = "shipment-per-fulfilment"
# Split orders past this marker are partially shipped once a part has shipped
# and others have not (instead of fulfilling until the last), and each
# parcel's shipment workflow starts as it ships.
PARTIALLY_SHIPPED = "partially-shipped"
# Orders that reach the stock after this marker have their credit checked by
# the reservation's activity, just before it reserves: one activity fewer per order.
CREDIT_WITH_STOCK = "credit-with-stock"
# Orders that start after this marker take every change above without a marker of its own (each marker costs the
# history two events: the marker and the server's TemporalChangeVersion upsert), fold the state's search-attribute
# updates of one workflow task into one upsert, and leave the service-level timer running when the order ends
# rather than cancel it: five events fewer per auto-approved order.
FEWER_EVENTS = "fewer-history-events"


class FulfilmentSaga:
    def __init__(self, inp: m.OrderWorkflowInput, state: m.OrderState, timeline: Timeline, stock: StockWait) -> None:
        self._inp = inp
        self._s = state
        self._timeline = timeline
        self._stock = stock
        self.waits = Waits(inp, state, timeline)
        self.carrier = ""
        # Set by the workflow from FEWER_EVENTS at the start of its run: the changes above are taken without markers.
        self.fewer_events = False

    def adopted(self, patch_id: str) -> bool:
        """Whether the change behind `patch_id` applies: always past FEWER_EVENTS, else by its own marker."""
        return self.fewer_events or workflow.patched(patch_id)

    def check_cancel(self) -> None:
        if self._s.cancel is not None:
            raise OrderCancelled()

    # --- Forward ---------------------------------------------------------------------------

    async def reserve_and_charge(self) -> None:
        s, order_id = self._s, self._inp.order_id
        credit_with_stock = self.adopted(CREDIT_WITH_STOCK)
        if not credit_with_stock and workflow.patched(CREDIT_CHECK):
            await self.waits.credit_check()
        self._timeline.record("status", "Processing: reserving stock and taking payment", status=states.PROCESSING)
        self.check_cancel()

        s.step = "Reserving stock"
        keep_available = self.adopted(STOCK_DECISIONS)

        def reserve(credit_check: bool) -> Any:
            return self._business_step(fulfilment_messages.ACT_RESERVE_STOCK, "stock", lambda record: ReserveInput(
                order_id, record=record, keep_available=keep_available, credit_check=credit_check), ReserveResult)

        reserved = await reserve(credit_with_stock)
        if reserved.credit_hold is not None:
            # Over the credit limit: nothing was reserved; on hold until finance raises it (or a cancel).
            await self.waits.while_held(holds.STAGE_CREDIT, reserved.credit_hold)
            s.step = "Reserving stock"
            reserved = await reserve(False)
        s.compensations.append(fulfilment_messages.ACT_RELEASE_STOCK)
        s.fulfilments_planned = len(reserved.fulfilments)
        self.check_cancel()
        if reserved.unavailable:
            await self._stock.resolve(reserved, self._reserve_what_arrived)
        await self.waits.while_held(holds.STAGE_PAYMENT, reserved.hold)

        s.step = "Charging payment"
        paid = await self._business_step(payments.ACT_CHARGE_PAYMENT, "payment",
                                         lambda record: PaymentInput(order_id, f"capture-{order_id}", record=record),
                                         PaymentResult)
        s.compensations.append(payments.ACT_REFUND_PAYMENT)
        self.check_cancel()
        hold = paid.hold
        if paid.status == "requires_confirmation":
            await self.waits.payment_confirmation(paid.provider_reference)
            hold = await self.waits.read_hold(holds.STAGE_FULFILMENT)  # the wait may have been long
        await self.waits.while_held(holds.STAGE_FULFILMENT, hold)
        await self.waits.fraud_checkpoint()

    async def fulfil(self, warehouse: str = "", *, last: bool = True) -> None:
        """Run the fulfilment activity (of the whole order, or of one warehouse's part), racing it against a cancel request."""
        s, inp = self._s, self._inp
        part = f" from {warehouse}" if warehouse else ""
        # A partially shipped order stays so while its next part is packed.
        status = None if s.state == states.PARTIALLY_SHIPPED else states.FULFILLING
        self._timeline.record("status", f"Fulfilment{part} started", status=status, progress=0)
        s.step = "Fulfilling"
        first = self._timeline.take_unwritten()
        fulfilment = workflow.start_activity(
            fulfilment_messages.ACT_FULFIL,
            FulfilInput(inp.order_id, inp.fulfilment_steps, inp.fulfilment_step_seconds, first=first),
            result_type=FulfilResult,
            start_to_close_timeout=timedelta(seconds=max(60.0, inp.fulfilment_steps * inp.fulfilment_step_seconds * 3)),
            heartbeat_timeout=FULFIL_HEARTBEAT,
            retry_policy=STEP_RETRY,
            # Compensation must not start while the activity may still write.
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        cancel_requested = asyncio.ensure_future(workflow.wait_condition(lambda: s.cancel is not None))
        await workflow.wait([fulfilment, cancel_requested], return_when=asyncio.FIRST_COMPLETED)
        # A cancel accepted before the fulfilment's end was processed is
        # honoured even if the activity finished in the same instant: nothing
        # has shipped yet, and the timeline must not say "Cancel requested"
        # for an order that then ships.
        if s.cancel is not None:
            if not fulfilment.done():
                fulfilment.cancel()
            try:
                await fulfilment
            except (ActivityError, CancelledError, asyncio.CancelledError):
                pass
            self._timeline.give_back(first)
            self._timeline.record("fulfilment", f"Fulfilment{part} stopped at {s.progress}%")
            raise OrderCancelled()
        cancel_requested.cancel()
        try:
            fulfilment.result()
        except ActivityError as err:
            self._timeline.give_back(first)
            raise OrderFailed(f"fulfilment failed: {cause(err)}") from err
        s.fulfilment_done = last  # until the last part is packed, a cancel still stops what has not shipped
        s.progress = 100
        # Written with the shipment (a state entry, like "processing").
        self._timeline.record("fulfilment", f"Fulfilment{part} complete" if part else fulfilment_messages.FULFILLED_TEXT, progress=100)

    async def ship(self) -> None:
        s, order_id = self._s, self._inp.order_id
        s.step = "Shipping"
        shipped = await self._step(
            fulfilment_messages.ACT_SHIP, "shipment", lambda record: OrderRef(order_id, record=record), ShipResult,
            timeout=DB_STEP, retry=MIRROR_RETRY,
        )
        s.tracking_number = shipped.tracking_number
        self.carrier = shipped.carrier
        if len(shipped.parcels) > 1 and self.adopted(SHIPMENT_PER_FULFILMENT):
            s.parcels = list(shipped.parcels)  # each followed by its own shipment workflow
        s.compensations.clear()

    async def fulfil_each(self, shipped_now: Callable[[list[ShippedParcel]], None] | None = None) -> None:
        """A split order: each warehouse's part packed, then shipped as its own parcel, one after the other.

        Once a part has shipped and others have not, the order is partially
        shipped and `shipped_now` starts following the part's parcel. A cancel
        before the last part is packed stops there: what shipped stays shipped
        (and paid for, and followed), the rest is released and refunded, and
        the timeline says which part went which way."""
        s, order_id = self._s, self._inp.order_id
        plan: FulfilmentsToShip = await workflow.execute_activity(
            fulfilment_messages.ACT_FULFILMENTS_TO_SHIP, OrderRef(order_id), result_type=FulfilmentsToShip,
            start_to_close_timeout=DB_STEP, retry_policy=MIRROR_RETRY)
        warehouses = plan.warehouses

        def ship_part(warehouse: str, record: StepRecord) -> ShipFulfilmentInput:
            return ShipFulfilmentInput(order_id, warehouse, record=record)

        try:
            for n, warehouse in enumerate(warehouses):
                self.check_cancel()
                await self.fulfil(warehouse, last=n == len(warehouses) - 1)
                await self.waits.fraud_checkpoint()
                s.step = f"Shipping from {warehouse}"
                shipped = await self._step(fulfilment_messages.ACT_SHIP_FULFILMENT, "shipment", partial(ship_part, warehouse),
                                           ShipResult, timeout=DB_STEP, retry=MIRROR_RETRY)
                s.tracking_number, self.carrier = shipped.tracking_number, shipped.carrier
                s.parcels.extend(shipped.parcels)
                if n < len(warehouses) - 1 and self.adopted(PARTIALLY_SHIPPED):
                    self._partially_shipped(warehouses, shipped_now)
        except OrderCancelled:
            if s.parcels:
                self._timeline.record("compensation", cancelled_parts_text(s.parcels, warehouses))
            raise
        s.compensations.clear()

    def _partially_shipped(self, warehouses: list[str], shipped_now: Callable[[list[ShippedParcel]], None] | None) -> None:
        s = self._s
        sent = {parcel.warehouse for parcel in s.parcels}
        parts = [(p.warehouse, p.status) for p in s.parcels] + [(code, NOT_SHIPPED) for code in warehouses if code not in sent]
        if self._inp.track_delivery and shipped_now is not None:
            shipped_now(list(s.parcels))
        # Written with the next part's packing, which starts at once.
        self._timeline.record("status", f"Partially shipped: {parcels_text(parts)}", status=order_state_from(parts))

    async def _reserve_what_arrived(self) -> ReserveResult:
        """A backorder's recheck: reserve what some warehouse holds now (no entry: the decision's end says what came)."""
        try:
            return await workflow.execute_activity(
                fulfilment_messages.ACT_RESERVE_STOCK, ReserveInput(self._inp.order_id, keep_available=True), result_type=ReserveResult,
                start_to_close_timeout=SHORT_STEP, retry_policy=STEP_RETRY)
        except ActivityError as err:
            raise OrderFailed(cause(err)) from err

    # --- Backward ----------------------------------------------------------------------------

    async def compensate(self) -> None:
        """Undo the steps done so far, newest first, each on the timeline."""
        s, order_id = self._s, self._inp.order_id
        while s.compensations:
            name = s.compensations.pop()
            if name == payments.ACT_REFUND_PAYMENT:
                s.step = "Refunding payment"
                await self._step(name, "compensation", lambda record: PaymentInput(order_id, f"refund-{order_id}", record=record),
                                 PaymentResult, timeout=SHORT_STEP, retry=MIRROR_RETRY)
            elif name == fulfilment_messages.ACT_RELEASE_STOCK:
                s.step = "Releasing stock"
                await self._step(name, "compensation", lambda record: OrderRef(order_id, record=record),
                                 ReleaseResult, timeout=DB_STEP, retry=MIRROR_RETRY)

    # --- One step and its record ------------------------------------------------------------------

    async def _business_step(self, name: str, kind: str, arg: Callable[[StepRecord], Any], result_type: type) -> Any:
        """A step with a business outcome: its failure fails the order."""
        try:
            return await self._step(name, kind, arg, result_type, timeout=SHORT_STEP, retry=STEP_RETRY)
        except ActivityError as err:
            raise OrderFailed(cause(err)) from err

    async def _step(self, name: str, kind: str, arg: Callable[[StepRecord], Any], result_type: type, *, timeout: timedelta,
                    retry: RetryPolicy) -> Any:
        """Run the step's activity, which writes its entry (and those waiting) beside its effect."""
        record = self._timeline.begin_step(kind, decisions=True)
        try:
            result = await workflow.execute_activity(name, arg(record), result_type=result_type, start_to_close_timeout=timeout,
                                                     retry_policy=retry)
        except ActivityError:
            self._timeline.step_failed(record)
            raise
        self._timeline.end_step(record, result.recorded)
        return result

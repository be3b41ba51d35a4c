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
    from temporal_bridge.contract.decoding import display
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
    from temporal_bridge.order.holds import HoldInput, HoldResult
    from temporal_bridge.order.payments import PaymentInput, PaymentResult, SettleInput, SettleResult
    from temporal_bridge.order.records import MirrorInput, OrderRef, StepRecord
    from temporal_bridge.order.workflow.outcomes import OrderCancelled, OrderFailed, cause
    from temporal_bridge.order.workflow.stock_wait import StockWait
    from temporal_bridge.order.workflow.timeline import Timeline

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
# the reservation itself, in its transaction: one activity fewer per order.
CREDIT_WITH_STOCK = "credit-with-stock"


class FulfilmentSaga:
    def __init__(self, inp: m.OrderWorkflowInput, state: m.OrderState, timeline: Timeline, stock: StockWait) -> None:
        self._inp = inp
        self._s = state
        self._timeline = timeline
        self._stock = stock
        # Who lifted a hold (the holds_lifted signal): wakes a held order at once.
        self.lifted_by: str | None = None
        self.carrier = ""

    def check_cancel(self) -> None:
        if self._s.cancel is not None:
            raise OrderCancelled()

    # --- Forward ---------------------------------------------------------------------------

    async def reserve_and_charge(self) -> None:
        s, order_id = self._s, self._inp.order_id
        credit_with_stock = workflow.patched(CREDIT_WITH_STOCK)
        if not credit_with_stock and workflow.patched(CREDIT_CHECK):
            await self.credit_check()
        self._timeline.record("status", "Processing: reserving stock and taking payment", status=states.PROCESSING)
        self.check_cancel()

        s.step = "Reserving stock"
        keep_available = workflow.patched(STOCK_DECISIONS)

        def reserve(credit_check: bool) -> Any:
            return self._business_step(fulfilment_messages.ACT_RESERVE_STOCK, "stock", lambda record: ReserveInput(
                order_id, record=record, keep_available=keep_available, credit_check=credit_check), ReserveResult)

        reserved = await reserve(credit_with_stock)
        if reserved.credit_hold is not None:
            # Over the credit limit: nothing was reserved; on hold until finance raises it (or a cancel).
            await self._wait_while_held(holds.STAGE_CREDIT, reserved.credit_hold)
            s.step = "Reserving stock"
            reserved = await reserve(False)
        s.compensations.append(fulfilment_messages.ACT_RELEASE_STOCK)
        s.fulfilments_planned = len(reserved.fulfilments)
        self.check_cancel()
        if reserved.unavailable:
            await self._stock.resolve(reserved, self._reserve_what_arrived)
        await self._wait_while_held(holds.STAGE_PAYMENT, reserved.hold)

        s.step = "Charging payment"
        paid = await self._business_step(payments.ACT_CHARGE_PAYMENT, "payment",
                                         lambda record: PaymentInput(order_id, f"capture-{order_id}", record=record),
                                         PaymentResult)
        s.compensations.append(payments.ACT_REFUND_PAYMENT)
        self.check_cancel()
        hold = paid.hold
        if paid.status == "requires_confirmation":
            await self._await_confirmation(paid.provider_reference)
            hold = await self._read_hold(holds.STAGE_FULFILMENT)  # the wait may have been long
        await self._wait_while_held(holds.STAGE_FULFILMENT, hold)
        await self.fraud_checkpoint()

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
        if len(shipped.parcels) > 1 and workflow.patched(SHIPMENT_PER_FULFILMENT):
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
                await self.fraud_checkpoint()
                s.step = f"Shipping from {warehouse}"
                shipped = await self._step(fulfilment_messages.ACT_SHIP_FULFILMENT, "shipment", partial(ship_part, warehouse),
                                           ShipResult, timeout=DB_STEP, retry=MIRROR_RETRY)
                s.tracking_number, self.carrier = shipped.tracking_number, shipped.carrier
                s.parcels.extend(shipped.parcels)
                if n < len(warehouses) - 1 and workflow.patched(PARTIALLY_SHIPPED):
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

    # --- Credit, holds, payments confirmed later, fraud alerts ------------------------------------

    async def credit_check(self) -> None:
        """Within the customer's credit limit the order goes on (one read); over it,
        it waits on hold for finance, who raise the limit or cancel the order."""
        # The entries waiting ("approved") are written with the read, under the
        # customer's lock: two orders of one customer cannot both pass unseen.
        entries = self._timeline.take_unwritten()
        try:
            hold = await self._read_hold(holds.STAGE_CREDIT, entries)
        except ActivityError:
            self._timeline.give_back(entries)
            raise
        await self._wait_while_held(holds.STAGE_CREDIT, hold)

    async def _wait_while_held(self, stage: str, hold: HoldResult | None) -> None:
        """Wait while `stage` is held (a paused fulfilment, an open circuit
        breaker, a credit review): the timeline says so, and who or what released
        it. A lifted hold signals the order; otherwise it reads the hold again now
        and then. Only the database's answer releases it, never the signal."""
        s = self._s
        resume_to = s.state
        while hold is not None and hold.held:
            s.step = f"Held: {hold.reason}"
            if s.hold_reason != hold.reason:
                s.hold_reason = hold.reason
                # A hold that waits on people puts the order on hold (and in their inbox).
                on_hold = stage in holds.ON_HOLD_STAGES and s.state != states.ON_HOLD
                await self._timeline.record_now(holds.KIND_HOLD, holds.held_text(stage, hold), status=states.ON_HOLD if on_hold else None)
                s.step = f"Held: {hold.reason}"  # the state's own label replaced it
            self.lifted_by = None
            try:
                await workflow.wait_condition(lambda: self.lifted_by is not None or s.cancel is not None,
                                              timeout=timedelta(seconds=max(hold.recheck_seconds, 1.0)))
            except TimeoutError:
                pass
            if s.cancel is not None:
                s.hold_reason = ""  # a cancelled order waits on nothing
                raise OrderCancelled()
            hold = await self._read_hold(stage)
        if s.hold_reason:
            s.hold_reason = ""
            # Written with the next step, which follows at once.
            self._timeline.record(holds.KIND_HOLD_RELEASED, holds.released_text(stage, self.lifted_by or "", hold),
                                  status=resume_to if s.state != resume_to else None)

    async def _read_hold(self, stage: str, entries: list[MirrorInput] | None = None) -> HoldResult:
        return await workflow.execute_activity(holds.ACT_READ_HOLD, HoldInput(self._inp.order_id, stage, entries or []),
                                               result_type=HoldResult, start_to_close_timeout=DB_STEP, retry_policy=MIRROR_RETRY)

    async def _await_confirmation(self, reference: str) -> None:
        """The provider confirms (or fails) the payment later, by webhook."""
        s = self._s
        s.payment_reference = reference
        while True:
            s.step = "Waiting for the payment provider's confirmation"
            try:
                await workflow.wait_condition(lambda: bool(s.payment_outcome) or s.cancel is not None or bool(s.fraud_alert),
                                              timeout=timedelta(seconds=self._inp.payment_confirmation_timeout_seconds))
            except TimeoutError:
                # The refund compensation voids the payment still pending at the provider.
                raise OrderFailed("the payment provider did not confirm the payment in time") from None
            self.check_cancel()
            if not s.payment_outcome:
                # A fraud alert while the payment waits: on hold at once; once released,
                # the provider's answer gets a fresh window (it may have come meanwhile).
                await self.fraud_checkpoint()
            elif await self._settle(reference):
                return

    async def _settle(self, reference: str) -> bool:
        """Settle the payment as the provider's event says; False (and noted) when the
        desk never received that event: anyone reaching Temporal can send the signal."""
        s, order_id = self._s, self._inp.order_id
        kind, reason, event_id = s.payment_outcome, s.failure_reason, s.payment_event_id
        record = self._timeline.begin_step("payment")
        settled: SettleResult = await workflow.execute_activity(
            payments.ACT_SETTLE_PAYMENT, SettleInput(order_id, kind, reference, reason, record=record, event_id=event_id),
            result_type=SettleResult, start_to_close_timeout=DB_STEP, retry_policy=MIRROR_RETRY,
        )
        if not settled.received:
            self._timeline.step_failed(record)
            s.payment_outcome = s.payment_event_id = s.failure_reason = ""
            await self._timeline.record_now(
                "note", f"Payment event {display(event_id)} ({kind}) refused: "
                "the desk received no such event from the payment provider")
            return False
        self._timeline.end_step(record, settled.recorded)
        if kind == payments.PAYMENT_FAILED:
            s.compensations.remove(payments.ACT_REFUND_PAYMENT)  # nothing was taken
            raise OrderFailed(f"payment failed: {reason or 'no reason given'}")
        return True

    async def fraud_checkpoint(self) -> None:
        """A fraud alert holds the order here until a manager releases it (or cancels it, with a refund)."""
        s = self._s
        if not s.fraud_alert:
            return
        s.held_from = s.state
        await self._timeline.record_now(
            "hold", f"On hold: fraud alert from the payment provider ({s.fraud_alert}); a manager releases the order or cancels it",
            status=states.ON_HOLD)
        s.step = "On hold: waiting for a manager's decision"
        await workflow.wait_condition(lambda: not s.fraud_alert or s.cancel is not None)
        self.check_cancel()

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

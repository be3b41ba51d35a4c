"""The fulfilment saga: reserve stock, take payment, fulfil, ship; and the
compensations that undo what was done, newest first, when the order is
cancelled or fails.

Each business step goes through `_step`: from v5 the activity writes its own
timeline entry (and the entries waiting) in the transaction of its effect
and returns them; before v5 the workflow writes the entry afterwards through
the mirror activity, with the same words (messages_steps).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError

with workflow.unsafe.imports_passed_through():
    from temporal_bridge import messages as m
    from temporal_bridge import states
    from temporal_bridge.order_workflow.outcomes import OrderCancelled, OrderFailed, cause
    from temporal_bridge.order_workflow.timeline import Timeline
    from temporal_bridge.workflow_policies import DB_STEP, FULFIL_HEARTBEAT, MIRROR_RETRY, SHORT_STEP, STEP_RETRY


class FulfilmentSaga:
    def __init__(self, inp: m.OrderWorkflowInput, state: m.OrderState, timeline: Timeline) -> None:
        self._inp = inp
        self._s = state
        self._timeline = timeline

    def check_cancel(self) -> None:
        if self._s.cancel is not None:
            raise OrderCancelled()

    # --- Forward ---------------------------------------------------------------------------

    async def reserve_and_charge(self) -> None:
        s, order_id = self._s, self._inp.order_id
        await self._timeline.record("status", "Processing: reserving stock and taking payment", status=states.PROCESSING)
        self.check_cancel()

        s.step = "Reserving stock"
        await self._business_step(m.ACT_RESERVE_STOCK, "stock", lambda record: m.OrderRef(order_id, record=record),
                                  m.ReserveResult, m.reserved_text)
        s.compensations.append(m.ACT_RELEASE_STOCK)
        self.check_cancel()

        s.step = "Charging payment"
        await self._business_step(m.ACT_CHARGE_PAYMENT, "payment",
                                  lambda record: m.PaymentInput(order_id, f"capture-{order_id}", record=record),
                                  m.PaymentResult, m.charged_text)
        s.compensations.append(m.ACT_REFUND_PAYMENT)
        self.check_cancel()

    async def fulfil(self) -> None:
        """Run the fulfilment activity, racing it against a cancel request."""
        s, inp = self._s, self._inp
        await self._timeline.record("status", "Fulfilment started", status=states.FULFILLING, progress=0)
        s.step = "Fulfilling"
        first = self._timeline.take_unwritten()
        fulfilment = workflow.start_activity(
            m.ACT_FULFIL,
            m.FulfilInput(inp.order_id, inp.fulfilment_steps, inp.fulfilment_step_seconds, first=first),
            result_type=m.FulfilResult,
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
            await self._timeline.record("fulfilment", f"Fulfilment stopped at {s.progress}%")
            raise OrderCancelled()
        cancel_requested.cancel()
        try:
            fulfilment.result()
        except ActivityError as err:
            self._timeline.give_back(first)
            raise OrderFailed(f"fulfilment failed: {cause(err)}") from err
        s.fulfilment_done = True
        s.progress = 100
        # From v5 written with the shipment (a state entry, like "processing").
        await self._timeline.record("fulfilment", m.FULFILLED_TEXT, progress=100)

    async def ship(self) -> None:
        s, order_id = self._s, self._inp.order_id
        s.step = "Shipping"
        shipped = await self._step(
            m.ACT_SHIP, "shipment", lambda record: m.OrderRef(order_id, record=record), m.ShipResult, m.shipped_text,
            timeout=DB_STEP, retry=MIRROR_RETRY, fields=lambda result: {"tracking_number": result.tracking_number},
        )
        s.tracking_number = shipped.tracking_number
        s.compensations.clear()

    # --- Backward ----------------------------------------------------------------------------

    async def compensate(self) -> None:
        """Undo the steps done so far, newest first, each on the timeline."""
        s, order_id = self._s, self._inp.order_id
        while s.compensations:
            name = s.compensations.pop()
            if name == m.ACT_REFUND_PAYMENT:
                s.step = "Refunding payment"
                await self._step(name, "compensation", lambda record: m.PaymentInput(order_id, f"refund-{order_id}", record=record),
                                 m.PaymentResult, m.refunded_text, timeout=SHORT_STEP, retry=MIRROR_RETRY)
            elif name == m.ACT_RELEASE_STOCK:
                s.step = "Releasing stock"
                await self._step(name, "compensation", lambda record: m.OrderRef(order_id, record=record),
                                 m.ReleaseResult, m.released_text, timeout=DB_STEP, retry=MIRROR_RETRY)

    # --- One step and its record ------------------------------------------------------------------

    async def _business_step(self, name: str, kind: str, arg: Callable[[m.StepRecord | None], Any], result_type: type,
                             text: Callable[[Any], str]) -> Any:
        """A step with a business outcome: its failure fails the order."""
        try:
            return await self._step(name, kind, arg, result_type, text, timeout=SHORT_STEP, retry=STEP_RETRY)
        except ActivityError as err:
            raise OrderFailed(cause(err)) from err

    async def _step(self, name: str, kind: str, arg: Callable[[m.StepRecord | None], Any], result_type: type,
                    text: Callable[[Any], str], *, timeout: timedelta, retry: RetryPolicy,
                    fields: Callable[[Any], dict] = lambda result: {}) -> Any:
        record = self._timeline.begin_step(kind)
        try:
            result = await workflow.execute_activity(name, arg(record), result_type=result_type, start_to_close_timeout=timeout,
                                                     retry_policy=retry)
        except ActivityError:
            self._timeline.step_failed(record)
            raise
        if record is None:
            await self._timeline.record(kind, text(result), **fields(result))
        else:
            self._timeline.end_step(record, result.recorded)
        return result

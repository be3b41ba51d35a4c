"""Tracked delivery: the order's parcels followed to their end, each by its
own shipment child workflow (temporal_bridge.shipment), until it is delivered
or returned. An order shipped as one parcel has one child, `order-N-shipment`;
a split order has one per warehouse, `order-N-shipment-<WAREHOUSE>`, followed
side by side, and is what fulfilment_states says of its parcels. Past the
"partially-shipped" marker, a split order's parcel is followed from the moment
it ships (its carrier events reach it while the next part is packed), and a
cancel between parts leaves the parcels already shipped followed to their end.

Deterministic and free of Django, like the rest of the workflow.
"""
from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import CancelledError, ChildWorkflowError, TerminatedError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.contract.policies import DB_STEP, MIRROR_RETRY
    from temporal_bridge.order import messages as m
    from temporal_bridge.order import states
    from temporal_bridge.order.fulfilment_states import PARCEL_WORDS, UNTRACKED, ShippedParcel, order_state_from
    from temporal_bridge.order.workflow.outcomes import cause
    from temporal_bridge.order.workflow.timeline import Timeline
    from temporal_bridge.shipment import messages as shipment
    from temporal_bridge.shipment.messages import ShipmentInput, ShipmentResult

# Past this marker, a parcel whose shipment workflow is stopped from outside (an operator terminates it
# in the Temporal UI) is marked as no longer tracked, with a task for operations, not only a note.
PARCEL_NEEDS_ATTENTION = "parcel-needs-attention"


class Delivery:
    def __init__(self, inp: m.OrderWorkflowInput, state: m.OrderState, timeline: Timeline) -> None:
        self._inp = inp
        self._s = state
        self._timeline = timeline
        # Parcels followed from the moment they shipped, by warehouse; each ends with its journey.
        self._following: dict[str, asyncio.Task[None]] = {}
        # How many parcels the order will have, for the timeline's "1 of 2" (the parts planned, until a cancel).
        self.expected = 0

    async def follow_parcel(self, carrier: str) -> ShipmentResult | None:
        """The order's only parcel, until delivered or returned; None if its tracking stopped."""
        s, inp = self._s, self._inp
        s.parcel_status, s.step = "shipped", "In transit"
        try:
            result: ShipmentResult = await workflow.execute_child_workflow(
                shipment.SHIPMENT_WORKFLOW_NAME,
                ShipmentInput(inp.order_id, inp.order_number, s.tracking_number, inp.carrier or carrier, self._promise()),
                id=shipment.shipment_workflow_id(inp.order_id), result_type=ShipmentResult,
            )
        except ChildWorkflowError as err:
            if workflow.patched(PARCEL_NEEDS_ATTENTION):
                how = await self._needs_attention(s.tracking_number, "", err)
                s.failure_reason = f"its shipment workflow was {how} outside the desk; operations check the parcel with the carrier"
            else:
                s.failure_reason = f"delivery tracking stopped: {cause(err)}"
            return None
        s.parcel_status = result.status
        return result

    async def follow_each(self, carrier: str) -> str | None:
        """A split order's parcels, side by side, each to its end (the timeline says so, parcel by
        parcel). The order's state once all have ended (fulfilment_states), or None if any parcel's
        tracking stopped (its entry says why)."""
        s = self._s
        s.parcel_status = "shipped"
        self._show_progress()
        promised = self._promise()
        self.expected = len(s.parcels)
        await asyncio.gather(*(self._following.get(parcel.warehouse) or self._follow(parcel, carrier, promised) for parcel in s.parcels))
        if any(parcel.status == UNTRACKED for parcel in s.parcels):
            return None
        state = order_state_from([(parcel.warehouse, parcel.status) for parcel in s.parcels])
        s.parcel_status = shipment.PARCEL_DELIVERED if all(p.status == shipment.PARCEL_DELIVERED for p in s.parcels) \
            else shipment.PARCEL_RETURNED
        return state

    def follow_now(self, parcels: list[ShippedParcel], carrier: str) -> None:
        """Start following parcels that just shipped while other parts are still to be packed."""
        promised = self._promise()
        self.expected = max(self.expected, self._s.fulfilments_planned)
        for parcel in parcels:
            if parcel.warehouse not in self._following:
                self._following[parcel.warehouse] = asyncio.ensure_future(self._follow(parcel, carrier, promised))

    def following(self) -> bool:
        return bool(self._following)

    async def follow_shipped(self) -> str | None:
        """After a cancel between parts: the parcels that shipped before it, each to its end.
        What the rule says of them, or None if any parcel's tracking stopped."""
        s = self._s
        self.expected = len(s.parcels)
        self._show_progress()
        await asyncio.gather(*self._following.values())
        if any(parcel.status == UNTRACKED for parcel in s.parcels):
            return None
        return order_state_from([(parcel.warehouse, parcel.status) for parcel in s.parcels])

    async def _follow(self, parcel: ShippedParcel, carrier: str, promised: str) -> None:
        inp = self._inp
        try:
            result: ShipmentResult = await workflow.execute_child_workflow(
                shipment.SHIPMENT_WORKFLOW_NAME,
                ShipmentInput(inp.order_id, inp.order_number, parcel.tracking_number, inp.carrier or carrier, promised,
                              warehouse=parcel.warehouse),
                id=shipment.shipment_workflow_id(inp.order_id, parcel.warehouse), result_type=ShipmentResult,
            )
        except ChildWorkflowError as err:
            parcel.status = UNTRACKED
            self._show_progress()
            if workflow.patched(PARCEL_NEEDS_ATTENTION):
                how = await self._needs_attention(parcel.tracking_number, parcel.warehouse, err)
                await self._timeline.record_now(
                    "note", f"Parcel from {parcel.warehouse} ({parcel.tracking_number}) needs attention: its shipment workflow was "
                            f"{how} outside the desk, so its carrier events are no longer followed; operations check it with the carrier")
            else:
                await self._timeline.record_now(
                    "note", f"Delivery tracking of the parcel from {parcel.warehouse} ({parcel.tracking_number}) stopped: {cause(err)}")
            return
        parcel.status = result.status
        self._show_progress()
        ended = sum(1 for p in self._s.parcels if p.status != "shipped")
        await self._timeline.record_now(
            "note", f"Parcel from {parcel.warehouse} {PARCEL_WORDS.get(result.status, result.status)} "
                    f"(tracking number {parcel.tracking_number}): {ended} of {max(self.expected, len(self._s.parcels))} "
                    "parcels at their end")

    async def _needs_attention(self, tracking_number: str, warehouse: str, err: ChildWorkflowError) -> str:
        """The parcel marked as no longer tracked, with a task for operations; how its workflow ended, in words."""
        stopped = err.cause
        how = ("terminated" if isinstance(stopped, TerminatedError) else "cancelled" if isinstance(stopped, CancelledError)
               else "timed out" if isinstance(stopped, TimeoutError) else f"stopped ({cause(err)})")
        await workflow.execute_activity(
            shipment.ACT_MARK_PARCEL_UNTRACKED, shipment.ParcelUntrackedInput(self._inp.order_id, tracking_number, how, warehouse),
            start_to_close_timeout=DB_STEP, retry_policy=MIRROR_RETRY)
        return how

    def _show_progress(self) -> None:
        if self._s.state == states.PARTIALLY_SHIPPED:
            return  # the step says which part is being packed; the parcels have their own cards
        self._s.step = "In transit: " + ", ".join(f"{p.warehouse} {PARCEL_WORDS.get(p.status, p.status)}" for p in self._s.parcels)

    def _promise(self) -> str:
        return (workflow.now() + timedelta(days=self._inp.delivery_promise_days)).isoformat()

"""What an order waits for between its steps, outside its own work: a credit
review, a held stage (a paused fulfilment, an open circuit breaker), the
payment provider's confirmation, a fraud alert.

Only the database's answer ends a hold, never a signal: a signal only wakes
the order to ask again (outside.py sets `lifted_by`). The saga (saga.py)
calls these between its steps.
"""
from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.contract.decoding import display
    from temporal_bridge.contract.policies import DB_STEP, MIRROR_RETRY
    from temporal_bridge.order import holds, payments, states
    from temporal_bridge.order import messages as m
    from temporal_bridge.order.holds import HoldInput, HoldResult
    from temporal_bridge.order.payments import SettleInput, SettleResult
    from temporal_bridge.order.records import MirrorInput
    from temporal_bridge.order.workflow.outcomes import OrderCancelled, OrderFailed
    from temporal_bridge.order.workflow.timeline import Timeline


class Waits:
    def __init__(self, inp: m.OrderWorkflowInput, state: m.OrderState, timeline: Timeline) -> None:
        self._inp = inp
        self._s = state
        self._timeline = timeline
        # Who lifted a hold (the holds_lifted signal): wakes a held order at once.
        self.lifted_by: str | None = None

    def _check_cancel(self) -> None:
        if self._s.cancel is not None:
            raise OrderCancelled()

    async def credit_check(self) -> None:
        """Within the customer's credit limit the order goes on (one read); over it,
        it waits on hold for finance, who raise the limit or cancel the order."""
        # The entries waiting ("approved") are written with the read, under the
        # customer's lock: two orders of one customer cannot both pass unseen.
        entries = self._timeline.take_unwritten()
        try:
            hold = await self.read_hold(holds.STAGE_CREDIT, entries)
        except ActivityError:
            self._timeline.give_back(entries)
            raise
        await self.while_held(holds.STAGE_CREDIT, hold)

    async def while_held(self, stage: str, hold: HoldResult | None) -> None:
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
            hold = await self.read_hold(stage)
        if s.hold_reason:
            s.hold_reason = ""
            # Written with the next step, which follows at once.
            self._timeline.record(holds.KIND_HOLD_RELEASED, holds.released_text(stage, self.lifted_by or "", hold),
                                  status=resume_to if s.state != resume_to else None)

    async def read_hold(self, stage: str, entries: list[MirrorInput] | None = None) -> HoldResult:
        return await workflow.execute_activity(holds.ACT_READ_HOLD, HoldInput(self._inp.order_id, stage, entries or []),
                                               result_type=HoldResult, start_to_close_timeout=DB_STEP, retry_policy=MIRROR_RETRY)

    async def payment_confirmation(self, reference: str) -> None:
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
            self._check_cancel()
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
        self._check_cancel()

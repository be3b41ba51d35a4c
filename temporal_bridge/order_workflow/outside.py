"""What the outside world tells an order (v6): the payment provider's events
(relayed from its signed webhooks), a manager's release of a fraud hold, and
the nudge that a hold was lifted. A mixin of OrderWorkflow.

The handlers only change the order's state; the saga (saga.py) acts on it at
its next checkpoint, so an event that arrives early, late or twice is
harmless. Events are applied once per provider event id, and count only if
the webhook intake stored them, signed (temporal_bridge.intents). Runs that predate
v6 treat these messages as unknown, as they always did.
"""
from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge import intents, states
    from temporal_bridge import message_checks as checks
    from temporal_bridge import messages as m
    from temporal_bridge.order_workflow import refusals as kinds
    from temporal_bridge.order_workflow.conversation import Conversation
    from temporal_bridge.order_workflow.saga import FulfilmentSaga


class OutsideWorld(Conversation):
    saga: FulfilmentSaga

    @workflow.signal(name=m.SIGNAL_PAYMENT_EVENT)
    async def payment_event(self, *args: Any) -> None:
        if not self._v6():
            return await self._ignore_unknown(m.SIGNAL_PAYMENT_EVENT)
        try:
            event = checks.parse_payment_event(args)
        except checks.Refused as refused:
            if self._intents():
                return await self.refusals.note(kinds.MALFORMED, refused.reason, "")
            return await self.requests.note(refused.reason, "")
        await self._on_payment_event(event)

    @workflow.signal(name=m.SIGNAL_RELEASE_HOLD)
    async def release_hold(self, *args: Any) -> None:
        if not self._v6():
            return await self._ignore_unknown(m.SIGNAL_RELEASE_HOLD)
        await self._take(args, lambda a: checks.parse_decision(a, "Release"), self._release)

    @workflow.signal(name=m.SIGNAL_HOLDS_LIFTED)
    async def holds_lifted(self, *args: Any) -> None:
        if not self._v6():
            return await self._ignore_unknown(m.SIGNAL_HOLDS_LIFTED)
        # Trusted for nothing: the saga reads the hold again from the database.
        self.saga.lifted_by = checks.parse_holds_lifted(args).by

    # --- Payment events ---------------------------------------------------------------------

    async def _on_payment_event(self, event: m.PaymentEvent) -> None:
        s = self.s
        if event.event_id in s.seen_event_ids:
            return  # a webhook delivered twice is applied once
        if self._intents():
            # Remembered as seen only once confirmed: a forged copy of the
            # provider's id must not make the genuine event a "duplicate".
            confirmation = await self.confirmations.event(intents.EventCheck(
                m.PROVIDER_PAYMENTS, self._input.order_id, event.event_id, event.kind, intents.payment_event_digest(event)))
            if not confirmation.received:
                return await self.refusals.note(
                    kinds.UNCONFIRMED, f"Payment event {checks.display(event.event_id)} ({event.kind}) refused: {confirmation.reason}", "")
            if event.event_id in s.seen_event_ids:
                return  # the same event twice in one task
        s.seen_event_ids = [*s.seen_event_ids, event.event_id][-m.MAX_SEEN_EVENTS:]
        if event.kind == m.PAYMENT_FRAUD_ALERT:
            if s.state in states.TERMINAL or s.state == states.IN_TRANSIT or not s.compensations:
                why = "the order has shipped" if s.fulfilment_done else "no payment is held for this order"
                return await self.requests.note(f"Fraud alert from the payment provider ignored: {why}", "")
            s.fraud_alert = event.reason or "no reason given"
            return
        waiting = s.payment_reference and not s.payment_outcome
        if not waiting or (event.reference and event.reference != s.payment_reference):
            return await self.requests.note(f"Payment event {checks.display(event.event_id)} ({event.kind}) ignored: "
                                    "no payment of this order waits for it", "")
        s.payment_outcome, s.payment_event_id = event.kind, event.event_id
        s.failure_reason = event.reason if event.kind == m.PAYMENT_FAILED else s.failure_reason

    # --- A manager's release of a fraud hold ---------------------------------------------------

    async def _release(self, signal: m.DecisionSignal) -> None:
        action, actor = states.RELEASE_HOLD, signal.actor

        def refusal_of(who: str) -> str | None:
            if self.s.state != states.ON_HOLD or self.s.cancel is not None:
                return f"Release by {who} refused: the order is not on hold"
            if who == self._input.requested_by:
                return f"Release by {who} refused: the requester cannot release their own order"
            return None

        if await self._checked(m.SIGNAL_RELEASE_HOLD, action, "Release", signal, refusal_of):
            s = self.s
            s.fraud_alert = ""
            entry = self.timeline.add("hold_released", f"Hold released by {actor}" + (f": {signal.comment}" if signal.comment else ""),
                                      actor=actor, status=s.held_from or states.PROCESSING)
            await self.timeline.write_now([entry])

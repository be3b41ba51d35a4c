"""What the outside world tells an order: the payment provider's events
(relayed from its signed webhooks), a manager's release of a fraud hold, and
the nudge that a hold was lifted. A collaborator of OrderWorkflow, whose
handlers delegate here.

The handlers only change the order's state; the saga (saga.py) acts on it at
its next checkpoint, so an event that arrives early, late or twice is
harmless. Events are applied once per provider event id, and count only if
the webhook intake stored them, signed (temporal_bridge.order.intents).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.contract.confirmations import DeskConfirmations
    from temporal_bridge.contract.decoding import display
    from temporal_bridge.contract.intents import EventCheck
    from temporal_bridge.order import holds, intents, payments, states
    from temporal_bridge.order import message_checks as checks
    from temporal_bridge.order import messages as m
    from temporal_bridge.order.payments import PaymentEvent
    from temporal_bridge.order.workflow import refusals as kinds
    from temporal_bridge.order.workflow.intake import Intake
    from temporal_bridge.order.workflow.refusals import Refusals
    from temporal_bridge.order.workflow.requests import Requests
    from temporal_bridge.order.workflow.saga import FulfilmentSaga
    from temporal_bridge.order.workflow.timeline import Timeline
    from temporal_bridge.shipment import messages as shipment


class OutsideWorld:
    def __init__(self, inp: m.OrderWorkflowInput, state: m.OrderState, timeline: Timeline, saga: FulfilmentSaga, requests: Requests,
                 refusals: Refusals, confirmations: DeskConfirmations, intake: Intake) -> None:
        self._inp = inp
        self._s = state
        self._timeline = timeline
        self._saga = saga
        self._requests = requests
        self._refusals = refusals
        self._confirmations = confirmations
        self._intake = intake

    # --- Messages ---------------------------------------------------------------------------

    async def payment_event(self, args: Sequence[Any]) -> None:
        await self._intake.take(args, checks.parse_payment_event, self._on_payment_event)

    async def release_hold(self, args: Sequence[Any]) -> None:
        await self._intake.take(args, lambda a: checks.parse_decision(a, "Release"), self._release)

    def holds_lifted(self, args: Sequence[Any]) -> None:
        # Trusted for nothing: the saga reads the hold again from the database.
        self._saga.waits.lifted_by = checks.parse_holds_lifted(args).by

    # --- Payment events ---------------------------------------------------------------------

    async def _on_payment_event(self, event: PaymentEvent) -> None:
        s = self._s
        if event.event_id in s.seen_event_ids:
            return  # a webhook delivered twice is applied once
        # Remembered as seen only once confirmed: a forged copy of the
        # provider's id must not make the genuine event a "duplicate".
        confirmation = await self._confirmations.event(EventCheck(
            payments.PROVIDER_PAYMENTS, self._inp.order_id, event.event_id, event.kind, intents.payment_event_digest(event)))
        if not confirmation.received:
            return await self._refusals.note(
                kinds.UNCONFIRMED, f"Payment event {display(event.event_id)} ({event.kind}) refused: {confirmation.reason}", "")
        if event.event_id in s.seen_event_ids:
            return  # the same event twice in one task
        s.seen_event_ids = [*s.seen_event_ids, event.event_id][-shipment.MAX_SEEN_EVENTS:]
        if event.kind == payments.PAYMENT_FRAUD_ALERT:
            if s.state in states.TERMINAL or s.state == states.IN_TRANSIT or not s.compensations:
                why = "the order has shipped" if s.fulfilment_done else "no payment is held for this order"
                return await self._requests.note(f"Fraud alert from the payment provider ignored: {why}", "")
            s.fraud_alert = event.reason or "no reason given"
            return
        waiting = s.payment_reference and not s.payment_outcome
        if not waiting or (event.reference and event.reference != s.payment_reference):
            return await self._requests.note(f"Payment event {display(event.event_id)} ({event.kind}) ignored: "
                                             "no payment of this order waits for it", "")
        s.payment_outcome, s.payment_event_id = event.kind, event.event_id
        s.failure_reason = event.reason if event.kind == payments.PAYMENT_FAILED else s.failure_reason

    # --- A manager's release of a fraud hold ---------------------------------------------------

    async def _release(self, signal: m.DecisionSignal) -> None:
        actor = signal.actor

        def refusal_of(who: str) -> str | None:
            if self._s.state != states.ON_HOLD or self._s.cancel is not None:
                return f"Release by {who} refused: the order is not on hold"
            if not self._s.fraud_alert:
                return f"Release by {who} refused: only finance ends a credit review, by raising the limit or cancelling"
            if who == self._inp.requested_by:
                return f"Release by {who} refused: the requester cannot release their own order"
            return None

        if await self._requests.confirmed(holds.SIGNAL_RELEASE_HOLD, signal, "Release", lambda _: refusal_of(actor)) is not None:
            s = self._s
            s.fraud_alert = ""
            entry = self._timeline.add("hold_released", f"Hold released by {actor}" + (f": {signal.comment}" if signal.comment else ""),
                                       actor=actor, status=s.held_from or states.PROCESSING)
            await self._timeline.write_now([entry])

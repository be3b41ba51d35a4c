"""OrderWorkflow: the life of one order, from submission to a terminal state.

It reads as the business process: wait for the approval (gate.py), reserve
stock and take payment, go back for approval if the address changed, fulfil
and ship (saga.py), follow the parcel when delivery is tracked, email the
customer and end; a cancel or a business failure undoes what was done,
newest first. What the order knows is one OrderState, which continue-as-new
carries whole; the timeline and its database record are timeline.py's.

Every message the order accepts is listed in the class below, each handed to
the collaborator that owns it: people.py (decisions and edits),
conversation.py (questions before deciding), outside.py (the payment
provider, holds).

Deterministic and free of Django: activities are called by name, time comes
from workflow.now(), waiting from workflow.wait_condition / workflow.wait.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.contract.confirmations import DeskConfirmations
    from temporal_bridge.contract.policies import MIRROR_RETRY, SHORT_STEP
    from temporal_bridge.order import discussion, fulfilment, holds, payments, states, stock_decisions, withdrawal
    from temporal_bridge.order import messages as m
    from temporal_bridge.order import search_attributes as sa
    from temporal_bridge.order.fulfilment import NotifyInput, NotifyResult
    from temporal_bridge.order.fulfilment_states import PARCEL_WORDS
    from temporal_bridge.order.records import MirrorInput
    from temporal_bridge.order.workflow.conversation import Conversation
    from temporal_bridge.order.workflow.delivery import Delivery
    from temporal_bridge.order.workflow.gate import DESK_NOTES_AWAITING, ApprovalGate, Outcome
    from temporal_bridge.order.workflow.intake import Intake
    from temporal_bridge.order.workflow.outcomes import OrderCancelled, OrderFailed
    from temporal_bridge.order.workflow.outside import OutsideWorld
    from temporal_bridge.order.workflow.people import People
    from temporal_bridge.order.workflow.refusals import Refusals
    from temporal_bridge.order.workflow.requests import Requests
    from temporal_bridge.order.workflow.saga import FEWER_EVENTS, FULFILMENT_BY_FULFILMENT, FulfilmentSaga
    from temporal_bridge.order.workflow.service_watch import ServiceLevelWatch
    from temporal_bridge.order.workflow.stock_wait import StockWait
    from temporal_bridge.order.workflow.timeline import Timeline
    from temporal_bridge.order.workflow.withdrawals import Withdrawals
    from temporal_bridge.shipment import messages as shipment


@workflow.defn(name=m.WORKFLOW_NAME)
class OrderWorkflow:
    @workflow.init
    def __init__(self, inp: m.OrderWorkflowInput) -> None:
        # Set here, not in run(), so signals and queries delivered with the
        # first workflow task already see the order.
        self._input = inp
        # The desk wrote the gate's first note with the order: its approval clock, like the note, counts from
        # the submission's time (the patch is asked only then, so other orders' histories keep their events).
        desk_noted = (inp.carried is None and inp.awaiting_noted and inp.submitted_at is not None
                      and workflow.patched(DESK_NOTES_AWAITING))
        self.s = inp.carried or m.OrderState(
            submitted_at=inp.submitted_at if desk_noted and inp.submitted_at else workflow.info().workflow_start_time.isoformat(),
            timeline=[], decisions=[], seen_requests={},
            approvals=[], priority=inp.priority, shipping_address=inp.shipping_address, note=inp.note, runs=0,
        )
        self.timeline = Timeline(self.s, inp.order_id)
        self.gate = ApprovalGate(inp, self.s, self.timeline)
        self.watch = ServiceLevelWatch(inp, self.s, self.timeline)
        refusals = Refusals(self.s, self.timeline)
        self.refusals = refusals
        confirmations = DeskConfirmations()
        self.requests = Requests(inp, self.s, self.timeline, refusals, confirmations)
        intake = Intake(refusals)
        self.stock = StockWait(inp, self.s, self.timeline, self.gate, self.requests, intake)
        self.saga = FulfilmentSaga(inp, self.s, self.timeline, self.stock)
        self.delivery = Delivery(inp, self.s, self.timeline)
        self.people = People(inp, self.s, self.timeline, self.gate, self.requests, intake)
        self.withdrawals = Withdrawals(inp, self.s, self.timeline, self.gate, self.requests, intake)
        self.conversation = Conversation(inp, self.s, self.timeline, self.gate, self.requests, intake)
        self.outside = OutsideWorld(inp, self.s, self.timeline, self.saga, self.requests, refusals, confirmations, intake)
        self.intake = intake
        # The client set the order's search attributes at start (see search_attributes.py).
        self._searchable = False
        # Past FEWER_EVENTS (set in run()): the search-attribute updates waiting for the task's one upsert.
        self._state_updates: dict[str, SearchAttributeUpdate] | None = None
        if inp.carried is None:
            # Entry 0 of the timeline, before any signal handler can run: a
            # signal delivered with the first task (a cancel sent while no
            # worker ran) must not take its place, or the mirror, which wrote
            # "0000-submitted" at submission, would hold the entry twice. The
            # first write rewrites it: a no-op.
            self.s.unwritten.append(self.timeline.add(
                "submitted", f"Order {inp.order_number} submitted ({inp.total} {inp.currency})",
                actor=inp.requested_by, status=states.PENDING_APPROVAL, at=inp.submitted_at,
            ))
            if desk_noted:
                self.gate.take_desk_note()

    # --- What people send: decisions and edits (people.py) ----------------------------------
    # Every handler takes *args: the SDK then decodes the payloads as plain
    # JSON, whatever their number, and the collaborator validates the shape.

    @workflow.signal(name=m.SIGNAL_APPROVE)
    async def approve(self, *args: Any) -> None:
        await self.people.approve(args)

    @workflow.signal(name=m.SIGNAL_REJECT)
    async def reject(self, *args: Any) -> None:
        await self.people.reject(args)

    @workflow.signal(name=withdrawal.SIGNAL_WITHDRAW_APPROVAL)
    async def withdraw_approval(self, *args: Any) -> None:
        await self.withdrawals.withdraw(args)

    @workflow.signal(name=m.SIGNAL_CANCEL)
    async def cancel(self, *args: Any) -> None:
        await self.people.cancel(args)

    @workflow.signal(name=m.SIGNAL_UPDATE)
    async def update(self, *args: Any) -> None:
        await self.people.update(args)

    @workflow.signal(name=m.SIGNAL_PROGRESS)
    def report_progress(self, *args: Any) -> None:
        self.people.report_progress(args)

    # --- Questions before deciding (conversation.py) ----------------------------------------

    @workflow.signal(name=discussion.SIGNAL_COMMENT)
    async def comment(self, *args: Any) -> None:
        await self.conversation.comment(args)

    @workflow.signal(name=discussion.SIGNAL_ASK_REQUESTER)
    async def ask_requester(self, *args: Any) -> None:
        await self.conversation.ask_requester(args)

    @workflow.signal(name=discussion.SIGNAL_ANSWER)
    async def answer(self, *args: Any) -> None:
        await self.conversation.answer(args)

    # --- The outside world: the payment provider, holds (outside.py) ------------------------

    @workflow.signal(name=payments.SIGNAL_PAYMENT_EVENT)
    async def payment_event(self, *args: Any) -> None:
        await self.outside.payment_event(args)

    @workflow.signal(name=holds.SIGNAL_RELEASE_HOLD)
    async def release_hold(self, *args: Any) -> None:
        await self.outside.release_hold(args)

    @workflow.signal(name=holds.SIGNAL_HOLDS_LIFTED)
    async def holds_lifted(self, *args: Any) -> None:
        self.outside.holds_lifted(args)

    # --- Lines no warehouse holds (stock_wait.py) ----------------------------------------------

    @workflow.signal(name=stock_decisions.SIGNAL_STOCK_DECISION)
    async def stock_decision(self, *args: Any) -> None:
        await self.stock.decide(args)

    @workflow.signal(name=stock_decisions.SIGNAL_STOCK_ARRIVED)
    def stock_arrived(self, *args: Any) -> None:
        self.stock.arrived()

    # --- Anything else (intake.py) ----------------------------------------------------------

    @workflow.signal(dynamic=True)
    async def unknown_message(self, name: str, args: Sequence[RawValue]) -> None:
        # Without this, the SDK would buffer unknown signals in memory forever.
        await self.intake.ignore_unknown(name)

    # --- Queries ------------------------------------------------------------------------------

    @workflow.query(name=m.QUERY_SNAPSHOT)
    def snapshot(self) -> m.OrderSnapshot:
        inp, s = self._input, self.s
        return m.OrderSnapshot(
            order_id=inp.order_id, number=inp.order_number, state=s.state, step=s.step, progress=s.progress,
            requires_approval=inp.requires_approval, approval_deadline=s.deadline, priority=s.priority,
            shipping_address=s.shipping_address, note=s.note, tracking_number=s.tracking_number,
            failure_reason=s.failure_reason, cancel_requested=s.cancel is not None, decisions=list(s.decisions),
            timeline=list(s.timeline), allowed_actions=self._allowed_actions(), approval=self.gate.progress(),
            questions=True, open_question=s.question.question if s.question else "",
            question_by=s.question.actor if s.question else "", hold_reason=s.hold_reason, parcel_status=s.parcel_status,
            service_levels=self.watch.report(), unavailable=list(s.unavailable),
            stock_decision_open=bool(s.unavailable) and not s.stock_choices and s.cancel is None, parcels=list(s.parcels),
        )

    @workflow.query(name=m.QUERY_VERDICT)
    def verdict(self, request_id: str) -> m.RequestVerdict:
        return self.requests.verdict(request_id)

    def _allowed_actions(self) -> list[str]:
        s = self.s
        return states.allowed_actions(s.state, awaiting_decision=not self.gate.decided(), cancel_requested=s.cancel is not None,
                                      fulfilment_done=s.fulfilment_done, question_open=s.question is not None, questions=True)

    # --- The process ---------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: m.OrderWorkflowInput) -> m.OrderSnapshot:
        fewer_events = workflow.patched(FEWER_EVENTS)  # first: the marker goes before any other command
        self.saga.fewer_events = self.watch.leave_last_timer = fewer_events
        self._state_updates = {} if fewer_events else None
        self._searchable = workflow.info().typed_search_attributes.get(sa.ORDER_STATE) is not None
        if not self.s.transitions:
            self.s.transitions.append(m.StateTransition(states.PENDING_APPROVAL, self.s.submitted_at))
        self.timeline.on_change = self._entered
        workflow.set_current_details(self._details())
        watching = asyncio.ensure_future(self.watch.run(self._breached))

        try:
            outcome = await self.gate.wait()
            if outcome is Outcome.APPROVED:
                outcome = await self._process()
            if outcome is Outcome.EXPIRED:
                why = ("the requester did not answer the approvers' question in time" if self.s.question is not None
                       else "no decision before the approval deadline")
                await self._end_unapproved(states.EXPIRED, f"Expired: {why}", notify="expired")
            elif outcome is Outcome.REJECTED:
                rejection = self.s.rejection
                assert rejection is not None
                await self._end_unapproved(states.REJECTED, f"Rejected by {rejection.actor}: {rejection.comment}", notify="rejected",
                                           actor=rejection.actor)
        except OrderCancelled:
            cancel = self.s.cancel
            await self.saga.compensate()
            reason, actor = (f"Cancelled: {cancel.reason}", cancel.actor) if cancel else ("Cancelled", "")
            if self.delivery.following():
                await self._end_while_parcels_travel(states.CANCELLED, reason, notify="cancelled", actor=actor)
            else:
                await self._finish(states.CANCELLED, reason, notify="cancelled", actor=actor)
        except OrderFailed as failure:
            self.s.failure_reason = str(failure)
            await self.saga.compensate()
            if self.delivery.following():
                await self._end_while_parcels_travel(states.FAILED, f"Failed: {failure}", notify="failed", failure_reason=str(failure))
            else:
                await self._finish(states.FAILED, f"Failed: {failure}", notify="failed", failure_reason=str(failure))

        # Signal handlers (and the service-level watch) may still be writing to the mirror.
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self.timeline.writing)
        await watching  # it ends with the order
        return self.snapshot()

    async def _process(self) -> Outcome:
        """From the approval to the shipment; the outcome of a re-approval that did not approve."""
        await self.saga.reserve_and_charge()
        # The shipping address changed after the approval: the approvers must
        # see the new one before anything ships (stock and payment stay held).
        while self.s.reapproval_reason:
            outcome = await self._reapprove()
            if outcome is not Outcome.APPROVED:
                return outcome
        if self.s.fulfilments_planned > 1 and self.saga.adopted(FULFILMENT_BY_FULFILMENT):
            await self.saga.fulfil_each(lambda parcels: self.delivery.follow_now(parcels, self.saga.carrier))
        else:
            await self.saga.fulfil()
            await self.saga.waits.fraud_checkpoint()
            await self.saga.ship()
        if not self._input.track_delivery:
            await self._finish(states.FULFILLED, "Fulfilled", notify="fulfilled", progress=100)
            return Outcome.APPROVED
        s = self.s
        if s.parcels:
            await self._deliver_each()
            return Outcome.APPROVED
        await self._finish(states.IN_TRANSIT, f"Shipped: in transit, tracking number {s.tracking_number}", notify="fulfilled", progress=100)
        parcel = await self.delivery.follow_parcel(self.saga.carrier)
        if parcel is None:
            await self.timeline.record_now("note", f"Delivery tracking stopped: {s.failure_reason}")
            await self._finish(states.FULFILLED, "Fulfilled (delivery not tracked to the end)", notify="fulfilled", progress=100)
        elif parcel.status == shipment.PARCEL_DELIVERED:
            await self._finish(states.DELIVERED, "Delivered", notify="delivered", progress=100)
        else:
            await self._finish(states.RETURNED, "Returned to sender: operations decide on a new delivery or a refund", notify="returned",
                               progress=100)
        return Outcome.APPROVED

    async def _deliver_each(self) -> None:
        """A split order: its parcels travel side by side; the order ends as they all have."""
        parcels = self.s.parcels
        numbers = ", ".join(f"{parcel.warehouse} {parcel.tracking_number}" for parcel in parcels)
        await self._finish(states.IN_TRANSIT, f"Shipped in {len(parcels)} parcels: in transit, tracking numbers {numbers}",
                           notify="fulfilled", progress=100)
        ended = await self.delivery.follow_each(self.saga.carrier)
        if ended is None:
            await self._finish(states.FULFILLED, "Fulfilled (delivery not tracked to the end)", notify="fulfilled", progress=100)
        elif ended == states.DELIVERED:
            await self._finish(states.DELIVERED, f"Delivered: all {len(parcels)} parcels", notify="delivered", progress=100)
        else:
            returned = ", ".join(parcel.warehouse for parcel in parcels if parcel.status == shipment.PARCEL_RETURNED)
            await self._finish(states.RETURNED, f"Returned to sender: the parcel from {returned}; operations decide on a new "
                               "delivery or a refund", notify="returned", progress=100)

    async def _end_while_parcels_travel(self, status: str, reason: str, *, notify: str, actor: str = "",
                                        failure_reason: str | None = None) -> None:
        """A cancel (or a failure) between parts, compensated: the parcels shipped before it travel on,
        each followed to its end, and the order ends cancelled (or failed) saying what became of them."""
        parcels, what = self.s.parcels, "cancel" if status == states.CANCELLED else "failure"
        sent = "; ".join(f"the parcel from {parcel.warehouse} (tracking number {parcel.tracking_number})" for parcel in parcels)
        await self._finish(states.IN_TRANSIT, f"{reason}; shipped before the {what} and followed to its end: {sent}",
                           notify=notify, actor=actor, failure_reason=failure_reason)
        ended = await self.delivery.follow_shipped()
        words = ", ".join(f"from {p.warehouse} {PARCEL_WORDS.get(p.status, p.status)}" for p in parcels)
        # The customer heard of the cancel (or failure) already; now of what became of the parcel.
        journey = {states.DELIVERED: "delivered", states.RETURNED: "returned"}.get(ended or "", "fulfilled")
        await self._finish(status, f"{reason}; shipped before the {what}: the parcel {words}", notify=journey, actor=actor,
                           failure_reason=failure_reason)

    async def _reapprove(self) -> Outcome:
        """Send the order back through its approval rule."""
        s = self.s
        reason, s.reapproval_reason = s.reapproval_reason, ""
        s.approval_round += 1
        s.approvals, s.rejection = [], None
        s.reminded = s.escalated = False
        self.timeline.record("status", f"Back to approval: {reason}; stock and payment stay held meanwhile",
                                   status=states.PENDING_APPROVAL)
        outcome = await self.gate.wait(round_started=workflow.now())
        if outcome is Outcome.APPROVED:
            self.timeline.record("status", "Processing resumes after the re-approval", status=states.PROCESSING)
            self.saga.check_cancel()
        return outcome

    async def _end_unapproved(self, status: str, message: str, *, notify: str, actor: str = "") -> None:
        await self.saga.compensate()  # only a re-approval round has anything to undo
        await self._finish(status, message, notify=notify, actor=actor)

    async def _finish(self, status: str, message: str, *, notify: str, actor: str = "", failure_reason: str | None = None,
                      progress: int | None = None) -> None:
        """Email the customer, then enter the terminal state (or, for a
        tracked delivery, in_transit: the parcel's journey follows).

        The terminal entry comes last on purpose: the live page stops polling
        when it sees a terminal state, so nothing may be appended after it.
        One activity writes both, with whatever else waits.
        """
        self.refusals.summarise()  # before the terminal entry, which comes last
        record = self.timeline.begin_step("notification", decisions=True)
        record.after.append(self.timeline.prepare(
            "status", message, actor=actor, status=status, failure_reason=failure_reason, progress=progress))
        sent: NotifyResult = await workflow.execute_activity(
            fulfilment.ACT_NOTIFY, NotifyInput(self._input.order_id, notify, f"notify-{notify}", reason=failure_reason or "",
                                               record=record),
            result_type=NotifyResult, start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY,
        )
        self.timeline.end_step(record, sent.recorded)

    # --- What operators see in the Temporal UI ----------------------------------------------

    def _entered(self, entry: MirrorInput) -> None:
        """An entry changed the order's state: note when (service levels) and
        keep the search attributes and the run's details current."""
        at = entry.at or workflow.now().isoformat()
        if entry.status is not None:
            self.s.transitions.append(m.StateTransition(entry.status, at))
        if self._searchable:
            updates: list[SearchAttributeUpdate] = []
            if entry.status is not None:
                updates += [sa.ORDER_STATE.value_set(entry.status), sa.STATE_ENTERED_AT.value_set(datetime.fromisoformat(at))]
            if entry.escalated:
                updates.append(sa.ESCALATED.value_set(True))
            self._upsert(updates)
        workflow.set_current_details(self._details())

    def _upsert(self, updates: list[SearchAttributeUpdate]) -> None:
        """Upsert now; or, past FEWER_EVENTS, once for the whole workflow task: the updates wait for the
        loop's next turn, which comes when the process blocks, and a later value of an attribute replaces an
        earlier one (an auto-approved order enters approved and processing in its first task: one upsert)."""
        pending = self._state_updates
        if pending is None:
            workflow.upsert_search_attributes(updates)
            return
        if not pending:
            asyncio.get_running_loop().call_soon(self._flush_state_updates)
        pending.update((update.key.name, update) for update in updates)

    def _flush_state_updates(self) -> None:
        pending = self._state_updates
        if pending:
            workflow.upsert_search_attributes(list(pending.values()))
            pending.clear()

    def _breached(self, stage: str) -> None:
        if self._searchable:
            workflow.upsert_search_attributes([sa.SLA_BREACHED.value_set(True)])

    def _details(self) -> str:
        """The run's details line, e.g. "OD-000123 · Pending approval · Waiting for approvals (1 of 2)"."""
        s = self.s
        step = s.step if s.step and s.step != states.LABELS.get(s.state) else ""
        return f"{self._input.order_number} · {states.LABELS.get(s.state, s.state)}" + (f" · {step}" if step else "")


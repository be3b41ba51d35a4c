"""OrderWorkflow: the life of one order, from submission to a terminal state.

It reads as the business process: wait for the approval (gate.py, or the v1
gate of legacy_gate.py), reserve stock and take payment, go back for approval
if the address changed, fulfil and ship (saga.py), email the customer and
end; a cancel or a business failure undoes what was done, newest first.
What the order knows is one OrderState, which continue-as-new carries whole;
the timeline and its database record are timeline.py's; the messages people
send are people.py's.

Deterministic and free of Django: activities are called by name, time comes
from workflow.now(), waiting from workflow.wait_condition / workflow.wait.
"""
from __future__ import annotations

import asyncio
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge import messages as m
    from temporal_bridge import search_attributes as sa
    from temporal_bridge import states
    from temporal_bridge.confirmations import DeskConfirmations
    from temporal_bridge.order_workflow.gate import ApprovalGate, Outcome
    from temporal_bridge.order_workflow.legacy_gate import SingleDecisionGate
    from temporal_bridge.order_workflow.outcomes import OrderCancelled, OrderFailed
    from temporal_bridge.order_workflow.outside import OutsideWorld
    from temporal_bridge.order_workflow.refusals import Refusals
    from temporal_bridge.order_workflow.requests import Requests
    from temporal_bridge.order_workflow.saga import FulfilmentSaga
    from temporal_bridge.order_workflow.service_watch import ServiceLevelWatch
    from temporal_bridge.order_workflow.timeline import Timeline
    from temporal_bridge.workflow_policies import MIRROR_RETRY, SHORT_STEP

# Issue 3: quorum approvals, reminders and escalation. Histories recorded
# before it (v1) have no marker for this patch and replay the old single
# decision gate (legacy_gate.py); every new run records the marker.
QUORUM_PATCH = "approval-quorum-v2"
# Issue 10 (v5): each business step writes its own timeline entry, and the
# pure state changes waiting, in the transaction of its effect; entries
# people must see while the order waits for them are written at once. Runs
# without the marker write every entry through its own mirror activity.
LEAN_RECORDS_PATCH = "step-writes-its-record-v5"
# Issues 11-13 (v6): questions before deciding, holds, payments confirmed by
# webhook, delivery tracking, service levels, search attributes. One marker
# for the release: every v6 behaviour is asked through `_v6()`.
V6_PATCH = "outside-world-v6"
# A message counts only if the desk recorded it first (temporal_bridge.intents),
# confirmed against the database by one batched activity; refusals of
# unconfirmed messages are counted, not written one by one.
INTENTS_PATCH = "recorded-intents"


@workflow.defn(name=m.WORKFLOW_NAME)
class OrderWorkflow(OutsideWorld):
    @workflow.init
    def __init__(self, inp: m.OrderWorkflowInput) -> None:
        # Set here, not in run(), so signals and queries delivered with the
        # first workflow task already see the order.
        self._input = inp
        self.s = inp.carried or m.OrderState(
            submitted_at=workflow.info().workflow_start_time.isoformat(), timeline=[], decisions=[], seen_requests={},
            approvals=[], priority=inp.priority, shipping_address=inp.shipping_address, note=inp.note, runs=0,
        )
        self.timeline = Timeline(self.s, inp.order_id)
        self.gate = ApprovalGate(inp, self.s, self.timeline)
        self.legacy_gate = SingleDecisionGate(inp, self.s, self.timeline)
        self.saga = FulfilmentSaga(inp, self.s, self.timeline)
        self.watch = ServiceLevelWatch(inp, self.s, self.timeline)
        self.refusals = Refusals(self.s, self.timeline)
        self.confirmations = DeskConfirmations()
        self.requests = Requests(inp, self.s, self.timeline, self.refusals, self.confirmations, self._intents)
        self._quorum_flag: bool | None = None
        self._v6_flag: bool | None = None
        self._intents_flag: bool | None = None
        # v6: the client set the order's search attributes at start (see search_attributes.py).
        self._searchable = False
        self._submitted_entry: m.MirrorInput | None = None
        if inp.carried is None:
            # Entry 0 of the timeline, before any signal handler can run: a
            # signal delivered with the first task (a cancel sent while no
            # worker ran) must not take its place, or the mirror, which wrote
            # "0000-submitted" at submission, would hold the entry twice.
            self._submitted_entry = self.timeline.add(
                "submitted", f"Order {inp.order_number} submitted ({inp.total} {inp.currency})",
                actor=inp.requested_by, status=states.PENDING_APPROVAL, at=inp.submitted_at,
            )

    # --- The process ---------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: m.OrderWorkflowInput) -> m.OrderSnapshot:
        quorum = self._quorum()
        self.timeline.lean = quorum and workflow.patched(LEAN_RECORDS_PATCH)
        self.saga.v6 = self._v6()
        self._intents()
        if self.saga.v6:
            self._searchable = sa.ORDER_STATE in workflow.info().typed_search_attributes
            if not self.s.transitions:
                self.s.transitions.append(m.StateTransition(states.PENDING_APPROVAL, self.s.submitted_at))
            self.timeline.on_change = self._entered
            workflow.set_current_details(self._details())
        watching = asyncio.ensure_future(self.watch.run(self._breached)) if self.saga.v6 else None
        if self._submitted_entry is not None:
            if self.timeline.lean:
                self.s.unwritten.append(self._submitted_entry)  # rewritten with the first write: a no-op
            else:
                await self.timeline.write(self._submitted_entry)

        try:
            outcome = await (self.gate.wait() if quorum else self.legacy_gate.wait())
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
            await self._finish(states.CANCELLED, f"Cancelled: {cancel.reason}" if cancel else "Cancelled", notify="cancelled",
                               actor=cancel.actor if cancel else "")
        except OrderFailed as failure:
            self.s.failure_reason = str(failure)
            await self.saga.compensate()
            await self._finish(states.FAILED, f"Failed: {failure}", notify="failed", failure_reason=str(failure))

        # Signal handlers (and the service-level watch) may still be writing to the mirror.
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self.timeline.writing)
        if watching is not None:
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
        await self.saga.fulfil()
        if self._v6():
            await self.saga.fraud_checkpoint()
        await self.saga.ship()
        if not (self._v6() and self._input.track_delivery):
            await self._finish(states.FULFILLED, "Fulfilled", notify="fulfilled", progress=100)
            return Outcome.APPROVED
        s = self.s
        await self._finish(states.IN_TRANSIT, f"Shipped: in transit, tracking number {s.tracking_number}", notify="fulfilled", progress=100)
        parcel = await self.saga.follow_parcel()
        if parcel is None:
            await self.timeline.record_now("note", f"Delivery tracking stopped: {s.failure_reason}")
            await self._finish(states.FULFILLED, "Fulfilled (delivery not tracked to the end)", notify="fulfilled", progress=100)
        elif parcel.status == m.PARCEL_DELIVERED:
            await self._finish(states.DELIVERED, "Delivered", notify="delivered", progress=100)
        else:
            await self._finish(states.RETURNED, "Returned to sender: operations decide on a new delivery or a refund", notify="returned",
                               progress=100)
        return Outcome.APPROVED

    async def _reapprove(self) -> Outcome:
        """Send the order back through its approval rule."""
        s = self.s
        reason, s.reapproval_reason = s.reapproval_reason, ""
        s.approval_round += 1
        s.approvals, s.rejection = [], None
        s.reminded = s.escalated = False
        await self.timeline.record("status", f"Back to approval: {reason}; stock and payment stay held meanwhile",
                                   status=states.PENDING_APPROVAL)
        outcome = await self.gate.wait(round_started=workflow.now())
        if outcome is Outcome.APPROVED:
            await self.timeline.record("status", "Processing resumes after the re-approval", status=states.PROCESSING)
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
        From v5 one activity writes both, with whatever else waits.
        """
        if self._intents():
            self.refusals.summarise()  # before the terminal entry, which comes last
        record = self.timeline.begin_step("notification", decisions=True)
        if record is not None:
            record.after.append(self.timeline.prepare(
                "status", message, actor=actor, status=status, failure_reason=failure_reason, progress=progress))
        sent: m.NotifyResult = await workflow.execute_activity(
            m.ACT_NOTIFY, m.NotifyInput(self._input.order_id, notify, f"notify-{notify}", reason=failure_reason or "", record=record),
            result_type=m.NotifyResult, start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY,
        )
        if record is not None:
            return self.timeline.end_step(record, sent.recorded)
        await self.timeline.record("notification", m.emailed_text(notify))
        await self.timeline.record("status", message, actor=actor, status=status, failure_reason=failure_reason, progress=progress)

    # --- What operators see in the Temporal UI (v6) ------------------------------------------

    def _entered(self, entry: m.MirrorInput) -> None:
        """An entry changed the order's state: note when (service levels) and
        keep the search attributes and the run's details current."""
        at = entry.at or workflow.now().isoformat()
        if entry.status is not None:
            self.s.transitions.append(m.StateTransition(entry.status, at))
        if self._searchable:
            updates = []
            if entry.status is not None:
                updates += [sa.ORDER_STATE.value_set(entry.status), sa.STATE_ENTERED_AT.value_set(datetime.fromisoformat(at))]
            if entry.escalated:
                updates.append(sa.ESCALATED.value_set(True))
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(self._details())

    def _breached(self, stage: str) -> None:
        if self._searchable:
            workflow.upsert_search_attributes([sa.SLA_BREACHED.value_set(True)])

    def _details(self) -> str:
        """The run's details line, e.g. "OD-000123 · Pending approval · Waiting for approvals (1 of 2)"."""
        s = self.s
        step = s.step if s.step and s.step != states.LABELS.get(s.state) else ""
        return f"{self._input.order_number} · {states.LABELS.get(s.state, s.state)}" + (f" · {step}" if step else "")

    # --- The query ------------------------------------------------------------------------

    @workflow.query(name=m.QUERY_SNAPSHOT)
    def snapshot(self) -> m.OrderSnapshot:
        inp, s = self._input, self.s
        return m.OrderSnapshot(
            order_id=inp.order_id, number=inp.order_number, state=s.state, step=s.step, progress=s.progress,
            requires_approval=inp.requires_approval, approval_deadline=s.deadline, priority=s.priority,
            shipping_address=s.shipping_address, note=s.note, tracking_number=s.tracking_number,
            failure_reason=s.failure_reason, cancel_requested=s.cancel is not None, decisions=list(s.decisions),
            timeline=list(s.timeline), allowed_actions=self._allowed_actions(),
            # A v1 run has one decision, shown in `decisions`.
            approval=self.gate.progress() if self._quorum_flag else None,
            questions=bool(self._v6_flag), open_question=s.question.question if s.question else "",
            question_by=s.question.actor if s.question else "", hold_reason=s.hold_reason, parcel_status=s.parcel_status,
            service_levels=self.watch.report() if self._v6_flag else None,
        )

    def _allowed_actions(self) -> list[str]:
        s = self.s
        awaiting = self.legacy_gate.decision is None and not self.gate.decided()
        return states.allowed_actions(s.state, awaiting_decision=awaiting, cancel_requested=s.cancel is not None,
                                      fulfilment_done=s.fulfilment_done, question_open=s.question is not None,
                                      questions=bool(self._v6_flag))

    def _v6(self) -> bool:
        """Whether this run has the v6 behaviours; decided once, at first use."""
        if self._v6_flag is None:
            self._v6_flag = self._quorum() and workflow.patched(LEAN_RECORDS_PATCH) and workflow.patched(V6_PATCH)
            # A message handled before run() starts may already need to write.
            self.timeline.lean = self.timeline.lean or self._v6_flag
        return self._v6_flag

    def _intents(self) -> bool:
        """Whether this run counts only what the desk recorded; decided once, at first use."""
        if self._intents_flag is None:
            # This marker is asked first: a run recorded without it (whose
            # handlers may have met other markers before run() started) then
            # replays its own markers in their order.
            self._intents_flag = workflow.patched(INTENTS_PATCH) and self._v6()
        return self._intents_flag

    def _quorum(self) -> bool:
        """Whether this run uses the v2 (quorum) gate; decided once, at first use."""
        if self._quorum_flag is None:
            self._quorum_flag = workflow.patched(QUORUM_PATCH)
        return self._quorum_flag

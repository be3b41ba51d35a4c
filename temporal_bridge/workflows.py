"""OrderWorkflow: the lifecycle of one order, from submission to a terminal state.

Deterministic and free of Django: activities are called by name, time comes
from workflow.now(), waiting from workflow.wait_condition / workflow.wait.
Every transition is appended to the timeline and mirrored to the database by
an idempotent activity keyed by the entry's position, so the DB mirror and the
query tell the same story.
"""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from temporal_bridge import approval_rules as rules
    from temporal_bridge import messages as m
    from temporal_bridge import states
    from temporal_bridge.workflow_messages import PeoplesMessages
    from temporal_bridge.workflow_policies import DB_STEP, FULFIL_HEARTBEAT, MIRROR_RETRY, NOTICE_RETRY, SHORT_STEP, STEP_RETRY

# Issue 3: quorum approvals, reminders and escalation. Histories recorded
# before it (v1) have no marker for this patch and replay the old single
# decision gate; every new run records the marker and takes the quorum gate.
QUORUM_PATCH = "approval-quorum-v2"

class OrderFailed(Exception):
    """A business failure that ends the order in `failed` after compensation."""


class OrderCancelled(Exception):
    """The cancel request was honoured; compensation follows."""


@workflow.defn(name=m.WORKFLOW_NAME)
class OrderWorkflow(PeoplesMessages):
    @workflow.init
    def __init__(self, inp: m.OrderWorkflowInput) -> None:
        # Set here, not in run(), so signals and queries delivered with the
        # first workflow task already see the order.
        self._input = inp
        self._state = states.PENDING_APPROVAL
        self._step = "Waiting for submission"
        self._progress = 0
        self._deadline: str | None = None
        self._decision: tuple[str, m.DecisionSignal] | None = None
        self._cancel: m.CancelSignal | None = None
        self._decisions: list[m.DecisionRecord] = []
        self._timeline: list[m.TimelineEntry] = []
        # request_id -> signal name; a repeated POST is recognised and ignored.
        self._seen_requests: dict[str, str] = {}
        # request_id -> the workflow's verdict on it, for the page that sent it.
        self._verdicts: dict[str, m.RequestVerdict] = {}
        # Set when the address changes after the approval: approve again before shipping.
        self._reapproval_reason = ""
        # Approval rounds: 1, then one more per re-approval (their reminders are new emails).
        self._approval_round = 1
        # Compensations for the steps done so far, run in reverse on cancel/failure.
        self._compensations: list[str] = []
        self._fulfilment_done = False
        self._tracking_number = ""
        self._failure_reason = ""
        self._priority = inp.priority
        self._shipping_address = inp.shipping_address
        self._order_note = inp.note
        # Quorum gate (v2). The rule is the policy snapshot taken at submission;
        # inputs from before policies imply one manager and one deadline.
        self._quorum_flag: bool | None = None
        self._rule = inp.approval_rule or rules.legacy_rule(
            requires_approval=inp.requires_approval, approval_deadline_seconds=inp.approval_deadline_seconds)
        self._approvals: list[tuple[str, bool]] = []  # (approver, senior), in the order accepted
        self._rejection: m.DecisionSignal | None = None
        self._remind_at: str | None = None
        self._escalate_at: str | None = None
        self._reminded = False
        self._escalated = False
        if inp.carried is not None:
            self._restore(inp.carried)
            self._submitted_entry = None
        else:
            # Entry 0 of the timeline, before any signal handler can run: a
            # signal delivered with the first task (a cancel sent while no
            # worker ran) must not take its place, or the mirror, which wrote
            # "0000-submitted" at submission, would hold the entry twice.
            self._submitted_entry = self._append(
                "submitted", f"Order {inp.order_number} submitted ({inp.total} {inp.currency})",
                actor=inp.requested_by, status=states.PENDING_APPROVAL,
            )

    def _restore(self, carried: m.CarriedState) -> None:
        """Pick up where the previous run (before continue-as-new) stopped."""
        self._timeline = list(carried.timeline)
        self._decisions = list(carried.decisions)
        self._seen_requests = dict(carried.seen_requests)
        self._verdicts = {v.request_id: v for v in carried.verdicts}
        self._approvals = [(a.actor, a.senior) for a in carried.approvals]
        self._priority, self._shipping_address, self._order_note = carried.priority, carried.shipping_address, carried.note
        self._reminded, self._escalated = carried.reminded, carried.escalated
        self._rejection, self._cancel = carried.rejection, carried.cancel

    # --- Main flow ------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: m.OrderWorkflowInput) -> m.OrderSnapshot:
        quorum = self._quorum()
        if self._submitted_entry is not None:
            await self._mirror(self._submitted_entry)

        try:
            gate = self._quorum_gate if quorum else self._approval_gate
            if await gate(inp):
                await self._process(inp)
        except OrderCancelled:
            await self._compensate("cancelled")
            await self._finish(states.CANCELLED, f"Cancelled: {self._cancel.reason}" if self._cancel else "Cancelled",
                               notify="cancelled", actor=self._cancel.actor if self._cancel else "")
        except OrderFailed as failure:
            self._failure_reason = str(failure)
            await self._compensate("failed")
            await self._finish(states.FAILED, f"Failed: {failure}", notify="failed", failure_reason=str(failure))

        # Signal handlers may still be writing notes to the mirror.
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.snapshot()

    async def _approval_gate(self, inp: m.OrderWorkflowInput) -> bool:
        """Wait for a decision; True when the order may proceed."""
        if not inp.requires_approval:
            self._decisions.append(m.DecisionRecord("system", "approved", "Below the auto-approval threshold", self._now(), "auto"))
            await self._record("status", "Auto-approved: total is below the approval threshold", status=states.APPROVED)
            return True

        # From submission (the workflow's start), not from info().start_time, the
        # first task's time: that is later by however long no worker was polling.
        deadline = workflow.info().workflow_start_time + timedelta(seconds=inp.approval_deadline_seconds)
        self._deadline = deadline.isoformat()
        self._step = "Waiting for a manager's decision"
        await self._record("note", f"Awaiting a manager's decision, due by {deadline:%Y-%m-%d %H:%M} UTC", approval_deadline=self._deadline)
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None or self._cancel is not None,
                timeout=max(deadline - workflow.now(), timedelta(milliseconds=1)),
            )
        except TimeoutError:
            await self._finish(states.EXPIRED, "Expired: no decision before the approval deadline", notify="expired")
            return False

        if self._cancel is not None:
            raise OrderCancelled()
        assert self._decision is not None
        verdict, signal = self._decision
        if verdict == "rejected":
            await self._finish(states.REJECTED, f"Rejected by {signal.actor}: {signal.comment}", notify="rejected", actor=signal.actor)
            return False
        await self._record("status", f"Approved by {signal.actor}" + (f": {signal.comment}" if signal.comment else ""), actor=signal.actor, status=states.APPROVED)
        return True

    async def _quorum_gate(self, inp: m.OrderWorkflowInput, *, round_started: datetime | None = None) -> bool:
        """The v2 gate: N approvals from distinct eligible people, reminder at T1,
        escalation at T2, expiry at T3 (all from submission, or from the start
        of a re-approval round). True to proceed."""
        rule = self._rule
        reapproval = round_started is not None
        if rule.auto_approve:
            why = f"policy “{rule.policy_name}”" if rule.policy_name else "total is below the approval threshold"
            self._decisions.append(m.DecisionRecord("system", "approved", f"Auto-approved: {why}", self._now(), "auto"))
            await self._record("status", f"Auto-approved: {why}", status=states.APPROVED)
            return True

        # From submission (the first run's start), not from the first task.
        submitted = round_started or self._submitted_at()
        expire_at = submitted + timedelta(seconds=rule.expire_after_seconds)
        milestones: list[tuple[Any, str]] = []
        done = {"reminder": self._reminded, "escalation": self._escalated}
        for seconds, kind in ((rule.remind_after_seconds, "reminder"), (rule.escalate_after_seconds, "escalation")):
            if seconds and submitted + timedelta(seconds=seconds) < expire_at and not done[kind]:
                milestones.append((submitted + timedelta(seconds=seconds), kind))
        milestones.sort(key=lambda item: item[0])
        self._deadline = expire_at.isoformat()
        self._remind_at = next((at.isoformat() for at, kind in milestones if kind == "reminder"), None)
        self._escalate_at = next((at.isoformat() for at, kind in milestones if kind == "escalation"), None)
        self._step = self._waiting_step()
        policy = f" (policy “{rule.policy_name}”)" if rule.policy_name else ""
        if inp.carried is None or reapproval:
            await self._record("note", f"Awaiting {rules.awaiting_text(rule)}{policy}, due by {expire_at:%Y-%m-%d %H:%M} UTC", approval_deadline=self._deadline)

        while True:
            due = milestones[0][0] if milestones else expire_at
            try:
                # A re-approval round never continues as new: the next run
                # would start again at the first gate, before stock and payment.
                await workflow.wait_condition(
                    lambda: self._gate_decided() or self._cancel is not None or (not reapproval and self._history_too_long()),
                    timeout=max(due - workflow.now(), timedelta(milliseconds=1)),
                )
                if not (self._gate_decided() or self._cancel is not None):
                    await self._continue_as_new()
                break
            except TimeoutError:
                if not milestones:
                    await self._compensate("expired")  # only a re-approval round has anything to undo
                    await self._finish(states.EXPIRED, "Expired: no decision before the approval deadline", notify="expired")
                    return False
                _, kind = milestones.pop(0)
                await self._nudge_approvers(kind)

        if self._cancel is not None:
            raise OrderCancelled()
        if self._rejection is not None:
            signal = self._rejection
            await self._compensate("rejected")  # only a re-approval round has anything to undo
            await self._finish(states.REJECTED, f"Rejected by {signal.actor}: {signal.comment}", notify="rejected", actor=signal.actor)
            return False
        approvers = [actor for actor, _ in self._approvals]
        if len(approvers) == 1:
            comment = next((d.comment for d in self._decisions if d.actor == approvers[0] and d.decision == "approved"), "")
            message = f"Approved by {approvers[0]}" + (f": {comment}" if comment else "")
        else:
            message = f"Approved: {len(approvers)} of {rule.approvals_required} approvals ({', '.join(approvers)})"
        await self._record("status", message, actor=approvers[-1], status=states.APPROVED)
        return True

    def _submitted_at(self) -> datetime:
        carried = self._input.carried
        return datetime.fromisoformat(carried.submitted_at) if carried else workflow.info().workflow_start_time

    def _history_too_long(self) -> bool:
        """An order waiting on approval can collect many updates; its history
        must not grow without bound. The server suggests when to continue."""
        info, limit = workflow.info(), self._input.continue_as_new_after_events
        return info.is_continue_as_new_suggested() or bool(limit and info.get_current_history_length() >= limit)

    async def _continue_as_new(self) -> None:
        """Hand the whole state to a fresh run of this workflow (same id)."""
        runs = (self._input.carried.runs if self._input.carried else 0) + 1
        length = workflow.info().get_current_history_length()
        await self._record("note", f"History compacted after {length} events: the order continues in run {runs + 1} of its workflow")
        # Last, with nothing awaited after it: a signal handled meanwhile
        # (its timeline entry, decision record and mirror write) must finish
        # in this run, or its writes would be lost while its state is carried.
        await workflow.wait_condition(workflow.all_handlers_finished)
        carried = m.CarriedState(
            submitted_at=self._submitted_at().isoformat(), timeline=self._timeline, decisions=self._decisions,
            seen_requests=self._seen_requests, approvals=[m.CarriedApproval(actor, senior) for actor, senior in self._approvals],
            priority=self._priority, shipping_address=self._shipping_address, note=self._order_note,
            reminded=self._reminded, escalated=self._escalated, runs=runs, rejection=self._rejection, cancel=self._cancel,
            verdicts=list(self._verdicts.values()),
        )
        workflow.continue_as_new(replace(self._input, carried=carried))

    async def _nudge_approvers(self, kind: str) -> None:
        """T1: remind the eligible approvers; T2: escalate to the senior ones."""
        inp = self._input
        if kind == "escalation":
            self._escalated = True
        notice = m.ApproverNoticeInput(
            order_id=inp.order_id, kind=kind, idempotency_key=self._notice_key(kind), requested_by=inp.requested_by,
            already_decided=[actor for actor, _ in self._approvals],
            senior_only=kind == "escalation" or rules.senior_slot_only(self._rule, self._senior_flags()),
            still_needed=rules.still_needed(self._rule, self._senior_flags()), due=self._deadline,
        )
        try:
            sent: m.ApproverNoticeResult = await workflow.execute_activity(
                m.ACT_NOTIFY_APPROVERS, notice, result_type=m.ApproverNoticeResult,
                start_to_close_timeout=SHORT_STEP, retry_policy=NOTICE_RETRY,
            )
            recipients = ", ".join(sent.recipients) if sent.recipients else "nobody (no eligible approver has an email address)"
            outcome = f"emailed {recipients}"
        except ActivityError as err:
            outcome = f"the email could not be sent ({_cause(err)})"
        if kind == "reminder":
            self._reminded = True
            await self._record("reminder", f"Reminder: {notice.still_needed or 'a decision is due'}; {outcome}")
        else:
            await self._record("escalation", f"Escalated to the senior approvers: {notice.still_needed or 'a decision is due'}; {outcome}", escalated=True)

    def _notice_key(self, kind: str) -> str:
        """Once per order and kind, and again in each re-approval round."""
        key = f"{kind}-{self._input.order_id}"
        return key if self._approval_round == 1 else f"{key}-round-{self._approval_round}"

    def _senior_flags(self) -> list[bool]:
        return [senior for _, senior in self._approvals]

    def _gate_decided(self) -> bool:
        return self._rejection is not None or (bool(self._approvals) and rules.quorum_met(self._rule, self._senior_flags()))

    def _waiting_step(self) -> str:
        rule = self._rule
        if rule.approvals_required == 1 and not rule.requires_senior:
            return "Waiting for a manager's decision"
        return f"Waiting for approvals ({len(self._approvals)} of {rule.approvals_required}): {rules.still_needed(rule, self._senior_flags())}"

    async def _process(self, inp: m.OrderWorkflowInput) -> None:
        ref = m.OrderRef(inp.order_id)
        await self._record("status", "Processing: reserving stock and taking payment", status=states.PROCESSING)
        self._check_cancel()

        self._step = "Reserving stock"
        reserved = await self._business_step(m.ACT_RESERVE_STOCK, ref, m.ReserveResult)
        self._compensations.append(m.ACT_RELEASE_STOCK)
        await self._record("stock", f"Reserved {reserved.units_reserved} units on {reserved.lines_reserved} lines")
        self._check_cancel()

        self._step = "Charging payment"
        paid = await self._business_step(m.ACT_CHARGE_PAYMENT, m.PaymentInput(inp.order_id, f"capture-{inp.order_id}"), m.PaymentResult)
        self._compensations.append(m.ACT_REFUND_PAYMENT)
        await self._record("payment", f"Charged {paid.amount} {paid.currency} (ref {paid.provider_reference})")
        self._check_cancel()

        # The shipping address changed after the approval: the approvers must
        # see the new one before anything ships (stock and payment stay held).
        while self._reapproval_reason:
            if not await self._reapprove(inp):
                return
        await self._fulfil(inp)

        self._step = "Shipping"
        shipped: m.ShipResult = await workflow.execute_activity(
            m.ACT_SHIP, ref, result_type=m.ShipResult, start_to_close_timeout=DB_STEP, retry_policy=MIRROR_RETRY
        )
        self._tracking_number = shipped.tracking_number
        self._compensations.clear()
        await self._record("shipment", f"Shipped with {shipped.carrier}, tracking number {shipped.tracking_number}", tracking_number=shipped.tracking_number)
        await self._finish(states.FULFILLED, "Fulfilled", notify="fulfilled", progress=100)

    async def _reapprove(self, inp: m.OrderWorkflowInput) -> bool:
        """Send the order back through its approval rule; True when approved again."""
        reason, self._reapproval_reason = self._reapproval_reason, ""
        self._approval_round += 1
        self._approvals, self._rejection = [], None
        self._reminded = self._escalated = False
        await self._record("status", f"Back to approval: {reason}; stock and payment stay held meanwhile",
                           status=states.PENDING_APPROVAL)
        if not await self._quorum_gate(inp, round_started=workflow.now()):
            return False
        await self._record("status", "Processing resumes after the re-approval", status=states.PROCESSING)
        self._check_cancel()
        return True

    async def _fulfil(self, inp: m.OrderWorkflowInput) -> None:
        """Run the fulfilment activity, racing it against a cancel request."""
        await self._record("status", "Fulfilment started", status=states.FULFILLING, progress=0)
        self._step = "Fulfilling"
        fulfilment = workflow.start_activity(
            m.ACT_FULFIL,
            m.FulfilInput(inp.order_id, inp.fulfilment_steps, inp.fulfilment_step_seconds),
            result_type=m.FulfilResult,
            start_to_close_timeout=timedelta(seconds=max(60.0, inp.fulfilment_steps * inp.fulfilment_step_seconds * 3)),
            heartbeat_timeout=FULFIL_HEARTBEAT,
            retry_policy=STEP_RETRY,
            # Compensation must not start while the activity may still write.
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        cancel_requested = asyncio.ensure_future(workflow.wait_condition(lambda: self._cancel is not None))
        await workflow.wait([fulfilment, cancel_requested], return_when=asyncio.FIRST_COMPLETED)
        # A cancel accepted before the fulfilment's end was processed is
        # honoured even if the activity finished in the same instant: nothing
        # has shipped yet, and the timeline must not say "Cancel requested"
        # for an order that then ships.
        if self._cancel is not None:
            if not fulfilment.done():
                fulfilment.cancel()
            try:
                await fulfilment
            except (ActivityError, CancelledError, asyncio.CancelledError):
                pass
            await self._record("fulfilment", f"Fulfilment stopped at {self._progress}%")
            raise OrderCancelled()
        cancel_requested.cancel()
        try:
            fulfilment.result()
        except ActivityError as err:
            raise OrderFailed(f"fulfilment failed: {_cause(err)}") from err
        self._fulfilment_done = True
        self._progress = 100
        await self._record("fulfilment", "Fulfilment complete", progress=100)

    async def _business_step(self, name: str, arg: Any, result_type: type) -> Any:
        try:
            return await workflow.execute_activity(name, arg, result_type=result_type, start_to_close_timeout=SHORT_STEP, retry_policy=STEP_RETRY)
        except ActivityError as err:
            raise OrderFailed(_cause(err)) from err

    async def _compensate(self, why: str) -> None:
        """Undo the steps done so far, newest first, each on the timeline."""
        inp = self._input
        while self._compensations:
            name = self._compensations.pop()
            if name == m.ACT_REFUND_PAYMENT:
                self._step = "Refunding payment"
                refund: m.PaymentResult = await workflow.execute_activity(
                    name, m.PaymentInput(inp.order_id, f"refund-{inp.order_id}"), result_type=m.PaymentResult,
                    start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY,
                )
                await self._record("compensation", f"Refunded {refund.amount} {refund.currency} (ref {refund.provider_reference})")
            elif name == m.ACT_RELEASE_STOCK:
                self._step = "Releasing stock"
                released: m.ReleaseResult = await workflow.execute_activity(
                    name, m.OrderRef(inp.order_id), result_type=m.ReleaseResult, start_to_close_timeout=DB_STEP, retry_policy=MIRROR_RETRY
                )
                await self._record("compensation", f"Released {released.units_released} reserved units")

    # --- Query (the signals people send are in workflow_messages) --------------------------

    @workflow.query(name=m.QUERY_SNAPSHOT)
    def snapshot(self) -> m.OrderSnapshot:
        inp = self._input
        return m.OrderSnapshot(
            order_id=inp.order_id,
            number=inp.order_number,
            state=self._state,
            step=self._step,
            progress=self._progress,
            requires_approval=inp.requires_approval,
            approval_deadline=self._deadline,
            priority=self._priority,
            shipping_address=self._shipping_address,
            note=self._order_note,
            tracking_number=self._tracking_number,
            failure_reason=self._failure_reason,
            cancel_requested=self._cancel is not None,
            decisions=list(self._decisions),
            timeline=list(self._timeline),
            allowed_actions=self._allowed_actions(),
            approval=self._approval_progress(),
        )

    def _approval_progress(self) -> m.ApprovalProgress | None:
        if not self._quorum_flag:
            return None  # a v1 run: one decision, shown in `decisions`
        rule, flags = self._rule, self._senior_flags()
        pending = self._state == states.PENDING_APPROVAL and not self._gate_decided()
        return m.ApprovalProgress(
            rule=rules.describe_rule(rule), required=0 if rule.auto_approve else rule.approvals_required,
            approved=len(self._approvals), approved_by=[actor for actor, _ in self._approvals],
            requires_senior=rule.requires_senior, senior_approved=any(flags),
            still_needed=rules.still_needed(rule, flags) if pending and not rule.auto_approve else "",
            remind_at=self._remind_at, escalate_at=self._escalate_at, expire_at=self._deadline,
            reminded=self._reminded, escalated=self._escalated, auto_approve=rule.auto_approve,
        )

    # --- Helpers ------------------------------------------------------------------

    def _quorum(self) -> bool:
        """Whether this run uses the v2 (quorum) gate; decided once, at first use."""
        if self._quorum_flag is None:
            self._quorum_flag = workflow.patched(QUORUM_PATCH)
        return self._quorum_flag

    def _check_cancel(self) -> None:
        if self._cancel is not None:
            raise OrderCancelled()

    def _allowed_actions(self) -> list[str]:
        if self._state in states.TERMINAL or self._cancel is not None or self._fulfilment_done:
            return []
        actions = [m.ACTION_CANCEL, m.ACTION_UPDATE]
        if self._state == states.PENDING_APPROVAL and self._decision is None and not self._gate_decided():
            actions = [m.ACTION_APPROVE, m.ACTION_REJECT] + actions
        return actions

    async def _record(self, kind: str, message: str, *, actor: str = "", status: str | None = None, progress: int | None = None,
                      tracking_number: str | None = None, failure_reason: str | None = None,
                      approval_deadline: str | None = None, escalated: bool | None = None) -> None:
        """Append a timeline entry (and maybe a state change) and mirror it."""
        entry = self._append(kind, message, actor=actor, status=status, progress=progress, tracking_number=tracking_number,
                             failure_reason=failure_reason, approval_deadline=approval_deadline, escalated=escalated)
        await self._mirror(entry)

    def _append(self, kind: str, message: str, *, actor: str = "", status: str | None = None, progress: int | None = None,
                tracking_number: str | None = None, failure_reason: str | None = None,
                approval_deadline: str | None = None, escalated: bool | None = None) -> m.MirrorInput:
        """Append to the timeline now; the returned entry is for the mirror.

        Signal handlers append before they change state, so the entry lands
        on the timeline before anything the main flow does in response.
        """
        if status is not None:
            self._state = status
            self._step = states.LABELS[status]
        if progress is not None:
            self._progress = progress
        key = m.timeline_key(len(self._timeline), kind)
        self._timeline.append(m.TimelineEntry(self._now(), kind, message, actor))
        return m.MirrorInput(
            self._input.order_id, key, kind, message, actor=actor, status=status, progress=progress,
            tracking_number=tracking_number, failure_reason=failure_reason, approval_deadline=approval_deadline,
            escalated=escalated,
        )

    async def _note(self, message: str, actor: str, kind: str = "note") -> None:
        await self._record(kind, message, actor=actor)

    async def _finish(self, status: str, message: str, *, notify: str, actor: str = "", failure_reason: str | None = None,
                      progress: int | None = None) -> None:
        """Notify the customer, then enter the terminal state.

        The terminal entry comes last on purpose: the live page stops polling
        when it sees a terminal state, so nothing may be appended after it.
        """
        await workflow.execute_activity(
            m.ACT_NOTIFY, m.NotifyInput(self._input.order_id, notify, f"notify-{notify}", reason=failure_reason or ""),
            result_type=m.NotifyResult, start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY,
        )
        await self._record("notification", f"Customer emailed ({notify})")
        await self._record("status", message, actor=actor, status=status, failure_reason=failure_reason, progress=progress)

    async def _mirror(self, entry: m.MirrorInput) -> None:
        await workflow.execute_activity(m.ACT_MIRROR, entry, start_to_close_timeout=DB_STEP, retry_policy=MIRROR_RETRY)

    def _now(self) -> str:
        return workflow.now().isoformat()


def _cause(err: ActivityError) -> str:
    """The business message behind an activity failure, for the timeline."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause or err)

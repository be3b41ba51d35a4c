"""The approval gate: N approvals from distinct eligible people, a
reminder at T1, escalation to the senior approvers at T2, expiry at T3, all
counted from submission (or from the start of a re-approval round).

It waits; the decisions themselves arrive by signal (people.py) and land in
the order's state. An order that waits long continues as new, carrying its
state whole.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from enum import Enum

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.approvals import messages as approval
    from temporal_bridge.approvals import rules
    from temporal_bridge.approvals.messages import ApprovalProgress, ApproverNoticeInput, ApproverNoticeResult
    from temporal_bridge.contract.policies import NOTICE_RETRY, SHORT_STEP
    from temporal_bridge.order import messages as m
    from temporal_bridge.order import states
    from temporal_bridge.order.workflow.outcomes import OrderCancelled, cause
    from temporal_bridge.order.workflow.timeline import Timeline


# A new order whose desk wrote the gate's first note at submission (OrderWorkflowInput.awaiting_noted):
# the workflow adds it as written instead of writing it, one activity and one workflow task fewer.
DESK_NOTES_AWAITING = "desk-notes-awaiting"


class Outcome(Enum):
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class ApprovalGate:
    def __init__(self, inp: m.OrderWorkflowInput, state: m.OrderState, timeline: Timeline) -> None:
        self._inp = inp
        self._s = state
        self._timeline = timeline
        self.rule = inp.approval_rule or rules.single_manager_rule(
            requires_approval=inp.requires_approval, approval_deadline_seconds=inp.approval_deadline_seconds)
        # Set by an answer that edited the order: the gate says the clock restarts.
        self.clock_restarted = False
        # The first note is on the mirror already (take_desk_note).
        self._desk_noted = False

    # --- What the rules and the query ask -----------------------------------------------

    def senior_flags(self) -> list[bool]:
        return [a.senior for a in self._s.approvals]

    def decided(self) -> bool:
        s = self._s
        return s.rejection is not None or (bool(s.approvals) and rules.quorum_met(self.rule, self.senior_flags()))

    def waiting_step(self) -> str:
        rule = self.rule
        if rule.approvals_required == 1 and not rule.requires_senior:
            return "Waiting for a manager's decision"
        needed = rules.still_needed(rule, self.senior_flags())
        return f"Waiting for approvals ({len(self._s.approvals)} of {rule.approvals_required}): {needed}"

    def progress(self) -> ApprovalProgress:
        s = self._s
        return rules.approval_progress(
            self.rule, [(a.actor, a.senior) for a in s.approvals], pending=s.state == states.PENDING_APPROVAL and not self.decided(),
            remind_at=s.remind_at, escalate_at=s.escalate_at, expire_at=s.deadline, reminded=s.reminded, escalated=s.escalated,
        )

    # --- Waiting ---------------------------------------------------------------------------

    def take_desk_note(self) -> None:
        """The desk wrote the first note with the order (order_submit), as entry 1, its time the submission's,
        counted from it (the state's submitted_at is the input's): add it as written. Called on a new order's
        first run before any handler can append, so its position is the one the desk gave it."""
        expire_at, _ = self._schedule(None)
        self._timeline.add("note", rules.awaiting_note(self.rule, expire_at), approval_deadline=self._s.deadline,
                           at=self._s.submitted_at)
        self._desk_noted = True

    async def wait(self, *, round_started: datetime | None = None) -> Outcome:
        """Wait for the quorum, a rejection, a cancel (raised) or the expiry."""
        rule, s = self.rule, self._s
        reapproval = round_started is not None
        if rule.auto_approve:
            why = f"policy “{rule.policy_name}”" if rule.policy_name else "total is below the approval threshold"
            s.decisions.append(m.DecisionRecord("system", "approved", f"Auto-approved: {why}", workflow.now().isoformat(), "auto"))
            self._timeline.record("status", f"Auto-approved: {why}", status=states.APPROVED)
            return Outcome.APPROVED

        expire_at, milestones = self._schedule(round_started)
        s.step = self.waiting_step()
        if (self._inp.carried is None and not self._desk_noted) or reapproval:
            await self._timeline.record_now("note", rules.awaiting_note(rule, expire_at), approval_deadline=s.deadline)

        while True:
            if s.question is not None and not self.decided():
                # The order went back to its requester with a question.
                if not await self._wait_for_answer(reapproval):
                    return Outcome.EXPIRED
                expire_at, milestones = self._schedule(round_started)
                s.step = self.waiting_step()
                how = "restarts" if self.clock_restarted else "resumes"
                self.clock_restarted = False
                await self._timeline.record_now("note", f"Approval clock {how}: due by {expire_at:%Y-%m-%d %H:%M} UTC",
                                                approval_deadline=s.deadline)
                continue
            due = milestones[0][0] if milestones else expire_at
            try:
                # A re-approval round never continues as new: the next run
                # would start again at the first gate, before stock and payment.
                await workflow.wait_condition(
                    lambda: self.decided() or s.cancel is not None or s.question is not None
                    or (not reapproval and self._history_too_long()),
                    timeout=max(due - workflow.now(), timedelta(milliseconds=1)),
                )
                if s.question is not None and not (self.decided() or s.cancel is not None):
                    continue
                if not (self.decided() or s.cancel is not None):
                    await self._continue_as_new()
                break
            except TimeoutError:
                if not milestones:
                    return Outcome.EXPIRED
                _, kind = milestones.pop(0)
                await self._nudge_approvers(kind)

        if s.cancel is not None:
            raise OrderCancelled()
        if s.rejection is not None:
            return Outcome.REJECTED
        approvers = [a.actor for a in s.approvals]
        if len(approvers) == 1:
            comment = next((d.comment for d in s.decisions if d.actor == approvers[0] and d.decision == "approved"), "")
            message = f"Approved by {approvers[0]}" + (f": {comment}" if comment else "")
        else:
            message = f"Approved: {len(approvers)} of {rule.approvals_required} approvals ({', '.join(approvers)})"
        self._timeline.record("status", message, actor=approvers[-1], status=states.APPROVED)
        return Outcome.APPROVED

    def _schedule(self, round_started: datetime | None) -> tuple[datetime, list[tuple[datetime, str]]]:
        """The expiry and the reminders still due, on the approval clock.

        The clock runs from submission (the first run's start, not the first
        task), or from the start of a re-approval round, or from an answer
        that edited the order; the time it stood still waiting on the
        requester pushes every due time back.
        """
        rule, s = self.rule, self._s
        start = round_started or self.submitted_at()
        if s.clock_started_at is not None:
            start = max(start, datetime.fromisoformat(s.clock_started_at))
        start += timedelta(seconds=s.clock_paused_seconds)
        expire_at = start + timedelta(seconds=rule.expire_after_seconds)
        milestones: list[tuple[datetime, str]] = []
        done = {"reminder": s.reminded, "escalation": s.escalated}
        for seconds, kind in ((rule.remind_after_seconds, "reminder"), (rule.escalate_after_seconds, "escalation")):
            if seconds and start + timedelta(seconds=seconds) < expire_at and not done[kind]:
                milestones.append((start + timedelta(seconds=seconds), kind))
        milestones.sort(key=lambda item: item[0])
        s.deadline = expire_at.isoformat()
        s.remind_at = next((at.isoformat() for at, kind in milestones if kind == "reminder"), None)
        s.escalate_at = next((at.isoformat() for at, kind in milestones if kind == "escalation"), None)
        return expire_at, milestones

    async def _wait_for_answer(self, reapproval: bool) -> bool:
        """Wait for the requester's answer (the clock stands still); False if
        none came within the rule's expiry window. A cancel is raised."""
        s = self._s
        asked = s.question
        assert asked is not None and s.question_asked_at is not None
        answer_by = datetime.fromisoformat(s.question_asked_at) + timedelta(seconds=self.rule.expire_after_seconds)
        s.step = f"Waiting for {self._inp.requested_by}'s answer to {asked.actor}'s question"
        s.remind_at = s.escalate_at = None
        s.deadline = answer_by.isoformat()
        while True:
            try:
                await workflow.wait_condition(
                    lambda: s.question is None or s.cancel is not None or (not reapproval and self._history_too_long()),
                    timeout=max(answer_by - workflow.now(), timedelta(milliseconds=1)),
                )
            except TimeoutError:
                return False
            if s.cancel is not None:
                raise OrderCancelled()
            if s.question is None:
                return True
            await self._continue_as_new()

    def submitted_at(self) -> datetime:
        return datetime.fromisoformat(self._s.submitted_at)

    def _history_too_long(self) -> bool:
        """An order waiting on approval can collect many updates; its history
        must not grow without bound. The server suggests when to continue."""
        info, limit = workflow.info(), self._inp.continue_as_new_after_events
        return info.is_continue_as_new_suggested() or bool(limit and info.get_current_history_length() >= limit)

    async def _continue_as_new(self) -> None:
        """Hand the whole state to a fresh run of this workflow (same id)."""
        s = self._s
        length = workflow.info().get_current_history_length()
        await self._timeline.record_now(
            "note", f"History compacted after {length} events: the order continues in run {s.runs + 2} of its workflow")
        # Last, with nothing awaited after it: a signal handled meanwhile
        # (its timeline entry, decision record and mirror write) must finish
        # in this run, or its writes would be lost while its state is carried.
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and not self._timeline.writing)
        workflow.continue_as_new(replace(self._inp, carried=replace(s, runs=s.runs + 1)))

    # --- Reminders and escalation -----------------------------------------------------------

    async def _nudge_approvers(self, kind: str) -> None:
        """T1: remind the eligible approvers; T2: escalate to the senior ones."""
        s, inp = self._s, self._inp
        if kind == "escalation":
            s.escalated = True
        notice = ApproverNoticeInput(
            order_id=inp.order_id, kind=kind, idempotency_key=self._notice_key(kind), requested_by=inp.requested_by,
            already_decided=[a.actor for a in s.approvals],
            senior_only=kind == "escalation" or rules.senior_slot_only(self.rule, self.senior_flags()),
            still_needed=rules.still_needed(self.rule, self.senior_flags()), due=s.deadline,
        )
        try:
            sent: ApproverNoticeResult = await workflow.execute_activity(
                approval.ACT_NOTIFY_APPROVERS, notice, result_type=ApproverNoticeResult,
                start_to_close_timeout=SHORT_STEP, retry_policy=NOTICE_RETRY,
            )
            recipients = ", ".join(sent.recipients) if sent.recipients else "nobody (no eligible approver has an email address)"
            outcome = f"emailed {recipients}"
        except ActivityError as err:
            outcome = f"the email could not be sent ({cause(err)})"
        needed = notice.still_needed or "a decision is due"
        if kind == "reminder":
            s.reminded = True
            await self._timeline.record_now("reminder", f"Reminder: {needed}; {outcome}")
        else:
            await self._timeline.record_now("escalation", f"Escalated to the senior approvers: {needed}; {outcome}", escalated=True)

    def _notice_key(self, kind: str) -> str:
        """Once per order and kind, and again in each re-approval round."""
        key = f"{kind}-{self._inp.order_id}"
        return key if self._s.approval_round == 1 else f"{key}-round-{self._s.approval_round}"

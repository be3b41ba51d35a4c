"""Questions before deciding (v6): comments, "ask the requester", answers.
A mixin of OrderWorkflow, beside people.py's decisions.

An approver may send a pending order back to its requester with a question;
until the requester answers, nobody decides and the approval clock stands
still (gate.py). An answer that edits the order restarts the approval under
its rule: the approvals given so far were about something else. Every
comment, question and answer goes on the timeline and is emailed to the
people involved by one activity, in one transaction.

Like every handler, these decode defensively, confirm the sender against the
database before anything counts, and give a verdict per request id. Runs
that predate v6 treat these messages as unknown, as they always did.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge import message_checks as checks
    from temporal_bridge import messages as m
    from temporal_bridge import states
    from temporal_bridge.order_workflow.people import PeoplesMessages
    from temporal_bridge.workflow_policies import MIRROR_RETRY, SHORT_STEP


class Conversation(PeoplesMessages):
    def _v6(self) -> bool:
        raise NotImplementedError  # OrderWorkflow's

    # --- Signals ------------------------------------------------------------------------

    @workflow.signal(name=m.SIGNAL_COMMENT)
    async def comment(self, *args: Any) -> None:
        if not self._v6():
            return await self._ignore_unknown(m.SIGNAL_COMMENT)
        await self._take(args, checks.parse_comment, self._comment)

    @workflow.signal(name=m.SIGNAL_ASK_REQUESTER)
    async def ask_requester(self, *args: Any) -> None:
        if not self._v6():
            return await self._ignore_unknown(m.SIGNAL_ASK_REQUESTER)
        await self._take(args, checks.parse_question, self._ask)

    @workflow.signal(name=m.SIGNAL_ANSWER)
    async def answer(self, *args: Any) -> None:
        if not self._v6():
            return await self._ignore_unknown(m.SIGNAL_ANSWER)
        await self._take(args, checks.parse_answer, self._answer)

    # --- Comment ------------------------------------------------------------------------

    async def _comment(self, signal: m.CommentSignal) -> None:
        if await self._checked(m.SIGNAL_COMMENT, m.SIGNAL_COMMENT, "Comment", signal, self._comment_refusal):
            await self._discuss("comment", signal.actor, signal.text)

    def _comment_refusal(self, actor: str) -> str | None:
        if self.s.state in states.TERMINAL:
            return f"Comment by {actor} refused: the order is {self.s.state}"
        return None

    # --- Ask the requester ----------------------------------------------------------------

    async def _ask(self, signal: m.QuestionSignal) -> None:
        if not await self._checked(m.SIGNAL_ASK_REQUESTER, states.ASK, "Question", signal, self._ask_refusal):
            return
        s = self.s
        s.question, s.question_asked_at = signal, workflow.now().isoformat()
        await self._discuss("question", signal.actor, signal.question)

    def _ask_refusal(self, actor: str) -> str | None:
        s = self.s
        if s.state != states.PENDING_APPROVAL or self.gate.decided() or s.cancel is not None or self.gate.rule.auto_approve:
            return f"Question from {actor} refused: the order is no longer awaiting approval"
        if s.question is not None:
            return f"Question from {actor} refused: {s.question.actor}'s question still waits for an answer"
        if actor == self._input.requested_by:
            return f"Question from {actor} refused: the requester cannot send the order back to themselves"
        return None

    # --- Answer -------------------------------------------------------------------------

    async def _answer(self, signal: m.AnswerSignal) -> None:
        if not await self._checked(m.SIGNAL_ANSWER, m.SIGNAL_ANSWER, "Answer", signal, self._answer_refusal):
            return
        s, actor = self.s, signal.actor
        assert s.question is not None and s.question_asked_at is not None
        changes = self._answer_changes(signal)
        if changes:
            # What the approvers said was about the order before the edit.
            s.approvals, s.reminded, s.escalated = [], False, False
            s.clock_started_at, s.clock_paused_seconds = workflow.now().isoformat(), 0.0
            s.approval_round += 1
            self.gate.clock_restarted = True
        else:
            waited = workflow.now() - datetime.fromisoformat(s.question_asked_at)
            s.clock_paused_seconds += waited.total_seconds()
        # The gate wakes on this and reschedules; the entries below come first.
        s.question = s.question_asked_at = None
        record = self.timeline.begin_step("answer")
        update = None
        if changes:
            update = self.timeline.add("update", f"Updated by {actor} with the answer: " + ", ".join(changes)
                                       + "; the approval restarts under the order's rule", actor=actor)
        await self._send_discussion("answer", actor, signal.answer, record)
        if update is not None:
            inp = self._input
            await workflow.execute_activity(
                m.ACT_APPLY_UPDATE,
                m.UpdateInput(inp.order_id, actor, signal.request_id, signal.priority, signal.shipping_address, signal.note,
                              entries=[update]),
                start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY,
            )

    def _answer_refusal(self, actor: str) -> str | None:
        s = self.s
        if s.question is None:
            return f"Answer by {actor} refused: no question waits for an answer"
        if s.cancel is not None:
            return f"Answer by {actor} refused: the order is being cancelled"
        return None

    def _answer_changes(self, signal: m.AnswerSignal) -> list[str]:
        """Apply the answer's edits to the order's state; what changed, for the timeline."""
        s, changes = self.s, []
        if signal.priority is not None and signal.priority != s.priority:
            s.priority = signal.priority
            changes.append(f"priority → {signal.priority}")
        if signal.shipping_address is not None and signal.shipping_address != s.shipping_address:
            old, new = checks.display(s.shipping_address, 120), checks.display(signal.shipping_address, 120)
            s.shipping_address = signal.shipping_address
            changes.append(f"shipping address “{old}” → “{new}”")
        if signal.note is not None and signal.note != s.note:
            s.note = signal.note
            changes.append("note changed")
        return changes

    # --- Shared steps ---------------------------------------------------------------------

    async def _checked(self, signal: str, action: str, word: str, message: Any, refusal_of: Any) -> bool:
        """The cheap checks, the database's word on the sender, then the checks
        again (other messages may have moved the order meanwhile). False: refused."""
        actor, request_id = message.actor, message.request_id
        if self._intents():
            return await self.requests.confirmed(signal, message, word, lambda _: refusal_of(actor)) is not None
        if self.requests.is_repeat(request_id, action):
            return False
        refusal = refusal_of(actor)
        if refusal is None:
            check = await self.requests.verified(action, actor, request_id)
            refusal = f"{word} by {actor} refused: {check.reason}" if not check.allowed else refusal_of(actor)
        if refusal is not None:
            await self.requests.refuse(request_id, refusal, actor, action)
            return False
        self.requests.set_verdict(request_id, m.VERDICT_ACCEPTED, action=action)
        return True

    async def _discuss(self, kind: str, actor: str, text: str) -> None:
        await self._send_discussion(kind, actor, text, self.timeline.begin_step(kind))

    async def _send_discussion(self, kind: str, actor: str, text: str, record: m.StepRecord | None) -> None:
        """The entry and the emails to the people involved, in one activity."""
        result: m.DiscussionResult = await workflow.execute_activity(
            m.ACT_NOTIFY_DISCUSSION, m.DiscussionNotice(self._input.order_id, kind, actor, text, record=record),
            result_type=m.DiscussionResult, start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY,
        )
        self.timeline.end_step(record, result.recorded)

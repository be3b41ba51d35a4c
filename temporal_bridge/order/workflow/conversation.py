"""Questions before deciding: comments, "ask the requester", answers. A
collaborator of OrderWorkflow, beside people.py's decisions; the workflow's
handlers delegate here.

An approver may send a pending order back to its requester with a question;
until the requester answers, nobody decides and the approval clock stands
still (gate.py). An answer that edits the order restarts the approval under
its rule: the approvals given so far were about something else. Every
comment, question and answer goes on the timeline and is emailed to the
people involved by one activity, in one transaction.

Like every message, these are decoded defensively (intake.py), count only
once the desk confirms the request and its sender (requests.py), and get a
verdict per request id.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.contract.decoding import display
    from temporal_bridge.contract.policies import MIRROR_RETRY, SHORT_STEP
    from temporal_bridge.order import discussion, states
    from temporal_bridge.order import message_checks as checks
    from temporal_bridge.order import messages as m
    from temporal_bridge.order.discussion import AnswerSignal, CommentSignal, DiscussionNotice, DiscussionResult, QuestionSignal
    from temporal_bridge.order.records import StepRecord
    from temporal_bridge.order.workflow.collaborator import MessageCollaborator


class Conversation(MessageCollaborator):
    # --- Messages ---------------------------------------------------------------------------

    async def comment(self, args: Sequence[Any]) -> None:
        await self._intake.take(args, checks.parse_comment, self._comment)

    async def ask_requester(self, args: Sequence[Any]) -> None:
        await self._intake.take(args, checks.parse_question, self._ask)

    async def answer(self, args: Sequence[Any]) -> None:
        await self._intake.take(args, checks.parse_answer, self._answer)

    # --- Comment ------------------------------------------------------------------------

    async def _comment(self, signal: CommentSignal) -> None:
        if await self._checked(discussion.SIGNAL_COMMENT, "Comment", signal, self._comment_refusal):
            await self._discuss("comment", signal.actor, signal.text)

    def _comment_refusal(self, actor: str) -> str | None:
        if self._s.state in states.TERMINAL:
            return f"Comment by {actor} refused: the order is {self._s.state}"
        return None

    # --- Ask the requester ----------------------------------------------------------------

    async def _ask(self, signal: QuestionSignal) -> None:
        if not await self._checked(discussion.SIGNAL_ASK_REQUESTER, "Question", signal, self._ask_refusal):
            return
        s = self._s
        s.question, s.question_asked_at = signal, workflow.now().isoformat()
        await self._discuss("question", signal.actor, signal.question)

    def _ask_refusal(self, actor: str) -> str | None:
        s = self._s
        if s.state != states.PENDING_APPROVAL or self._gate.decided() or s.cancel is not None or self._gate.rule.auto_approve:
            return f"Question from {actor} refused: the order is no longer awaiting approval"
        if s.question is not None:
            return f"Question from {actor} refused: {s.question.actor}'s question still waits for an answer"
        if actor == self._inp.requested_by:
            return f"Question from {actor} refused: the requester cannot send the order back to themselves"
        return None

    # --- Answer -------------------------------------------------------------------------

    async def _answer(self, signal: AnswerSignal) -> None:
        if not await self._checked(discussion.SIGNAL_ANSWER, "Answer", signal, self._answer_refusal):
            return
        s, actor = self._s, signal.actor
        assert s.question is not None and s.question_asked_at is not None
        changes = self._answer_changes(signal)
        if changes:
            # What the approvers said was about the order before the edit.
            s.approvals, s.reminded, s.escalated = [], False, False
            s.clock_started_at, s.clock_paused_seconds = workflow.now().isoformat(), 0.0
            s.approval_round += 1
            self._gate.clock_restarted = True
        else:
            waited = workflow.now() - datetime.fromisoformat(s.question_asked_at)
            s.clock_paused_seconds += waited.total_seconds()
        # The gate wakes on this and reschedules; the entries below come first.
        s.question = s.question_asked_at = None
        record = self._timeline.begin_step("answer")
        update = None
        if changes:
            update = self._timeline.add("update", f"Updated by {actor} with the answer: " + ", ".join(changes)
                                        + "; the approval restarts under the order's rule", actor=actor)
        await self._send_discussion("answer", actor, signal.answer, record)
        if update is not None:
            inp = self._inp
            await workflow.execute_activity(
                m.ACT_APPLY_UPDATE,
                m.UpdateInput(inp.order_id, actor, signal.request_id, signal.priority, signal.shipping_address, signal.note,
                              entries=[update]),
                start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY,
            )

    def _answer_refusal(self, actor: str) -> str | None:
        s = self._s
        if s.question is None:
            return f"Answer by {actor} refused: no question waits for an answer"
        if s.cancel is not None:
            return f"Answer by {actor} refused: the order is being cancelled"
        return None

    def _answer_changes(self, signal: AnswerSignal) -> list[str]:
        """Apply the answer's edits to the order's state; what changed, for the timeline."""
        s, changes = self._s, []
        if signal.priority is not None and signal.priority != s.priority:
            s.priority = signal.priority
            changes.append(f"priority → {signal.priority}")
        if signal.shipping_address is not None and signal.shipping_address != s.shipping_address:
            old, new = display(s.shipping_address, 120), display(signal.shipping_address, 120)
            s.shipping_address = signal.shipping_address
            changes.append(f"shipping address “{old}” → “{new}”")
        if signal.note is not None and signal.note != s.note:
            s.note = signal.note
            changes.append("note changed")
        return changes

    # --- Shared steps ---------------------------------------------------------------------

    async def _checked(self, signal: str, word: str, message: Any, refusal_of: Callable[[str], str | None]) -> bool:
        """Whether the message counts (requests.py); False: refused, and noted."""
        actor = message.actor
        return await self._requests.confirmed(signal, message, word, lambda _: refusal_of(actor)) is not None

    async def _discuss(self, kind: str, actor: str, text: str) -> None:
        await self._send_discussion(kind, actor, text, self._timeline.begin_step(kind))

    async def _send_discussion(self, kind: str, actor: str, text: str, record: StepRecord) -> None:
        """The entry and the emails to the people involved, in one activity."""
        result: DiscussionResult = await workflow.execute_activity(
            discussion.ACT_NOTIFY_DISCUSSION, DiscussionNotice(self._inp.order_id, kind, actor, text, record=record),
            result_type=DiscussionResult, start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY,
        )
        self._timeline.end_step(record, result.recorded)

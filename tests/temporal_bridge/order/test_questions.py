"""Questions before deciding, in the time-skipping server.

An approver sends a pending order back to its requester with a question;
while it waits nobody decides and the approval clock stands still, so the
reminder, the escalation and the expiry come later by the time the requester
took. An answer that edits the order restarts the approval under its rule.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from temporal_bridge.approvals import messages as approval
from temporal_bridge.order import discussion, states
from temporal_bridge.order import messages as m
from temporal_bridge.order.discussion import AnswerSignal, CommentSignal, QuestionSignal
from tests.temporal_bridge.helpers import MANAGER, REQUESTER, Scenario, SharedTimeSkippingEnv
from tests.temporal_bridge.order.test_approval_gate import MANAGER2, SENIOR, approve, at, large_order, messages

pytestmark = pytest.mark.database_agnostic

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def ask(actor: str, request_id: str, question: str = "Why 40 units?") -> QuestionSignal:
    return QuestionSignal(actor=actor, request_id=request_id, question=question)


def answer(request_id: str, text: str = "Two sites", **edits: str) -> AnswerSignal:
    return AnswerSignal(actor=REQUESTER, request_id=request_id, answer=text, **edits)


def test_a_question_stops_the_approval_clock_and_the_reminder_comes_later_by_the_wait(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order())
        await s.wait_for_message(handle, "Awaiting 2 approvals")
        submitted = (await handle.describe()).start_time
        await s.env.sleep(10 * HOUR)
        await handle.signal(discussion.SIGNAL_ASK_REQUESTER, ask(MANAGER, "q-1"))
        # The question counts in the signal's own task; its entry follows with the emails.
        asked = await s.wait_for(handle, lambda snap: snap.open_question != "" and any(
            e.message.startswith("Question from") for e in snap.timeline), "the question open")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER2, "too-early"))
        await s.wait_for_message(handle, "Decision by manager2 refused")
        await s.env.sleep(20 * HOUR)  # the 24 h reminder would have come at hour 24
        waited = await s.snapshot(handle)
        await handle.signal(discussion.SIGNAL_ANSWER, answer("a-1"))
        resumed = await s.wait_for_message(handle, "Approval clock resumes")
        await s.env.sleep(20 * HOUR)
        reminded = await s.wait_for(handle, lambda snap: snap.approval.reminded, "the reminder")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER2, "a-2"))
        await handle.signal(m.SIGNAL_APPROVE, approve(SENIOR, "a-3"))
        return submitted, asked, waited, resumed, reminded, await handle.result()

    (submitted, asked, waited, resumed, reminded, final), mocks = temporal.play(story)

    assert asked.state == states.PENDING_APPROVAL and asked.open_question == "Why 40 units?" and asked.question_by == MANAGER
    assert asked.allowed_actions == [states.ANSWER, states.CANCEL, states.UPDATE]
    assert asked.step == f"Waiting for {REQUESTER}'s answer to {MANAGER}'s question"
    assert "Question from manager for the requester: Why 40 units?" in messages(asked)
    assert mocks.args(discussion.ACT_NOTIFY_DISCUSSION)[0].kind == "question"
    assert waited.approval.reminded is False, "no reminder while the requester holds the order"
    # Asked at hour 10, answered at hour 30: the clock stood still for 20 h,
    # and every due time moves by it (the workflow's own entries carry its time).
    paused = 20 * HOUR
    assert 30 * HOUR <= at(resumed, "Approval clock resumes") - submitted < 30 * HOUR + MINUTE
    deadline = datetime.fromisoformat(resumed.approval_deadline)
    assert 48 * HOUR + paused <= deadline - submitted < 48 * HOUR + paused + MINUTE
    assert 24 * HOUR + paused <= at(reminded, "Reminder") - submitted < 24 * HOUR + paused + MINUTE
    assert final.state == states.FULFILLED
    assert [d.actor for d in final.decisions] == [MANAGER2, SENIOR]


def test_an_answer_that_edits_the_order_restarts_the_approval_and_voids_earlier_approvals(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order())
        await s.wait_for_message(handle, "Awaiting 2 approvals")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER2, "a-1"))
        await s.wait_for_message(handle, "Approval 1 of 2")
        await s.env.sleep(30 * HOUR)
        await handle.signal(discussion.SIGNAL_ASK_REQUESTER, ask(SENIOR, "q-1", "Is this the right address?"))
        await s.wait_for(handle, lambda snap: snap.open_question != "", "the question open")
        await handle.signal(discussion.SIGNAL_ANSWER, AnswerSignal(actor=MANAGER, request_id="not-yours", answer="I answer"))
        await s.wait_for_message(handle, "Answer by manager refused")
        await handle.signal(discussion.SIGNAL_ANSWER, answer("a-2", "Moved to site B", shipping_address="2 Site B"))
        restarted = await s.wait_for_message(handle, "Approval clock restarts")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER2, "a-3"))
        await handle.signal(m.SIGNAL_APPROVE, approve(SENIOR, "a-4"))
        return restarted, await handle.result()

    (restarted, final), mocks = temporal.play(story)

    assert restarted.approval.approved_by == [], "the approval given before the edit no longer counts"
    assert restarted.shipping_address == "2 Site B"
    answered = at(restarted, "Approval clock restarts")
    assert 48 * HOUR - MINUTE <= datetime.fromisoformat(restarted.approval_deadline) - answered <= 48 * HOUR
    assert any(n.startswith("Updated by clerk with the answer: shipping address") for n in messages(restarted, "update"))
    assert mocks.args(m.ACT_APPLY_UPDATE)[-1].shipping_address == "2 Site B"
    assert final.state == states.FULFILLED
    assert sorted(d.actor for d in final.decisions) == [MANAGER2, MANAGER2, SENIOR]  # the last two raced


def test_an_unanswered_question_expires_the_order_and_says_why(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order())
        await s.wait_for_message(handle, "Awaiting 2 approvals")
        await handle.signal(discussion.SIGNAL_ASK_REQUESTER, ask(MANAGER, "q-1"))
        await s.wait_for(handle, lambda snap: snap.open_question != "", "the question open")
        return await handle.result()

    final, mocks = temporal.play(story)

    assert final.state == states.EXPIRED
    assert "Expired: the requester did not answer the approvers' question in time" in messages(final, "status")
    assert mocks.args(approval.ACT_NOTIFY_APPROVERS) == [], "no reminders while the requester holds the order"


def test_questions_and_comments_are_refused_to_the_wrong_people_and_noted(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order())
        await s.wait_for_message(handle, "Awaiting 2 approvals")
        await handle.signal(discussion.SIGNAL_ASK_REQUESTER, ask(REQUESTER, "q-self"))
        await handle.signal(discussion.SIGNAL_ASK_REQUESTER, ask("mallory", "q-stranger"))
        await handle.signal(discussion.SIGNAL_COMMENT, CommentSignal(actor="mallory", request_id="c-1", text="hi"))
        await handle.signal(discussion.SIGNAL_COMMENT, CommentSignal(actor=MANAGER, request_id="c-2", text="Checking stock"))
        await handle.signal(discussion.SIGNAL_ANSWER, answer("a-none"))
        await handle.signal(discussion.SIGNAL_COMMENT, {"actor": MANAGER, "request_id": "c-3", "text": 7})
        noted = await s.wait_for(handle, lambda snap: len([n for n in messages(snap) if "refused" in n]) >= 5
                                 and "Comment by manager: Checking stock" in messages(snap), "five refusals and a comment")
        await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(actor=MANAGER, request_id="x-1", reason="done"))
        return noted, await handle.result()

    (noted, final), _ = temporal.play(story)

    refusals = [n for n in messages(noted) if "refused" in n]
    assert "Question from clerk refused: the requester cannot send the order back to themselves" in refusals
    assert "Question by mallory refused: mallory is not a user of the desk" in refusals
    assert "Comment by mallory refused: mallory is not a user of the desk" in refusals
    assert "Answer by clerk refused: no question waits for an answer" in refusals
    assert "Comment by manager refused: field 'text' must be text, got int" in refusals
    assert "Comment by manager: Checking stock" in messages(noted)
    assert final.state == states.CANCELLED

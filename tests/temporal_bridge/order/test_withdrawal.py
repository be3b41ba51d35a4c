"""Withdrawing an approval in OrderWorkflow (time-skipping server, activities mocked):
the count falls, the record stays marked, the quorum and the senior slot are
recomputed, and a withdrawal after the quorum, without a reason or of someone
else's approval is refused with its reason, never failing a workflow task."""
from __future__ import annotations

import pytest

from temporal_bridge.order import messages as m
from temporal_bridge.order import states, withdrawal
from tests.temporal_bridge.helpers import MANAGER, SharedTimeSkippingEnv, order_input, poll
from tests.temporal_bridge.order.test_approval_gate import HOUR, MANAGER2, SENIOR, approve, large_order, messages

pytestmark = pytest.mark.database_agnostic

W = withdrawal.SIGNAL_WITHDRAW_APPROVAL


def withdraw(actor: str, request_id: str, reason: str = "Approved the wrong order", on_behalf_of: str = "") -> m.DecisionSignal:
    return m.DecisionSignal(actor=actor, request_id=request_id, comment=reason, on_behalf_of=on_behalf_of)


async def verdict(handle, request_id: str) -> m.RequestVerdict:
    return await handle.query(m.QUERY_VERDICT, request_id, result_type=m.RequestVerdict)


def test_a_withdrawn_approval_stops_counting_stays_on_record_and_the_order_waits_for_another(temporal: SharedTimeSkippingEnv):
    async def story(s):
        handle = await s.start(large_order())
        await s.wait_for_message(handle, "Awaiting 2 approvals")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-1", comment="Looks fine"))
        await s.wait_for_message(handle, "Approval 1 of 2 by manager")
        await handle.signal(W, withdraw(MANAGER, "w-1"))
        after = await s.wait_for_message(handle, "Approval by manager withdrawn")
        accepted = await verdict(handle, "w-1")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER2, "a-2"))
        await s.wait_for_message(handle, "Approval 1 of 2 by manager2")
        await handle.signal(m.SIGNAL_APPROVE, approve(SENIOR, "a-3"))
        return after, accepted, await handle.result()

    (after, accepted, final), mocks = temporal.play(story)
    assert accepted.status == m.VERDICT_ACCEPTED
    assert (after.state, after.approval.approved, after.approval.approved_by) == (states.PENDING_APPROVAL, 0, [])
    assert after.step == "Waiting for approvals (0 of 2): needs 2 more approvals, at least one from a senior approver"
    assert ("Approval by manager withdrawn: Approved the wrong order; 0 of 2 approvals, "
            "needs 2 more approvals, at least one from a senior approver") in messages(after, "decision")
    assert [(d.actor, d.decision, d.withdrawn) for d in after.decisions] == [(MANAGER, "approved", True)]
    assert final.state == states.FULFILLED
    assert final.approval.approved_by == [MANAGER2, SENIOR]
    recorded = [(d.actor, d.decision, d.request_id, d.withdraws) for d in mocks.args(m.ACT_RECORD_DECISION)]
    assert recorded[:2] == [(MANAGER, "approved", "a-1", ""), (MANAGER, withdrawal.WITHDRAWN, "w-1", "a-1")]


def test_the_senior_slot_is_recomputed_when_the_senior_withdraws(temporal: SharedTimeSkippingEnv):
    async def story(s):
        handle = await s.start(large_order())
        await s.wait_for_message(handle, "Awaiting 2 approvals")
        await handle.signal(m.SIGNAL_APPROVE, approve(SENIOR, "a-1"))
        filled = await s.wait_for_message(handle, "Approval 1 of 2 by senior")
        await handle.signal(W, withdraw(SENIOR, "w-1", "Wrong customer"))
        await s.wait_for_message(handle, "Approval by senior withdrawn")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-2"))
        await s.wait_for_message(handle, "Approval 1 of 2 by manager")
        # Before the withdrawal this would have met the quorum; now the last slot is the senior's.
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER2, "a-3"))
        return filled, await s.wait_for(handle, lambda snap: any("by manager2" in msg for msg in messages(snap)), "manager2's verdict")

    (filled, snap), _ = temporal.play(story)
    assert filled.approval.senior_approved and filled.approval.still_needed == "needs 1 more approval"
    assert "Approval by manager2 ignored: the remaining approval must come from a senior approver" in messages(snap)
    assert (snap.state, snap.approval.approved_by, snap.approval.senior_approved) == (states.PENDING_APPROVAL, [MANAGER], False)
    assert snap.approval.still_needed == "needs a senior approver (1 more approval)"


def test_withdrawal_is_refused_with_its_reason_once_the_quorum_was_met(temporal: SharedTimeSkippingEnv):
    async def story(s):
        # The charge waits until the withdrawal was answered: the order has moved on and cannot end
        # first (it did, now and then under load, and the signal then found a closed workflow).
        s.mocks.charge_blocks = True
        handle = await s.start(order_input())
        await s.wait_for_message(handle, "Awaiting a manager's decision")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-1"))
        await s.wait_for(handle, lambda snap: snap.state != states.PENDING_APPROVAL, "the order moving on")
        await handle.signal(W, withdraw(MANAGER, "w-1"))
        refused = await s.wait_for(handle, lambda snap: any("Withdrawal by manager" in msg for msg in messages(snap)), "refusal")
        answer = await verdict(handle, "w-1")
        s.mocks.charge_released = True
        return refused, answer, await handle.result()

    (refused, answer, final), _ = temporal.play(story)
    assert answer.status == m.VERDICT_REFUSED
    assert answer.reason == "the quorum was met and the order has moved on"
    assert final.state == states.FULFILLED and [d.withdrawn for d in final.decisions] == [False]


def test_withdrawals_that_cannot_count_are_refused_and_change_nothing(temporal: SharedTimeSkippingEnv):
    async def story(s):
        handle = await s.start(large_order())
        await s.wait_for_message(handle, "Awaiting 2 approvals")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-1"))
        await s.wait_for_message(handle, "Approval 1 of 2 by manager")
        await handle.signal(W, withdraw(MANAGER, "w-1", reason="   "))  # no reason
        await handle.signal(W, withdraw(MANAGER2, "w-2"))  # nothing of theirs to withdraw
        await handle.signal(W, withdraw(MANAGER2, "w-3", on_behalf_of=MANAGER))  # someone else's
        await handle.signal(W, args=["not a decision", 42])  # malformed: noted, never a failed task
        await handle.signal(W, withdraw("ghost", "w-4"))  # a name the desk does not know
        snap = await s.wait_for(handle, lambda snap: sum(msg.startswith("Withdrawal") for msg in messages(snap)) >= 4, "four refusals")
        await poll(lambda: verdict(handle, "w-4"), lambda v: v.status == m.VERDICT_REFUSED, what="the unknown sender refused")
        verdicts = [await verdict(handle, rid) for rid in ("w-1", "w-2", "w-3", "w-4")]
        await handle.signal(m.SIGNAL_APPROVE, approve(SENIOR, "a-2"))
        return snap, verdicts, await handle.result()

    (snap, verdicts, final), _ = temporal.play(story, timeout=60)
    assert [v.status for v in verdicts] == [m.VERDICT_REFUSED] * 4
    assert verdicts[0].reason == "a reason is required"
    assert verdicts[1].reason == "manager2 has no approval on this order that counts"
    assert verdicts[2].reason == "only the approver who gave an approval can withdraw it"
    assert "Withdrawal refused: expected one message, got 2" in messages(snap)
    assert snap.approval.approved_by == [MANAGER]
    assert final.state == states.FULFILLED and final.approval.approved_by == [MANAGER, SENIOR]


def test_a_withdrawing_approver_may_approve_again_and_counts_once(temporal: SharedTimeSkippingEnv):
    async def story(s):
        handle = await s.start(large_order(expire_after_seconds=48 * HOUR))
        await s.wait_for_message(handle, "Awaiting 2 approvals")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-1"))
        await s.wait_for_message(handle, "Approval 1 of 2 by manager")
        await handle.signal(W, withdraw(MANAGER, "w-1"))
        await s.wait_for_message(handle, "Approval by manager withdrawn")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-2", comment="Checked again"))
        return await s.wait_for(handle, lambda snap: snap.approval.approved == 1 and len(snap.decisions) == 2, "the new approval")

    snap, _ = temporal.play(story)
    assert [(d.request_id, d.withdrawn) for d in snap.decisions] == [("a-1", True), ("a-2", False)]
    assert snap.approval.approved_by == [MANAGER]

"""The approval gate of OrderWorkflow in the time-skipping server: policy
snapshot, quorum of distinct eligible approvers, segregation of duties, and
reminder / escalation / expiry on a realistic 24 h / 36 h / 48 h schedule.

Also the two approval workflows: the durable bulk decision and the digest.
"""
from __future__ import annotations

import time
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from temporal_bridge.approvals import messages as approval
from temporal_bridge.approvals.messages import (
    ApprovalRule,
    BulkDecisionInput,
    BulkDecisionProgress,
    BulkOrderRequest,
    BulkOrderResult,
    DigestInput,
    DigestResult,
)
from temporal_bridge.approvals.workflows import APPROVAL_WORKFLOWS, bulk_request_id
from temporal_bridge.order import fulfilment, payments, states
from temporal_bridge.order import messages as m
from tests.temporal_bridge.helpers import MANAGER, ORDER_ID, REQUESTER, ActivityMocks, Scenario, SharedTimeSkippingEnv, order_input

# No database here (activities are mocked or no order is run): CI runs it once.
pytestmark = pytest.mark.database_agnostic

HOUR = 3600
SENIOR = "senior"
MANAGER2 = "manager2"
# The credit check (one hold read) comes first, then the business steps.
PROCESS_STEPS = [fulfilment.ACT_RESERVE_STOCK, payments.ACT_CHARGE_PAYMENT, fulfilment.ACT_FULFIL,
                 fulfilment.ACT_SHIP, fulfilment.ACT_NOTIFY]


def large_order(**rule_changes: Any) -> m.OrderWorkflowInput:
    """A $50k order under the default "Large orders" policy: two approvers, one senior, 24/36/48 h."""
    rule = ApprovalRule(
        policy_id=3, policy_name="Large orders", approvals_required=2, requires_senior=True,
        remind_after_seconds=24 * HOUR, escalate_after_seconds=36 * HOUR, expire_after_seconds=48 * HOUR,
    )
    for name, value in rule_changes.items():
        setattr(rule, name, value)
    return order_input(total="50000.00", approval_rule=rule, approval_deadline_seconds=rule.expire_after_seconds)


def approve(actor: str, request_id: str, *, senior: bool = False, comment: str = "") -> m.DecisionSignal:
    return m.DecisionSignal(actor=actor, request_id=request_id, comment=comment, senior=senior)


def messages(snapshot: m.OrderSnapshot, kind: str | None = None) -> list[str]:
    return [e.message for e in snapshot.timeline if kind is None or e.kind == kind]


def at(snapshot: m.OrderSnapshot, prefix: str) -> datetime:
    return datetime.fromisoformat(next(e.at for e in snapshot.timeline if e.message.startswith(prefix)))


# --- Quorum and segregation of duties --------------------------------------------------------


def test_large_order_needs_two_distinct_approvers_including_a_senior_and_ignores_the_rest_with_a_note(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order())
        await s.wait_for_message(handle, "Awaiting 2 approvals")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-1", comment="Budget checked"))
        one_of_two = await s.wait_for_message(handle, "Approval 1 of 2 by manager")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-2"))  # the same person, a new request
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-1"))  # the same request again
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER2, "a-3"))  # not senior, and only a senior can still count
        await handle.signal(m.SIGNAL_APPROVE, approve(REQUESTER, "a-4", senior=True))  # the requester, even if senior
        await handle.signal(m.SIGNAL_REJECT, approve(MANAGER, "r-1", comment="Changed my mind"))  # counted once already
        still = await s.wait_for(handle, lambda snap: len(messages(snap, "note")) >= 6, "five ignored decisions noted")
        await handle.signal(m.SIGNAL_APPROVE, approve(SENIOR, "a-5", senior=True))
        return one_of_two, still, await handle.result()

    (one_of_two, still, final), mocks = temporal.play(story)

    progress = one_of_two.approval
    assert (progress.approved, progress.required, progress.approved_by) == (1, 2, [MANAGER])
    assert progress.still_needed == "needs a senior approver (1 more approval)"
    assert progress.rule == (
        "“Large orders”: 2 approvals from different people, at least one senior; "
        "reminder after 24 h, escalation after 36 h, expires after 48 h"
    )
    assert one_of_two.state == states.PENDING_APPROVAL
    assert m.ACTION_APPROVE in one_of_two.allowed_actions
    assert one_of_two.step == "Waiting for approvals (1 of 2): needs a senior approver (1 more approval)"

    assert (still.state, still.approval.approved) == (states.PENDING_APPROVAL, 1)
    # In any order: manager2's refusal comes after the database confirmed who manager2 is.
    assert sorted(msg for msg in messages(still) if "ignored" in msg) == [
        "Approval by manager ignored: manager has already approved; one person counts once",
        "Approval by manager ignored: request a-1 was already received",
        "Approval by manager2 ignored: the remaining approval must come from a senior approver",
        "Decision by clerk ignored: the requester cannot decide on their own order",
        "Rejection by manager ignored: manager has already approved; one person counts once",
    ]

    assert final.state == states.FULFILLED
    assert [(d.actor, d.senior) for d in final.decisions] == [(MANAGER, False), (SENIOR, True)]
    recorded = [(d.actor, d.senior, d.request_id) for d in mocks.args(m.ACT_RECORD_DECISION)]
    assert recorded == [(MANAGER, False, "a-1"), (SENIOR, True, "a-5")]
    assert "Approval 1 of 2 by manager: Budget checked; needs a senior approver (1 more approval)" in messages(final, "decision")
    assert "Approval 2 of 2 by senior (senior)" in messages(final, "decision")
    assert "Approved: 2 of 2 approvals (manager, senior)" in messages(final, "status")
    assert final.approval.still_needed == "" and final.approval.approved_by == [MANAGER, SENIOR]
    assert mocks.names() == PROCESS_STEPS, "decided before T1: no reminder, no escalation"


def test_one_rejection_ends_the_order_with_its_reason_even_after_an_approval(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order())
        await handle.signal(m.SIGNAL_APPROVE, approve(SENIOR, "a-1", senior=True))
        await s.wait_for_message(handle, "Approval 1 of 2 by senior")
        await handle.signal(m.SIGNAL_REJECT, approve(MANAGER2, "r-1", comment="Customer is over their budget"))
        return await handle.result()

    final, mocks = temporal.play(story)

    assert final.state == states.REJECTED
    assert "Rejected by manager2: Customer is over their budget" in messages(final)
    assert [(d.actor, d.decision) for d in final.decisions] == [(SENIOR, "approved"), (MANAGER2, "rejected")]
    assert mocks.names() == [fulfilment.ACT_NOTIFY]
    assert mocks.notified() == ["rejected"]


def test_a_rule_needing_one_senior_approver_ignores_a_manager_and_counts_the_senior(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order(approvals_required=1))
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-1"))
        noted = await s.wait_for_message(handle, "must come from a senior approver")
        await handle.signal(m.SIGNAL_APPROVE, approve(SENIOR, "a-2", senior=True, comment="ok"))
        return noted, await handle.result()

    (noted, final), _ = temporal.play(story)

    assert noted.approval.approved == 0
    assert noted.approval.still_needed == "needs a senior approver (1 more approval)"
    assert final.state == states.FULFILLED
    assert "Approved by senior: ok" in messages(final, "status")


def test_policy_that_auto_approves_needs_no_decision_and_says_which_policy(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        rule = ApprovalRule(policy_id=1, policy_name="Small orders", auto_approve=True)
        return await (await s.start(order_input(total="120.00", requires_approval=False, approval_rule=rule))).result()

    final, mocks = temporal.play(story)

    assert final.state == states.FULFILLED
    assert "Auto-approved: policy “Small orders”" in messages(final, "status")
    assert final.approval.auto_approve is True and final.approval.rule == "“Small orders”: approved automatically"
    assert mocks.names(decisions=True) == PROCESS_STEPS


# --- Reminder (T1), escalation (T2), expiry (T3) -------------------------------------------


def test_undecided_order_is_reminded_at_24h_escalated_at_36h_and_expires_at_48h(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order())
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-1"))
        await s.wait_for_message(handle, "Approval 1 of 2")
        submitted = (await handle.describe()).start_time
        return submitted, await handle.result()  # time skipping runs the 48 hours out

    began = time.monotonic()
    (submitted, final), mocks = temporal.play(story)
    elapsed = time.monotonic() - began

    assert final.state == states.EXPIRED
    assert elapsed < 20, "two days must be skipped, not waited for"
    minute = timedelta(minutes=1)
    assert timedelta(hours=24) <= at(final, "Reminder") - submitted < timedelta(hours=24) + minute
    assert timedelta(hours=36) <= at(final, "Escalated") - submitted < timedelta(hours=36) + minute
    assert timedelta(hours=48) <= at(final, "Expired") - submitted < timedelta(hours=48) + minute

    reminder, escalation = mocks.args(approval.ACT_NOTIFY_APPROVERS)
    assert (reminder.kind, reminder.idempotency_key, reminder.requested_by) == ("reminder", f"reminder-{ORDER_ID}", REQUESTER)
    # After one ordinary approval only a senior can still count: the reminder goes to them.
    assert reminder.senior_only and reminder.already_decided == [MANAGER]
    assert reminder.still_needed == "needs a senior approver (1 more approval)"
    assert (escalation.kind, escalation.senior_only, escalation.already_decided) == ("escalation", True, [MANAGER])
    assert escalation.due == final.approval_deadline

    assert "Reminder: needs a senior approver (1 more approval); emailed manager, senior" in messages(final, "reminder")
    assert messages(final, "escalation") == [
        "Escalated to the senior approvers: needs a senior approver (1 more approval); emailed manager, senior",
    ]
    assert [e.escalated for e in mocks.written() if e.kind == "escalation"] == [True]
    assert (final.approval.reminded, final.approval.escalated) == (True, True)
    assert mocks.notified() == ["expired"]


def test_query_shows_reminded_then_escalated_and_a_late_quorum_still_approves(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order(approvals_required=1, requires_senior=False))
        pending = await s.wait_for_message(handle, "Awaiting a manager's decision")
        await s.env.sleep(timedelta(hours=30))
        day_and_a_half = await s.wait_for(handle, lambda snap: snap.approval.reminded, "the 24 h reminder")
        await s.env.sleep(timedelta(hours=8))
        escalated = await s.wait_for(handle, lambda snap: snap.approval.escalated, "the 36 h escalation")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER2, "a-1"))
        return pending, day_and_a_half, escalated, await handle.result()

    (pending, day_and_a_half, escalated, final), mocks = temporal.play(story)

    assert pending.approval.remind_at is not None and pending.approval.escalate_at is not None
    assert datetime.fromisoformat(pending.approval.escalate_at) - datetime.fromisoformat(pending.approval.remind_at) == timedelta(hours=12)
    assert (day_and_a_half.approval.reminded, day_and_a_half.approval.escalated) == (True, False)
    assert escalated.state == states.PENDING_APPROVAL
    assert escalated.approval.escalated and escalated.approval.still_needed == "needs 1 more approval"
    assert [n.kind for n in mocks.args(approval.ACT_NOTIFY_APPROVERS)] == ["reminder", "escalation"]
    # With no senior requirement the reminder goes to every eligible approver.
    assert mocks.args(approval.ACT_NOTIFY_APPROVERS)[0].senior_only is False
    assert final.state == states.FULFILLED
    assert "Approved by manager2" in messages(final, "status")


def test_a_mail_outage_at_reminder_time_is_noted_and_the_order_still_expires_on_time(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order())
        submitted = (await handle.describe()).start_time
        return submitted, await handle.result()

    (submitted, final), _ = temporal.play(story, ActivityMocks(approver_recipients=None))

    assert final.state == states.EXPIRED
    assert any(msg.startswith("Reminder:") and "the email could not be sent (SMTP server down)" in msg for msg in messages(final))
    assert final.approval.escalated is True
    assert timedelta(hours=48) <= at(final, "Expired") - submitted < timedelta(hours=48, minutes=1)


# --- Bulk decisions and the digest -------------------------------------------------------


def play_approval_workflow(temporal: SharedTimeSkippingEnv, workflow: str, arg: Any, activities: list, *, result_type: type):
    """Run one approval workflow on its own task queue: the given activities in place of ActivityMocks' ones of their names."""

    async def story(s: Scenario):
        async with Worker(s.env.client, task_queue=s.task_queue, workflows=APPROVAL_WORKFLOWS, activities=s.mocks.activities(*activities)):
            handle = await s.env.client.start_workflow(
                workflow, arg, id=f"wf-{uuid.uuid4().hex[:8]}", task_queue=s.task_queue, result_type=result_type,
            )
            s.handles.append(handle)
            return await handle.result()

    return temporal.play(story, start_worker=False)[0]


def test_bulk_decision_sends_every_order_and_reports_refusals_and_failures_per_order(temporal: SharedTimeSkippingEnv):
    sent: list[BulkOrderRequest] = []

    @activity.defn(name=approval.ACT_SEND_BULK_DECISION)
    async def send_bulk_decision(request: BulkOrderRequest) -> BulkOrderResult:
        sent.append(request)
        if request.order_id == 2:
            return BulkOrderResult(2, "OD-000002", approval.BULK_REFUSED, "You cannot decide on an order you created.")
        if request.order_id == 3:
            raise ApplicationError("The workflow service is unavailable", type="WorkflowUnavailable")
        return BulkOrderResult(request.order_id, f"OD-{request.order_id:06d}", approval.BULK_SENT, "Approval sent")

    batch = BulkDecisionInput(batch_id="b-123456789", actor=MANAGER, decision="approved", comment="Quarter end", order_ids=[1, 2, 3, 4])
    result = play_approval_workflow(temporal, approval.BULK_WORKFLOW_NAME, batch, [send_bulk_decision], result_type=BulkDecisionProgress)

    assert result.finished and result.total == 4
    outcomes = [(r.order_id, r.outcome) for r in result.results]
    assert outcomes == [(1, approval.BULK_SENT), (2, approval.BULK_REFUSED), (3, approval.BULK_FAILED), (4, approval.BULK_SENT)]
    assert result.results[1].message == "You cannot decide on an order you created."
    assert "Not sent after several attempts" in result.results[2].message
    # Order 3 was retried (8 attempts, the backoff skipped), always with the same request id.
    assert sorted(r.order_id for r in sent) == [1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 4]
    assert len({r.request_id for r in sent if r.order_id == 3}) == 1
    assert len({r.request_id for r in sent}) == 4, "one request id per order"
    assert all((r.actor, r.decision, r.comment) == (MANAGER, "approved", "Quarter end") for r in sent)


def test_bulk_request_ids_stay_distinct_per_order_however_long_the_batch_id():
    """A 64-character batch id used to truncate every order's id to the same one."""
    batch = "b" * 64
    ids = [bulk_request_id(batch, order_id) for order_id in (1, 22, 333, 10**18)]
    assert len(set(ids)) == 4 and all(len(i) <= m.MAX_REQUEST_ID for i in ids)
    assert bulk_request_id(batch, 22) == ids[1], "stable, so a retried send is the same decision"
    assert bulk_request_id(batch + "x", 22) != ids[1]


def test_digest_workflow_sends_the_digest_of_the_day_it_runs(temporal: SharedTimeSkippingEnv):
    seen: list[DigestInput] = []

    @activity.defn(name=approval.ACT_SEND_DIGESTS)
    async def send_approval_digests(inp: DigestInput) -> DigestResult:
        seen.append(inp)
        return DigestResult(inp.digest_date, [MANAGER, SENIOR])

    def digest(inp: DigestInput) -> DigestResult:
        return play_approval_workflow(temporal, approval.DIGEST_WORKFLOW_NAME, inp, [send_approval_digests], result_type=DigestResult)

    scheduled = digest(DigestInput())
    by_hand = digest(DigestInput("2026-03-02"))

    # A scheduled start passes no date: the workflow's own day, as an ISO date.
    assert date.fromisoformat(seen[0].digest_date).year >= 2024
    assert scheduled == DigestResult(seen[0].digest_date, [MANAGER, SENIOR])
    assert (seen[1].digest_date, by_hand.digest_date) == ("2026-03-02", "2026-03-02")

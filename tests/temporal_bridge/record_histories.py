"""Record the histories the replay test checks, for one released workflow version.

    .venv/bin/python -m tests.temporal_bridge.record_histories 1.1

Run it once per release of OrderWorkflow, before changing its logic again,
into a new directory named after the release, and commit the files: from
then on tests/temporal_bridge/test_replay.py proves that every later version
still replays them (changes to running logic go behind workflow.patched()).
Each story covers a path through the workflow; a new path gets a story here.
"""
from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
django.setup()

from temporal_bridge.approvals.messages import ApprovalRule  # noqa: E402
from temporal_bridge.order import discussion, holds, payments  # noqa: E402
from temporal_bridge.order import messages as m  # noqa: E402
from temporal_bridge.order.discussion import AnswerSignal, CommentSignal, QuestionSignal  # noqa: E402
from temporal_bridge.order.holds import HoldResult, HoldsLifted  # noqa: E402
from temporal_bridge.order.payments import PaymentEvent  # noqa: E402
from temporal_bridge.order.service_levels import ServiceLevelTargets  # noqa: E402
from temporal_bridge.shipment import messages as shipment  # noqa: E402
from temporal_bridge.shipment.messages import CarrierEvent  # noqa: E402
from tests.temporal_bridge.helpers import MANAGER, ORDER_ID, REQUESTER, ActivityMocks, Scenario, SharedTimeSkippingEnv, order_input  # noqa: E402

HISTORIES = Path(__file__).parent / "histories"


async def approved_and_fulfilled(s: Scenario):
    handle = await s.start(order_input())
    await s.wait_for_message(handle, "Awaiting a manager's decision")
    await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(MANAGER, "update-1", priority="high", note="Leave at the dock"))
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-1", "ok"))
    await handle.result()
    return handle


async def auto_approved(s: Scenario):
    handle = await s.start(order_input(requires_approval=False))
    await handle.result()
    return handle


async def rejected(s: Scenario):
    handle = await s.start(order_input())
    await s.wait_for_message(handle, "Awaiting a manager's decision")
    await handle.signal(m.SIGNAL_REJECT, m.DecisionSignal(MANAGER, "reject-1", "Too expensive"))
    await handle.result()
    return handle


async def expired(s: Scenario):
    handle = await s.start(order_input())
    await handle.result()  # time skipping runs the 48 h deadline out
    return handle


async def cancelled_during_fulfilment(s: Scenario):
    handle = await s.start(order_input(requires_approval=False))
    await s.wait_for(handle, lambda snap: snap.progress == 25, "fulfilment at 25%")
    await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "cancel-1", "Customer changed their mind"))
    await s.wait_for_terminal(handle)
    return handle


async def payment_declined(s: Scenario):
    handle = await s.start(order_input(requires_approval=False))
    await handle.result()
    return handle


# --- Approval policies: quorum, senior approver, reminder / escalation / expiry ----------

HOUR = 3600
DAY = 24 * HOUR


def large_order(**changes):
    """Submitted under "Large orders": two approvals, one senior; reminder 24 h, escalation 36 h, expiry 48 h."""
    rule = ApprovalRule(policy_id=3, policy_name="Large orders", approvals_required=2, requires_senior=True,
                          remind_after_seconds=24 * HOUR, escalate_after_seconds=36 * HOUR, expire_after_seconds=48 * HOUR)
    return order_input(total="50000.00", approval_rule=rule, approval_deadline_seconds=rule.expire_after_seconds, **changes)


async def quorum_approved(s: Scenario):
    handle = await s.start(large_order())
    await s.wait_for_message(handle, "Awaiting 2 approvals")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(REQUESTER, "approve-0", "", senior=True))
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-1", "ok"))
    await s.wait_for_message(handle, "Approval 1 of 2")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-1", "ok"))
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-2", "again"))
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("manager2", "approve-3", ""))
    await s.wait_for_message(handle, "must come from a senior approver")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("senior", "approve-4", "signed off", senior=True))
    await handle.result()
    return handle


async def quorum_rejected(s: Scenario):
    handle = await s.start(large_order())
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("senior", "approve-1", "", senior=True))
    await s.wait_for_message(handle, "Approval 1 of 2")
    await handle.signal(m.SIGNAL_REJECT, m.DecisionSignal("manager2", "reject-1", "Over budget"))
    await handle.result()
    return handle


async def reminded_escalated_expired(s: Scenario):
    handle = await s.start(large_order())
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-1", ""))
    await s.wait_for_message(handle, "Approval 1 of 2")
    await handle.result()  # time skipping runs 24 h, 36 h and 48 h out
    return handle


async def escalated_then_approved(s: Scenario):
    rule = ApprovalRule(policy_id=2, policy_name="Standard orders", remind_after_seconds=24 * HOUR,
                          escalate_after_seconds=36 * HOUR, expire_after_seconds=48 * HOUR)
    handle = await s.start(order_input(approval_rule=rule))
    await s.env.sleep(timedelta(hours=40))
    await s.wait_for(handle, lambda snap: snap.approval.escalated, "the escalation")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-1", "late but fine"))
    await handle.result()
    return handle


async def policy_auto_approved(s: Scenario):
    rule = ApprovalRule(policy_id=1, policy_name="Small orders", auto_approve=True)
    handle = await s.start(order_input(total="120.00", requires_approval=False, approval_rule=rule))
    await handle.result()
    return handle


# --- Continue-as-new while waiting on approval; a cancel in the first task --------------


async def continued_as_new(s: Scenario, *, run: str = "first"):
    """Many updates while waiting for approval, a hand-over to a new run, then
    the quorum completes there. `run` picks whose history is recorded: the
    first run's (ends in ContinueAsNew) or the last one's (starts from the carried state)."""
    handle = await s.start(large_order(continue_as_new_after_events=60))
    first_run = (await handle.describe()).run_id
    await s.wait_for_message(handle, "Awaiting 2 approvals")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-1", ""))
    for i in range(12):
        await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(MANAGER, f"update-{i}", note=f"note {i}"))
        await s.wait_for(handle, lambda snap, i=i: snap.note == f"note {i}", f"update {i}")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("senior", "approve-2", "", senior=True))
    await handle.result()
    return s.env.client.get_workflow_handle(handle.id, run_id=first_run) if run == "first" else handle


async def continued_as_new_last_run(s: Scenario):
    return await continued_as_new(s, run="last")


async def cancelled_in_first_task(s: Scenario):
    handle = await s.env.client.start_workflow(
        m.WORKFLOW_NAME, order_input(), id=f"order-first-task-{s.task_queue}", task_queue=s.task_queue,
        result_type=m.OrderSnapshot, start_signal=m.SIGNAL_CANCEL,
        start_signal_args=[m.CancelSignal(MANAGER, "cancel-1", "Customer withdrew")],
    )
    s.handles.append(handle)
    await handle.result()
    return handle


# --- The engine enforces its own rules ------------------------------------------------------


async def hostile_messages_then_approved(s: Scenario):
    """Malformed, oversized and unknown messages and forged identities, refused and
    noted; then a real approval completes the order."""
    from tests.temporal_bridge.order.test_engine_rules import HOSTILE_MESSAGES

    handle = await s.start(order_input())
    await s.wait_for_message(handle, "Awaiting")
    for name, args, _ in HOSTILE_MESSAGES:
        # Over the cap, but small enough to keep the stored file small.
        args = [{k: ("x" * 600 if isinstance(v, str) and len(v) > 600 else v) for k, v in a.items()} if isinstance(a, dict) else a
                for a in args]
        await handle.signal(name, args=args)
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("mallory", "forged-1", "", senior=True))
    await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(REQUESTER, "forged-2", "not mine to cancel"))
    await s.wait_for_message(handle, "mallory is not a user of the desk")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-1", "ok"))
    await handle.result()
    return handle


async def forged_seniority_then_senior_approves(s: Scenario):
    handle = await s.start(large_order())
    await s.wait_for_message(handle, "Awaiting 2 approvals")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("manager2", "approve-1", "", senior=True))
    await s.wait_for_message(handle, "Approval 1 of 2 by manager2")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-2", "", senior=True))
    await s.wait_for_message(handle, "must come from a senior approver")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("senior", "approve-3", ""))
    await handle.result()
    return handle


async def address_changed_after_approval(s: Scenario):
    from tests.temporal_bridge.order.test_engine_rules import approved_then_moved

    handle, _ = await approved_then_moved(s)
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("manager2", "approve-2", "new address checked"))
    await handle.result()
    return handle


async def reapproval_reminded_then_expired(s: Scenario):
    """Back for approval after an address change; nobody decides: reminded, escalated, expired, refunded."""
    from tests.temporal_bridge.order.test_approval_gate import large_order as order_under_rule
    from tests.temporal_bridge.order.test_engine_rules import approved_then_moved

    handle, _ = await approved_then_moved(s, order_under_rule(approvals_required=1, requires_senior=False))
    await handle.result()
    return handle


async def address_locked_in_fulfilment(s: Scenario):
    handle = await s.start(order_input(requires_approval=False))
    await s.wait_for(handle, lambda snap: snap.state == "fulfilling", "fulfilment")
    await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(REQUESTER, "move-late", shipping_address="9 Fence Lane"))
    await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(REQUESTER, "rush", priority="urgent"))
    await s.wait_for(handle, lambda snap: snap.priority == "urgent" and any("locked" in e.message for e in snap.timeline), "updates")
    await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "stop-1", "Customer withdrew"))
    await handle.result()
    return handle


async def approval_voided_by_move(s: Scenario):
    from tests.temporal_bridge.order.test_engine_rules import approval_checked_while_moved

    handle, _ = await approval_checked_while_moved(s)
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("manager2", "approve-2", "new address checked"))
    await handle.result()
    return handle


async def approved_on_behalf(s: Scenario):
    """A substitute approves for the senior who is away; the senior slot still needs a senior."""
    from tests.temporal_bridge.order.test_delegation import approve, for_

    handle = await s.start(large_order())
    await s.wait_for_message(handle, "Awaiting 2 approvals")
    await handle.signal(m.SIGNAL_APPROVE, for_("senior", MANAGER, "sub-1", comment="for the boss"))
    await s.wait_for_message(handle, "Approval 1 of 2 by manager on behalf of senior")
    await handle.signal(m.SIGNAL_APPROVE, approve("senior2", "real-senior"))
    await handle.result()
    return handle


def _delegation_mocks() -> ActivityMocks:
    from tests.temporal_bridge.order.test_delegation import mocks_with

    return mocks_with(senior=MANAGER)


# --- Questions, holds, payments confirmed later, fraud holds, tracked delivery, service levels ---

def _small(**changes):
    return order_input(requires_approval=False, approval_rule=ApprovalRule(auto_approve=True), **changes)


async def question_answered_then_approved(s: Scenario):
    handle = await s.start(large_order())
    await s.wait_for_message(handle, "Awaiting 2 approvals")
    await s.env.sleep(timedelta(hours=10))
    await handle.signal(discussion.SIGNAL_COMMENT, CommentSignal(MANAGER, "comment-1", "Checking stock first"))
    await handle.signal(discussion.SIGNAL_ASK_REQUESTER, QuestionSignal(MANAGER, "ask-1", "Why 40 units?"))
    await s.wait_for(handle, lambda snap: snap.open_question != "", "the question")
    await s.env.sleep(timedelta(hours=20))
    await handle.signal(discussion.SIGNAL_ANSWER, AnswerSignal(REQUESTER, "answer-1", "Two sites"))
    await s.wait_for_message(handle, "Approval clock resumes")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("manager2", "approve-1", ""))
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("senior", "approve-2", ""))
    await handle.result()
    return handle


async def answer_edits_and_restarts(s: Scenario):
    handle = await s.start(large_order())
    await s.wait_for_message(handle, "Awaiting 2 approvals")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal("manager2", "approve-1", ""))
    await s.wait_for_message(handle, "Approval 1 of 2")
    await handle.signal(discussion.SIGNAL_ASK_REQUESTER, QuestionSignal("senior", "ask-1", "Right address?"))
    await s.wait_for(handle, lambda snap: snap.open_question != "", "the question")
    await handle.signal(discussion.SIGNAL_ANSWER, AnswerSignal(REQUESTER, "answer-1", "Site B", shipping_address="2 Site B"))
    await s.wait_for_message(handle, "Approval clock restarts")
    await handle.result()  # nobody approves again: it expires
    return handle


async def fulfilment_paused_then_resumed(s: Scenario):
    handle = await s.start(_small())
    await s.wait_for(handle, lambda snap: snap.hold_reason != "", "the hold")
    s.mocks.holds.clear()
    await handle.signal(holds.SIGNAL_HOLDS_LIFTED, HoldsLifted(by="ops"))
    await handle.result()
    return handle


async def payment_confirmed_after_fraud_hold(s: Scenario):
    handle = await s.start(_small())
    await s.wait_for(handle, lambda snap: snap.step == "Waiting for the payment provider's confirmation", "the wait")
    await handle.signal(payments.SIGNAL_PAYMENT_EVENT, PaymentEvent("evt-1", payments.PAYMENT_FRAUD_ALERT, "cap-1", "velocity"))
    await handle.signal(payments.SIGNAL_PAYMENT_EVENT, PaymentEvent("evt-2", payments.PAYMENT_SUCCEEDED, "cap-1"))
    await s.wait_for(handle, lambda snap: snap.state == "on_hold", "the fraud hold")
    await handle.signal(holds.SIGNAL_RELEASE_HOLD, m.DecisionSignal(MANAGER, "release-1", "called the customer"))
    await handle.result()
    return handle


async def payment_failed_by_provider(s: Scenario):
    handle = await s.start(_small())
    await s.wait_for(handle, lambda snap: snap.step == "Waiting for the payment provider's confirmation", "the wait")
    await handle.signal(payments.SIGNAL_PAYMENT_EVENT, PaymentEvent("evt-1", payments.PAYMENT_FAILED, "cap-1", "card expired"))
    await handle.result()
    return handle


async def delivered_with_service_levels(s: Scenario):
    targets = ServiceLevelTargets(approval_seconds=2 * HOUR, processing_seconds=HOUR, fulfilment_seconds=HOUR, delivery_seconds=DAY)
    handle = await s.start(order_input(service_levels=targets, track_delivery=True))
    await s.wait_for_message(handle, "Awaiting")
    await s.env.sleep(timedelta(hours=3))
    await s.wait_for_message(handle, "Service level breached")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-1", ""))
    await s.wait_for(handle, lambda snap: snap.state == "in_transit", "in transit")
    parcel = s.env.client.get_workflow_handle(shipment.shipment_workflow_id(ORDER_ID))
    await parcel.signal(shipment.SIGNAL_CARRIER_EVENT, CarrierEvent("c-1", shipment.PARCEL_DELIVERED, location="Lyon"))
    await handle.result()
    return handle


async def forgeries_refused_then_approved(s: Scenario):
    """Raw signals the desk never recorded (a real manager's name, a payload
    altered after recording, a flood of malformed ones), then the real approval."""
    handle = await s.start(order_input())
    await s.wait_for_message(handle, "Awaiting a manager's decision")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "raw-1", "forged"))
    await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "altered-1", "not what was recorded"))
    for i in range(15):
        await handle.signal(m.SIGNAL_APPROVE, {"actor": i, "request_id": f"bad-{i}"})
    await s.wait_for_message(handle, "more malformed messages refused")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "page-1", "ok"))
    await handle.result()
    return handle


async def forged_provider_events_then_confirmed(s: Scenario):
    """A forged fraud alert and a forged copy of the provider's id, then the genuine confirmation."""
    handle = await s.start(_small())
    await s.wait_for(handle, lambda snap: snap.step == "Waiting for the payment provider's confirmation", "the wait")
    await handle.signal(payments.SIGNAL_PAYMENT_EVENT, PaymentEvent("fake-fraud", payments.PAYMENT_FRAUD_ALERT, "cap-1", "stolen"))
    await handle.signal(payments.SIGNAL_PAYMENT_EVENT, PaymentEvent("sim-42-payment.succeeded", payments.PAYMENT_SUCCEEDED, "cap-1"))
    await s.wait_for_message(handle, "Payment event sim-42-payment.succeeded (succeeded) refused")
    s.mocks.forged_events.clear()  # the provider's signed webhook arrives
    await handle.signal(payments.SIGNAL_PAYMENT_EVENT, PaymentEvent("sim-42-payment.succeeded", payments.PAYMENT_SUCCEEDED, "cap-1"))
    await handle.result()
    return handle


async def returned_to_sender(s: Scenario):
    """A tracked delivery the carrier brings back: the order ends returned."""
    handle = await s.start(_small(track_delivery=True))
    await s.wait_for(handle, lambda snap: snap.state == "in_transit", "in transit")
    parcel = s.env.client.get_workflow_handle(shipment.shipment_workflow_id(ORDER_ID))
    await parcel.signal(shipment.SIGNAL_CARRIER_EVENT, CarrierEvent("c-1", shipment.PARCEL_EXCEPTION, location="Lyon",
                                                                    description="Nobody in"))
    await parcel.signal(shipment.SIGNAL_CARRIER_EVENT, CarrierEvent("c-2", shipment.PARCEL_RETURNED, location="Sender"))
    await handle.result()
    return handle


async def cancelled_on_fraud_hold(s: Scenario):
    """A fraud alert after the payment: on hold; a manager cancels, the payment is refunded and the stock released."""
    handle = await s.start(_small())
    await s.wait_for(handle, lambda snap: snap.step == "Waiting for the payment provider's confirmation", "the wait")
    await handle.signal(payments.SIGNAL_PAYMENT_EVENT, PaymentEvent("evt-1", payments.PAYMENT_FRAUD_ALERT, "cap-1", "stolen card"))
    await s.wait_for(handle, lambda snap: snap.state == "on_hold", "the fraud hold")
    await handle.signal(holds.SIGNAL_RELEASE_HOLD, m.DecisionSignal(REQUESTER, "release-0", "my own order"))
    await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "cancel-1", "Card reported stolen"))
    await handle.result()
    return handle


# --- Credit review (from 1.1, behind the "credit-check" patch) -----------------------------


async def credit_held_then_limit_raised(s: Scenario):
    """Over the customer's credit limit after the approval: on hold; finance raises the limit, the order goes on."""
    from tests.temporal_bridge.order.test_credit_review import WITHIN, approved_and_held

    handle, _ = await approved_and_held(s)
    await s.env.sleep(timedelta(minutes=12))  # two rechecks
    reads = len(s.mocks.args(holds.ACT_READ_HOLD))
    await handle.signal(holds.SIGNAL_HOLDS_LIFTED, HoldsLifted(by="mallory"))  # forged: the database still says held
    await s.wait_for(handle, lambda _: len(s.mocks.args(holds.ACT_READ_HOLD)) > reads, "the read after the forged wake-up")
    s.mocks.holds[holds.STAGE_CREDIT] = WITHIN
    await handle.signal(holds.SIGNAL_HOLDS_LIFTED, HoldsLifted(by="fiona"))
    await handle.result()
    return handle


async def credit_held_then_cancelled(s: Scenario):
    """On hold for credit review; a manager's fraud release is refused; finance cancels the order."""
    from tests.temporal_bridge.order.test_credit_review import approved_and_held

    handle, _ = await approved_and_held(s)
    await handle.signal(holds.SIGNAL_RELEASE_HOLD, m.DecisionSignal("manager2", "release-1", "looks fine"))
    await s.wait_for_message(handle, "Release by manager2 refused")
    await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal("fiona", "cancel-1", "Credit refused"))
    await handle.result()
    return handle


def _over_the_limit() -> ActivityMocks:
    from tests.temporal_bridge.order.test_credit_review import over_the_limit

    return over_the_limit()


# Every path the workflow knows, recorded for each release.
STORIES = {
    "approved_and_fulfilled": (approved_and_fulfilled, ActivityMocks()),
    "auto_approved": (auto_approved, ActivityMocks()),
    "rejected": (rejected, ActivityMocks()),
    "expired": (expired, ActivityMocks()),
    "cancelled_during_fulfilment": (
        cancelled_during_fulfilment, ActivityMocks(fulfil_progress=[(25, "Picking items")], fulfil_blocks=True),
    ),
    "payment_declined": (payment_declined, ActivityMocks(payment_declined="Payment declined: 1250.00 EUR exceeds the credit limit")),
    "quorum_approved": (quorum_approved, ActivityMocks()),
    "quorum_rejected": (quorum_rejected, ActivityMocks()),
    "reminded_escalated_expired": (reminded_escalated_expired, ActivityMocks()),
    "escalated_then_approved": (escalated_then_approved, ActivityMocks()),
    "policy_auto_approved": (policy_auto_approved, ActivityMocks()),
    "cancelled_in_first_task": (cancelled_in_first_task, ActivityMocks()),
    "hostile_messages_then_approved": (hostile_messages_then_approved, ActivityMocks()),
    "forged_seniority_then_senior_approves": (forged_seniority_then_senior_approves, ActivityMocks()),
    "address_changed_after_approval": (address_changed_after_approval, ActivityMocks()),
    "address_locked_in_fulfilment": (address_locked_in_fulfilment, ActivityMocks(fulfil_blocks=True)),
    "reapproval_reminded_then_expired": (reapproval_reminded_then_expired, ActivityMocks()),
    "approval_voided_by_move": (approval_voided_by_move, ActivityMocks()),
    "approved_on_behalf": (approved_on_behalf, None),  # the mocks with a delegation, made when recorded (LATE_MOCKS)
    "question_answered_then_approved": (question_answered_then_approved, ActivityMocks()),
    "answer_edits_and_restarts": (answer_edits_and_restarts, ActivityMocks()),
    "fulfilment_paused_then_resumed": (fulfilment_paused_then_resumed, ActivityMocks(
        holds={holds.STAGE_FULFILMENT: HoldResult(held=True, reason="warehouse outage", by="ops")})),
    "payment_confirmed_after_fraud_hold": (payment_confirmed_after_fraud_hold, ActivityMocks(payment_status="requires_confirmation")),
    "payment_failed_by_provider": (payment_failed_by_provider, ActivityMocks(payment_status="requires_confirmation")),
    "cancelled_on_fraud_hold": (cancelled_on_fraud_hold, ActivityMocks(payment_status="requires_confirmation")),
    "delivered_with_service_levels": (delivered_with_service_levels, ActivityMocks()),
    "returned_to_sender": (returned_to_sender, ActivityMocks()),
    "forgeries_refused_then_approved": (forgeries_refused_then_approved, ActivityMocks(
        forged_requests={"raw-1"}, altered_requests={"altered-1"})),
    "forged_provider_events_then_confirmed": (forged_provider_events_then_confirmed, ActivityMocks(
        payment_status="requires_confirmation", forged_events={"fake-fraud", "sim-42-payment.succeeded"})),
    "credit_held_then_limit_raised": (credit_held_then_limit_raised, None),  # the mocks over the limit, made when recorded
    "credit_held_then_cancelled": (credit_held_then_cancelled, None),
}
# The mocks made when recorded (they import the tests), by story.
LATE_MOCKS = {"approved_on_behalf": _delegation_mocks, "credit_held_then_limit_raised": _over_the_limit,
              "credit_held_then_cancelled": _over_the_limit}
# Recorded on a real dev server: the time-skipping one mishandles a
# continue-as-new among signals (see SharedTimeSkippingEnv).
REAL_SERVER_STORIES = {
    "continued_as_new": (continued_as_new, ActivityMocks()),
    "continued_as_new_last_run": (continued_as_new_last_run, ActivityMocks()),
}


def main(version: str) -> None:
    target = HISTORIES / version
    target.mkdir(parents=True, exist_ok=True)
    # Recorded unencrypted so that people can read them; the replay passes
    # them through the desk's codec, whose decoding leaves them as they are.
    record(target, {name: (story, mocks or LATE_MOCKS[name]()) for name, (story, mocks) in STORIES.items()}, plain=True)
    record(target, REAL_SERVER_STORIES, real_server=True, plain=True)


def record(target: Path, stories: dict, *, real_server: bool = False, plain: bool = False) -> None:
    env = SharedTimeSkippingEnv(real_server=real_server, plain=plain)
    try:
        for name, (story, mocks) in stories.items():
            async def capture(s: Scenario, story=story):
                handle = await story(s)
                history = await handle.fetch_history()
                return history.to_json_dict()

            history, _ = env.play(capture, mocks)
            (target / f"{name}.json").write_text(json.dumps(history, indent=1) + "\n")
            print(f"recorded {target / name}.json ({len(history['events'])} events)")
    finally:
        env.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.temporal_bridge.record_histories <release, e.g. 1.1>")
    main(sys.argv[1])

"""OrderWorkflow in Temporal's time-skipping test server, with every activity mocked by name.

Each test plays one order's story through signals and the snapshot query and
checks what a user would notice: the final state, the timeline, which
activities ran in which order, and what the query offers.
"""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import pytest

from temporal_bridge.order import fulfilment, payments, states
from temporal_bridge.order import messages as m
from tests.temporal_bridge.helpers import DAY, MANAGER, ORDER_ID, REQUESTER, ActivityMocks, Scenario, SharedTimeSkippingEnv, order_input

# No database here (activities are mocked or no order is run): CI runs it once.
pytestmark = pytest.mark.database_agnostic

# The credit check (one hold read) comes first, then the business steps.
PROCESS_STEPS = [fulfilment.ACT_RESERVE_STOCK, payments.ACT_CHARGE_PAYMENT, fulfilment.ACT_FULFIL,
                 fulfilment.ACT_SHIP, fulfilment.ACT_NOTIFY]


def approve(actor: str = MANAGER, request_id: str = "approve-1", comment: str = "") -> m.DecisionSignal:
    return m.DecisionSignal(actor=actor, request_id=request_id, comment=comment)


def cancel(actor: str = MANAGER, request_id: str = "cancel-1", reason: str = "Customer changed their mind") -> m.CancelSignal:
    return m.CancelSignal(actor=actor, request_id=request_id, reason=reason)


def messages(snapshot: m.OrderSnapshot, kind: str | None = None) -> list[str]:
    return [e.message for e in snapshot.timeline if kind is None or e.kind == kind]


def mirrored_states(mocks: ActivityMocks) -> list[str]:
    return [entry.status for entry in mocks.written() if entry.status]


# --- Approval ----------------------------------------------------------------------------


def test_manager_approval_takes_the_order_through_fulfilment_to_fulfilled(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input())
        pending = await s.wait_for_message(handle, "Awaiting a manager's decision")
        await handle.signal(m.SIGNAL_APPROVE, approve(comment="Looks fine"))
        return pending, await handle.result()

    mocks = ActivityMocks(fulfil_progress=[(50, "Packing")])
    (pending, final), mocks = temporal.play(story, mocks)

    assert pending.state == states.PENDING_APPROVAL
    assert final.state == states.FULFILLED
    assert final.tracking_number == "TRK-0042"
    assert final.progress == 100
    assert mirrored_states(mocks) == [states.PENDING_APPROVAL, states.APPROVED, states.PROCESSING, states.FULFILLING, states.FULFILLED]
    assert mocks.names() == PROCESS_STEPS
    assert mocks.notified() == ["fulfilled"]
    assert [d.actor for d in mocks.args(m.ACT_RECORD_DECISION)] == [MANAGER]
    assert "Approved by manager: Looks fine" in messages(final)
    assert any("tracking number TRK-0042" in msg for msg in messages(final, "shipment"))

    # The live panel showed the fulfilment's own progress report while it ran.
    during = mocks.snapshot_during_fulfilment
    assert during is not None and (during.state, during.progress, during.step) == (states.FULFILLING, 50, "Packing")

    # Every timeline entry reached the database mirror exactly once, in order, under its own key.
    mirrored = mocks.written()
    keys = [entry.idempotency_key for entry in mirrored]
    assert len(keys) == len(set(keys)) == len(final.timeline)
    assert keys == [f"{i:04d}-{e.kind}" for i, e in enumerate(final.timeline)]
    assert [entry.message for entry in mirrored] == messages(final)
    assert all(entry.order_id == ORDER_ID for entry in mirrored)


def test_order_below_the_threshold_is_auto_approved_without_any_signal(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        return await (await s.start(order_input(requires_approval=False))).result()

    final, mocks = temporal.play(story)

    assert final.state == states.FULFILLED
    assert final.approval_deadline is None
    assert [(d.actor, d.decision) for d in final.decisions] == [("system", "approved")]
    assert any(msg.startswith("Auto-approved") for msg in messages(final))
    assert mirrored_states(mocks) == [states.PENDING_APPROVAL, states.APPROVED, states.PROCESSING, states.FULFILLING, states.FULFILLED]
    assert mocks.names(decisions=True) == PROCESS_STEPS


def test_reject_with_reason_ends_rejected_and_tells_the_customer_but_a_blank_reason_is_ignored(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input())
        await handle.signal(m.SIGNAL_REJECT, m.DecisionSignal(MANAGER, "reject-blank", "   "))
        after_blank = await s.wait_for_message(handle, "a reason is required")
        await handle.signal(m.SIGNAL_REJECT, m.DecisionSignal(MANAGER, "reject-1", "Over budget"))
        return after_blank, await handle.result()

    (after_blank, final), mocks = temporal.play(story)

    assert after_blank.state == states.PENDING_APPROVAL
    assert after_blank.decisions == []
    assert "Rejection by manager ignored: a reason is required" in messages(after_blank, "note")
    assert final.state == states.REJECTED
    assert "Rejected by manager: Over budget" in messages(final)
    assert [(d.actor, d.decision, d.comment) for d in final.decisions] == [(MANAGER, "rejected", "Over budget")]
    assert [(d.decision, d.request_id) for d in mocks.args(m.ACT_RECORD_DECISION)] == [("rejected", "reject-1")]
    assert mocks.names() == [fulfilment.ACT_NOTIFY]
    assert mocks.notified() == ["rejected"]


def test_order_without_a_decision_expires_at_the_48_hour_deadline_in_skipped_time(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        return await (await s.start(order_input(approval_deadline_seconds=2 * DAY))).result()

    began = time.monotonic()
    final, mocks = temporal.play(story)
    elapsed = time.monotonic() - began

    assert final.state == states.EXPIRED
    assert elapsed < 15, "the 48 h deadline must be skipped, not waited for"
    submitted_at = datetime.fromisoformat(final.timeline[0].at)
    expired = next(e for e in final.timeline if e.message.startswith("Expired"))
    assert datetime.fromisoformat(expired.at) - submitted_at >= timedelta(hours=48) - timedelta(seconds=1)
    assert mocks.names() == [fulfilment.ACT_NOTIFY]
    assert mocks.notified() == ["expired"]
    assert final.allowed_actions == []


def test_approval_deadline_counts_from_submission_even_if_no_worker_ran_at_first(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input(approval_deadline_seconds=2 * DAY))
        submitted = (await handle.describe()).start_time
        # No worker polls for a while (the server cannot skip time over a pending workflow task).
        await asyncio.sleep(1.0)
        async with s.worker():
            pending = await s.wait_for(handle, lambda snap: snap.approval_deadline is not None, "the approval deadline")
            return submitted, pending, await handle.result()

    (submitted, pending, final), _ = temporal.play(story, start_worker=False)

    assert datetime.fromisoformat(pending.approval_deadline) == submitted + timedelta(hours=48)
    assert final.state == states.EXPIRED
    expired = next(e for e in final.timeline if e.message.startswith("Expired"))
    assert datetime.fromisoformat(expired.at) - submitted < timedelta(hours=48, seconds=1)


# --- Cancellation -----------------------------------------------------------------------


def test_cancel_while_pending_approval_ends_cancelled_without_compensation(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input())
        await s.wait_for_state(handle, states.PENDING_APPROVAL)
        await handle.signal(m.SIGNAL_CANCEL, cancel())
        return await handle.result()

    final, mocks = temporal.play(story)

    assert final.state == states.CANCELLED
    assert final.cancel_requested is True
    assert "Cancel requested by manager: Customer changed their mind" in messages(final)
    assert "Cancelled: Customer changed their mind" in messages(final)
    assert messages(final, "compensation") == []
    assert mocks.names() == [fulfilment.ACT_NOTIFY]
    assert mocks.notified() == ["cancelled"]


def test_cancel_during_fulfilment_stops_it_then_refunds_before_releasing_stock(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input(requires_approval=False))
        await s.wait_for(handle, lambda snap: snap.state == states.FULFILLING and snap.progress == 25, "fulfilment at 25%")
        await handle.signal(m.SIGNAL_CANCEL, cancel())
        return await s.wait_for_terminal(handle)

    mocks = ActivityMocks(fulfil_progress=[(25, "Picking items")], fulfil_blocks=True)
    final, mocks = temporal.play(story, mocks)

    assert final.state == states.CANCELLED
    assert mocks.names() == [
        fulfilment.ACT_RESERVE_STOCK, payments.ACT_CHARGE_PAYMENT, fulfilment.ACT_FULFIL,
        ActivityMocks.FULFIL_CANCELLED,
        payments.ACT_REFUND_PAYMENT, fulfilment.ACT_RELEASE_STOCK, fulfilment.ACT_NOTIFY,
    ]
    assert [p.idempotency_key for p in mocks.args(payments.ACT_REFUND_PAYMENT)] == [f"refund-{ORDER_ID}"]
    assert mocks.notified() == ["cancelled"]
    timeline = messages(final)
    stopped = timeline.index("Fulfilment stopped at 25%")
    refunded = timeline.index("Refunded 1250.00 EUR (ref ref-1)")
    released = timeline.index("Released 3 reserved units")
    cancelled = timeline.index("Cancelled: Customer changed their mind")
    assert stopped < refunded < released < cancelled
    assert messages(final, "compensation") == ["Refunded 1250.00 EUR (ref ref-1)", "Released 3 reserved units"]
    assert final.tracking_number == ""


def test_a_cancel_that_wins_the_race_with_the_end_of_fulfilment_leaves_the_mirror_equal_to_the_query(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input(requires_approval=False))
        await s.wait_for(handle, lambda snap: snap.progress == 100, "the warehouse done")
        await handle.signal(m.SIGNAL_CANCEL, cancel())
        return await s.wait_for_terminal(handle)

    final, mocks = temporal.play(story, ActivityMocks(fulfil_progress=[(100, "Loading")], fulfil_ends_after_cancel=True))

    # Nothing had shipped: the cancel is honoured, and the fulfilment that
    # finished meanwhile left no entry in the database the query lacks.
    assert final.state == states.CANCELLED
    assert "Fulfilment complete" not in messages(final)
    assert [(e.idempotency_key, e.message) for e in mocks.written()] == [(e.key, e.message) for e in final.timeline]


def test_update_while_a_cancel_is_under_way_is_refused_and_noted(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input(requires_approval=False))
        await s.wait_for(handle, lambda snap: snap.state == states.FULFILLING and snap.progress == 25, "fulfilment at 25%")
        await handle.signal(m.SIGNAL_CANCEL, cancel())
        await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(MANAGER, "update-9", priority="urgent"))
        return await s.wait_for_terminal(handle)

    mocks = ActivityMocks(fulfil_progress=[(25, "Picking items")], fulfil_blocks=True)
    final, mocks = temporal.play(story, mocks)

    assert final.state == states.CANCELLED
    assert final.priority == "normal"
    assert mocks.args(m.ACT_APPLY_UPDATE) == []
    assert "Update by manager refused: it is being cancelled" in messages(final)


def test_cancel_after_fulfilment_finished_is_refused_and_the_order_is_fulfilled(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input(requires_approval=False))
        await s.wait_for_call(fulfilment.ACT_SHIP)
        await handle.signal(m.SIGNAL_CANCEL, cancel())
        refused = await s.wait_for_message(handle, "Cancel by manager refused")
        s.mocks.ship_released = True
        return refused, await handle.result()

    (refused, final), mocks = temporal.play(story, ActivityMocks(ship_blocks=True))

    assert refused.cancel_requested is False
    assert refused.allowed_actions == []
    assert final.state == states.FULFILLED
    assert final.tracking_number == "TRK-0042"
    assert any("refused" in msg for msg in messages(final, "note"))
    assert mocks.names() == PROCESS_STEPS
    assert mocks.notified() == ["fulfilled"]


# --- Business failures -------------------------------------------------------------------


def test_declined_payment_releases_the_stock_and_fails_with_the_decline_message(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        return await (await s.start(order_input(requires_approval=False))).result()

    final, mocks = temporal.play(story, ActivityMocks(payment_declined="Card declined by issuer"))

    assert final.state == states.FAILED
    assert "Card declined by issuer" in final.failure_reason
    assert mocks.names() == [fulfilment.ACT_RESERVE_STOCK, payments.ACT_CHARGE_PAYMENT, fulfilment.ACT_RELEASE_STOCK,
                             fulfilment.ACT_NOTIFY]
    assert len(mocks.args(payments.ACT_CHARGE_PAYMENT)) == 1, "a business failure is not retried"
    assert messages(final, "compensation") == ["Released 3 reserved units"]
    assert mocks.notified() == ["failed"]
    assert [e.failure_reason for e in mocks.written() if e.status == states.FAILED] == [final.failure_reason]


def test_out_of_stock_fails_the_order_without_charging(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        return await (await s.start(order_input(requires_approval=False))).result()

    final, mocks = temporal.play(story, ActivityMocks(out_of_stock="Not enough Widget in stock"))

    assert final.state == states.FAILED
    assert "Not enough Widget in stock" in final.failure_reason
    assert mocks.names() == [fulfilment.ACT_RESERVE_STOCK, fulfilment.ACT_NOTIFY]
    assert messages(final, "compensation") == []
    assert mocks.notified() == ["failed"]


# --- Updates, query, segregation ---------------------------------------------------------------


def test_update_changes_priority_address_and_note_once_per_request_id(temporal: SharedTimeSkippingEnv):
    update = m.UpdateSignal(MANAGER, "update-1", priority="urgent", shipping_address="2 Harbour Road", note="Call before delivery")

    async def story(s: Scenario):
        handle = await s.start(order_input())
        await handle.signal(m.SIGNAL_UPDATE, update)
        updated = await s.wait_for(handle, lambda snap: snap.priority == "urgent", "the update")
        # The same POST again, even with other values, is recognised by its request id.
        await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(MANAGER, "update-1", priority="low", note="Changed again"))
        await handle.signal(m.SIGNAL_REJECT, m.DecisionSignal(MANAGER, "reject-1", "Closing the test order"))
        return updated, await handle.result()

    (updated, final), mocks = temporal.play(story)

    assert (updated.priority, updated.shipping_address, updated.note) == ("urgent", "2 Harbour Road", "Call before delivery")
    assert (final.priority, final.shipping_address, final.note) == ("urgent", "2 Harbour Road", "Call before delivery")
    [update] = mocks.args(m.ACT_APPLY_UPDATE)
    assert (update.order_id, update.actor, update.request_id, update.priority, update.shipping_address, update.note) == (
        ORDER_ID, MANAGER, "update-1", "urgent", "2 Harbour Road", "Call before delivery")
    said = "Updated by manager: priority → urgent, shipping address “1 Main Street” → “2 Harbour Road”, note changed"
    assert messages(final, "update") == [said]
    # The entry saying so is written in the update's own transaction, not by a second activity.
    assert [entry.message for entry in update.entries] == [said]


def test_snapshot_query_offers_the_pending_actions_deadline_and_decisions(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input())
        pending = await s.wait_for(handle, lambda snap: snap.step == "Waiting for a manager's decision", "the wait for a decision")
        started = (await handle.describe()).start_time
        await handle.signal(m.SIGNAL_APPROVE, approve(request_id="approve-7"))
        final = await handle.result()
        return pending, started, final, await s.snapshot(handle)

    (pending, started, final, queried_after_end), _ = temporal.play(story)

    assert pending.state == states.PENDING_APPROVAL
    assert pending.requires_approval is True
    # An approver may also send the order back to its requester with a question.
    assert pending.allowed_actions == [m.ACTION_APPROVE, m.ACTION_REJECT, states.ASK, m.ACTION_CANCEL, m.ACTION_UPDATE]
    summary = (pending.order_id, pending.number, pending.priority, pending.shipping_address)
    assert summary == (ORDER_ID, "OD-000042", "normal", "1 Main Street")
    assert datetime.fromisoformat(pending.approval_deadline) == started + timedelta(hours=48)

    assert final.state == states.FULFILLED
    assert final.allowed_actions == []
    assert [(d.actor, d.decision, d.request_id) for d in final.decisions] == [(MANAGER, "approved", "approve-7")]
    assert queried_after_end == final


def test_requester_cannot_approve_own_order_and_a_repeated_approval_counts_once(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input(requested_by=REQUESTER))
        await handle.signal(m.SIGNAL_APPROVE, approve(actor=REQUESTER, request_id="self-approve"))
        after_self = await s.wait_for_message(handle, "cannot decide on their own order")
        await handle.signal(m.SIGNAL_APPROVE, approve(request_id="approve-1"))
        await handle.signal(m.SIGNAL_APPROVE, approve(request_id="approve-1"))
        return after_self, await handle.result()

    (after_self, final), mocks = temporal.play(story)

    assert after_self.state == states.PENDING_APPROVAL
    assert after_self.decisions == []
    assert m.ACTION_APPROVE in after_self.allowed_actions
    assert final.state == states.FULFILLED
    assert [(d.actor, d.request_id) for d in final.decisions] == [(MANAGER, "approve-1")]
    assert len(mocks.args(m.ACT_RECORD_DECISION)) == 1
    assert [msg for msg in messages(final) if msg.startswith("Approved by")] == ["Approved by manager"]
    assert [msg for msg in messages(final) if "ignored" in msg] == [
        "Decision by clerk ignored: the requester cannot decide on their own order",
        "Approval by manager ignored: request approve-1 was already received",
    ]
    assert mocks.names() == PROCESS_STEPS


def test_a_cancel_delivered_with_the_first_task_comes_after_submitted_on_the_timeline(temporal: SharedTimeSkippingEnv):
    """Found by the chaos run: a cancel sent while no worker ran used to take
    timeline entry 0, so the mirror (which wrote 0000-submitted at submission)
    held the submission twice and drifted from the workflow."""

    async def story(s: Scenario):
        handle = await s.env.client.start_workflow(
            m.WORKFLOW_NAME, order_input(), id=f"order-first-task-{time.monotonic_ns()}", task_queue=s.task_queue,
            result_type=m.OrderSnapshot, start_signal=m.SIGNAL_CANCEL, start_signal_args=[cancel()],
        )
        s.handles.append(handle)
        return await handle.result()

    final, mocks = temporal.play(story)

    assert final.state == states.CANCELLED
    assert [e.kind for e in final.timeline][:2] == ["submitted", "note"]
    assert [e.kind for e in final.timeline].count("submitted") == 1
    keys = sorted(entry.idempotency_key for entry in mocks.written())
    assert keys[0] == "0000-submitted"
    assert keys == [f"{i:04d}-{e.kind}" for i, e in enumerate(final.timeline)]

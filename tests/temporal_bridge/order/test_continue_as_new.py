"""Continue-as-new: an order waiting on approval that receives many updates
hands its whole state to a fresh run instead of growing its history forever."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus

from temporal_bridge.order import fulfilment, states
from temporal_bridge.order import messages as m
from temporal_bridge.order.records import TimelineEntry
from tests.temporal_bridge.helpers import MANAGER, ActivityMocks, Scenario, SharedTimeSkippingEnv
from tests.temporal_bridge.order.test_approval_gate import SENIOR, approve, large_order, messages

# No database here (activities are mocked or no order is run): CI runs it once.
pytestmark = pytest.mark.database_agnostic

UPDATES = 25


def test_an_order_with_many_updates_continues_as_new_and_carries_its_whole_state(temporal_dev_server: SharedTimeSkippingEnv):
    inp = replace(large_order(), continue_as_new_after_events=80)

    async def story(s: Scenario):
        handle = await s.start(inp)
        first_run = (await handle.describe()).run_id
        await s.wait_for_message(handle, "Awaiting")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "approve-manager"))
        await s.wait_for(handle, lambda snap: snap.approval and snap.approval.approved == 1, "the first approval")
        for i in range(UPDATES):
            await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(MANAGER, f"update-{i}", note=f"Note {i}"))
            # As the page does: the next update once this one is fully applied
            # (identity checked, recorded, noted on the timeline).
            await s.wait_for(handle, lambda snap, i=i: snap.note == f"Note {i}" and messages(snap, "update").count(
                "Updated by manager: note changed") == i + 1, f"update {i}")
        # Repeats from before the continuation are still recognised after it.
        await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(MANAGER, "update-0", note="A replayed old POST"))
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "approve-manager-again"))
        mid = await s.wait_for(handle, lambda snap: any("already approved" in e.message for e in snap.timeline), "the repeat noted")
        await handle.signal(m.SIGNAL_APPROVE, approve(SENIOR, "approve-senior", senior=True))
        final = await handle.result()
        first = await s.env.client.get_workflow_handle(handle.id, run_id=first_run).describe()
        latest = await handle.describe()
        return mid, final, first, latest

    (mid, final, first, latest), mocks = temporal_dev_server.play(story, ActivityMocks())

    assert first.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    assert latest.run_id != first.run_id
    compacted = [msg for msg in messages(final) if msg.startswith("History compacted")]
    assert compacted, "the order never continued as new"
    assert final.state == states.FULFILLED
    assert final.note == f"Note {UPDATES - 1}"  # every update kept; the replayed old POST ignored
    assert mid.approval.approved == 1 and final.decisions[0].actor == MANAGER
    assert "Approved: 2 of 2 approvals (manager, senior)" in messages(final)
    # One timeline across the runs: submitted once, every entry mirrored once under its own key.
    assert [e.kind for e in final.timeline].count("submitted") == 1
    keys = [entry.idempotency_key for entry in mocks.written()]
    assert sorted(keys) == [f"{i:04d}-{e.kind}" for i, e in enumerate(final.timeline)]
    assert len(mocks.args(m.ACT_APPLY_UPDATE)) == UPDATES


def test_a_continued_order_keeps_its_deadline_from_submission(temporal_dev_server: SharedTimeSkippingEnv):
    # Seconds, not hours, on a real server (see SharedTimeSkippingEnv): the
    # hand-over happens within the first updates, well before the reminder.
    rule = replace(large_order().approval_rule, remind_after_seconds=3, escalate_after_seconds=4.5, expire_after_seconds=6)
    inp = replace(large_order(), approval_rule=rule, continue_as_new_after_events=40)

    async def story(s: Scenario):
        handle = await s.start(inp)
        submitted = (await handle.describe()).start_time
        await s.wait_for_message(handle, "Awaiting")
        for i in range(8):
            await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(MANAGER, f"u-{i}", note=f"n{i}"))
            await s.wait_for(handle, lambda snap, i=i: snap.note == f"n{i}", f"update {i}")
        return submitted, await handle.result()  # nobody decides: the order expires

    (submitted, final), _ = temporal_dev_server.play(story, ActivityMocks())

    assert any(msg.startswith("History compacted") for msg in messages(final))
    assert final.state == states.EXPIRED
    expired_at = datetime.fromisoformat(next(e.at for e in final.timeline if e.message.startswith("Expired")))
    assert submitted + timedelta(seconds=6) <= expired_at < submitted + timedelta(seconds=12)
    # Reminded and escalated once each, not again after the continuation.
    assert len(messages(final, "reminder")) == 1 and len(messages(final, "escalation")) == 1


@pytest.mark.parametrize("carried_signal", ["cancel", "rejection"])
def test_a_cancel_or_rejection_that_arrived_during_the_hand_over_is_honoured_by_the_next_run(
    temporal: SharedTimeSkippingEnv, carried_signal,
):
    """The next run starts from the carried state alone: a cancel or rejection
    taken in while the previous run handed over must not be forgotten."""
    earlier = [
        TimelineEntry("2026-01-01T00:00:00+00:00", "submitted", "Order OD-000042 submitted (50000.00 EUR)", "clerk"),
        TimelineEntry("2026-01-01T00:00:01+00:00", "note", "Awaiting 2 approvals", ""),
        TimelineEntry("2026-01-01T00:00:02+00:00", "note", "Cancel requested by manager: Customer withdrew", "manager"),
    ]
    carried = m.OrderState(
        submitted_at="2026-01-01T00:00:00+00:00", timeline=earlier, decisions=[], seen_requests={"cancel-1": m.SIGNAL_CANCEL},
        approvals=[], priority="normal", shipping_address="1 Main Street", note="", runs=1,
        cancel=m.CancelSignal(MANAGER, "cancel-1", "Customer withdrew") if carried_signal == "cancel" else None,
        rejection=m.DecisionSignal(MANAGER, "reject-1", "Too dear") if carried_signal == "rejection" else None,
    )

    async def story(s: Scenario):
        handle = await s.start(replace(large_order(), carried=carried))
        return await handle.result()

    final, mocks = temporal.play(story, ActivityMocks())

    assert final.state == (states.CANCELLED if carried_signal == "cancel" else states.REJECTED)
    assert [e.message for e in final.timeline[:3]] == [e.message for e in earlier]
    assert mocks.names() == [fulfilment.ACT_NOTIFY]  # nothing reserved or charged
    # The next run mirrors only its own entries, numbered after the carried ones.
    assert sorted(entry.idempotency_key for entry in mocks.written())[0].startswith("0003-")

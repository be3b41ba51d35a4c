"""A manager-approved order whose desk wrote the approval gate's first note with
the order (OrderWorkflowInput.awaiting_noted, as order_submit does now): the
workflow adds the note as written, at entry 1 and at the submission's time,
counts its approval clock from the submission, and waits for the decision
without a mirror write of its own.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from temporal_bridge.approvals import rules
from temporal_bridge.contract.intents import ACT_CONFIRM_MESSAGES
from temporal_bridge.order import fulfilment, states
from temporal_bridge.order import messages as m
from tests.temporal_bridge.helpers import DAY, MANAGER, Scenario, SharedTimeSkippingEnv, order_input

# No database here (activities are mocked): CI runs it once.
pytestmark = pytest.mark.database_agnostic


async def noted_order(s: Scenario, **overrides) -> m.OrderWorkflowInput:
    """As order_submit starts it: submitted a moment ago (on the test server's clock, which other tests skip
    forward), its first note already on the mirror."""
    submitted = await s.env.get_current_time() - timedelta(seconds=2)
    return order_input(submitted_at=submitted.isoformat(), awaiting_noted=True, **overrides)


def desk_note(inp: m.OrderWorkflowInput) -> tuple[str, datetime]:
    """The note and deadline order_submit writes for `inp` (the single-manager rule of order_input)."""
    assert inp.submitted_at is not None
    rule = rules.single_manager_rule(requires_approval=True, approval_deadline_seconds=inp.approval_deadline_seconds)
    expire_at = rules.first_expiry(rule, datetime.fromisoformat(inp.submitted_at))
    return rules.awaiting_note(rule, expire_at), expire_at


def test_the_desk_noted_order_waits_for_its_decision_without_writing_and_holds_the_desk_note_as_entry_1(
        temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        inp = await noted_order(s)
        handle = await s.start(inp)
        pending = await s.wait_for(handle, lambda snap: snap.step == "Waiting for a manager's decision", "the gate's wait")
        written_while_waiting = list(s.mocks.calls)
        await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(actor=MANAGER, request_id="approve-1"))
        return inp, pending, written_while_waiting, await handle.result()

    (inp, pending, while_waiting, final), mocks = temporal.play(story)

    note, expire_at = desk_note(inp)
    assert while_waiting == []  # no activity at all before the decision
    first = pending.timeline[1]
    assert (first.kind, first.message, first.key, first.at) == ("note", note, "0001-note", inp.submitted_at)
    assert pending.approval_deadline == expire_at.isoformat()
    assert final.state == states.FULFILLED
    # The decision's confirmation is the first activity; the note is never written by the workflow, every other entry is.
    assert mocks.calls[0].name == ACT_CONFIRM_MESSAGES
    assert m.ACT_RECORD_ENTRIES not in mocks.names(mirror=True)
    keys = [entry.idempotency_key for entry in mocks.written()]
    assert "0001-note" not in keys
    assert sorted([*keys, "0001-note"]) == [f"{i:04d}-{e.kind}" for i, e in enumerate(final.timeline)]


def test_messages_delivered_with_the_first_task_come_after_the_desk_note(temporal: SharedTimeSkippingEnv):
    """A cancel and a message nobody sent from the desk, both waiting before any worker ran: the note the
    desk wrote keeps entry 1, so the mirror and the workflow agree on every key."""
    async def story(s: Scenario):
        inp = await noted_order(s)
        handle = await s.env.client.start_workflow(
            m.WORKFLOW_NAME, inp, id=f"order-desk-noted-{time.monotonic_ns()}", task_queue=s.task_queue,
            result_type=m.OrderSnapshot, start_signal="no_such_message", start_signal_args=["forged"],
        )
        s.handles.append(handle)
        await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(actor=MANAGER, request_id="cancel-1", reason="Not needed"))
        return inp, await handle.result()

    (inp, final), mocks = temporal.play(story)

    assert final.state == states.CANCELLED
    assert [e.key for e in final.timeline][:2] == ["0000-submitted", "0001-note"]
    assert final.timeline[1].message == desk_note(inp)[0]
    keys = [entry.idempotency_key for entry in mocks.written()]
    assert sorted([*keys, "0001-note"]) == [f"{i:04d}-{e.kind}" for i, e in enumerate(final.timeline)]
    assert mocks.notified() == ["cancelled"]


def test_the_desk_noted_order_expires_48_hours_after_its_submission(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        inp = await noted_order(s, approval_deadline_seconds=2 * DAY)
        return inp, await (await s.start(inp)).result()

    (inp, final), mocks = temporal.play(story)

    assert final.state == states.EXPIRED
    expired = next(e for e in final.timeline if e.message.startswith("Expired"))
    assert timedelta(hours=48) <= datetime.fromisoformat(expired.at) - datetime.fromisoformat(inp.submitted_at or "") \
        < timedelta(hours=48, seconds=1)
    assert mocks.names(mirror=True) == [fulfilment.ACT_NOTIFY]

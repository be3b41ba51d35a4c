"""The engine enforces its own rules, in the time-skipping server.

Whatever arrives through the Temporal frontend, however malformed or forged,
is refused and noted on the timeline without ever failing a workflow task,
and the order then completes on a real decision. Identity and seniority come
from the database (the confirmation stand-in answers as it would), never from
the message. A changed address after the approval goes back for approval.
"""
from __future__ import annotations

from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.common import RawValue

from temporal_bridge.approvals import messages as approval
from temporal_bridge.order import fulfilment, payments, states
from temporal_bridge.order import messages as m
from tests.temporal_bridge.helpers import MANAGER, REQUESTER, ActivityMocks, Scenario, SharedTimeSkippingEnv, order_input
from tests.temporal_bridge.order.test_approval_gate import MANAGER2, SENIOR, approve, large_order, messages

# No database here (activities are mocked or no order is run): CI runs it once.
pytestmark = pytest.mark.database_agnostic

MEGABYTE = "x" * 1_000_000

# Each: (signal name, args as sent, a fragment of the note it leaves, or None
# for a payload the SDK cannot decode at all, which it drops with a warning).
HOSTILE_MESSAGES: list[tuple[str, list[Any], str | None]] = [
    (m.SIGNAL_APPROVE, [], "Approval refused: expected one message, got 0"),
    (m.SIGNAL_APPROVE, [approve(MANAGER, "two-1"), approve(MANAGER, "two-2")], "Approval refused: expected one message, got 2"),
    (m.SIGNAL_APPROVE, ["approve please"], "the message is a str, not an object"),
    (m.SIGNAL_APPROVE, [None], "the message is a NoneType, not an object"),
    (m.SIGNAL_APPROVE, [{"actor": MEGABYTE, "request_id": "mega-1"}], "field 'actor' is longer than 150 characters"),
    (m.SIGNAL_APPROVE, [{"actor": MANAGER, "request_id": "mega-2", "comment": MEGABYTE}], "field 'comment' is longer than 500 characters"),
    (m.SIGNAL_APPROVE, [{"actor": None, "request_id": None}], "field 'actor' is missing"),
    (m.SIGNAL_APPROVE, [{"actor": 7, "request_id": "int-actor"}], "field 'actor' must be text, got int"),
    (m.SIGNAL_REJECT, [{"actor": MANAGER, "request_id": "list-comment", "comment": ["no"]}], "field 'comment' must be text, got list"),
    (m.SIGNAL_CANCEL, [{"actor": MANAGER, "request_id": "no-reason"}], "Cancel by manager refused: field 'reason' is missing"),
    (
        m.SIGNAL_UPDATE, [{"actor": MANAGER, "request_id": "big-address", "shipping_address": MEGABYTE}],
        "field 'shipping_address' is longer than 500",
    ),
    (m.SIGNAL_UPDATE, [{"actor": MANAGER, "request_id": "bad-priority", "priority": "yesterday"}], "unknown priority 'yesterday'"),
    (m.SIGNAL_UPDATE, [{"actor": MANAGER, "request_id": "null-note", "note": {"a": 1}}], "field 'note' must be text, got dict"),
    (m.SIGNAL_PROGRESS, [{"percent": "all", "step": None}], None),
    ("erase_order", [{"everything": True}], "Message 'erase_order' ignored: the order workflow has no such message"),
    (m.SIGNAL_APPROVE, [RawValue(Payload(metadata={"encoding": b"binary/unknown"}, data=b"\x00\xff"))], None),
]


def steps(mocks: ActivityMocks) -> list[str]:
    """The business steps that ran, in order (not the update's record)."""
    return [name for name in mocks.names() if name != m.ACT_APPLY_UPDATE]


async def task_failures(handle: WorkflowHandle) -> list[str]:
    """WorkflowTaskFailed events in the order's history, with their causes."""
    failures = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failures.append(event.workflow_task_failed_event_attributes.failure.message)
    return failures


def test_no_message_of_any_shape_fails_a_task_and_a_real_approval_then_completes_the_order(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input())
        await s.wait_for_message(handle, "Awaiting")
        for name, args, _ in HOSTILE_MESSAGES:
            await handle.signal(name, args=args)
        noted = await s.wait_for(handle, lambda snap: any("more malformed messages refused" in n for n in messages(snap, "note"))
                                 and any("erase_order" in n for n in messages(snap, "note")), "the hostile messages counted")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "real-1", comment="ok"))
        return noted, await handle.result(), await task_failures(handle)

    (noted, final, failures), mocks = temporal.play(story)

    assert failures == []
    notes = messages(noted, "note")
    # The first few malformed messages are noted one by one, the rest counted
    # (each shape's reason: test_message_checks.py).
    malformed = [fragment for name, _, fragment in HOSTILE_MESSAGES if fragment and name != "erase_order"]
    for fragment in malformed[:3]:
        assert any(fragment in note for note in notes), f"no note containing {fragment!r} in {notes}"
    assert f"{len(malformed) - 3} more malformed messages refused ({len(malformed)} in all)" in notes
    assert "Message 'erase_order' ignored: the order workflow has no such message" in notes
    assert all(len(entry.message) < 400 for entry in noted.timeline), "no megabyte string reached the timeline"
    assert noted.state == states.PENDING_APPROVAL and noted.decisions == []
    assert final.state == states.FULFILLED
    assert [d.actor for d in final.decisions] == [MANAGER]
    # Nothing oversized reached an activity either.
    assert max(len(repr(call.arg)) for call in mocks.calls) < 5_000


def test_forged_identities_and_seniority_are_refused_by_the_database_not_believed(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order())
        await s.wait_for_message(handle, "Awaiting 2 approvals")
        await handle.signal(m.SIGNAL_APPROVE, approve("mallory", "forged-1", senior=True))  # no such user
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER2, "forged-2", senior=True))  # claims seniority it lacks
        await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(REQUESTER, "forged-3", "I changed my mind"))  # clerk may not cancel
        await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal("mallory", "forged-4", shipping_address="1 Fence Lane"))
        after = await s.wait_for(handle, lambda snap: len([n for n in messages(snap) if "refused" in n]) >= 3, "the forgeries refused")
        verdicts = {rid: await handle.query(m.QUERY_VERDICT, rid, result_type=m.RequestVerdict)
                    for rid in ("forged-1", "forged-2", "forged-3", "forged-4", "never-sent")}
        await handle.signal(m.SIGNAL_APPROVE, approve(SENIOR, "real-senior"))  # claims nothing, is senior
        return after, verdicts, await handle.result()

    (after, verdicts, final), mocks = temporal.play(story)

    assert after.state == states.PENDING_APPROVAL and after.shipping_address == "1 Main Street"
    assert "Approval by mallory refused: mallory is not a user of the desk" in messages(after)
    assert "Cancel by clerk refused: clerk is not allowed to cancel orders" in messages(after)
    assert "Update by mallory refused: mallory is not a user of the desk" in messages(after)
    # manager2 is a real approver: one approval counts, but not as the senior one.
    assert after.approval.approved_by == [MANAGER2] and after.approval.senior_approved is False
    assert (verdicts["forged-1"].status, verdicts["forged-1"].reason) == (m.VERDICT_REFUSED, "mallory is not a user of the desk")
    assert verdicts["forged-2"].status == m.VERDICT_ACCEPTED
    assert verdicts["forged-3"].status == m.VERDICT_REFUSED
    assert verdicts["never-sent"].status == m.VERDICT_UNKNOWN
    assert final.state == states.FULFILLED
    assert [(d.actor, d.senior) for d in final.decisions] == [(MANAGER2, False), (SENIOR, True)]
    assert sorted((c.actor, c.signal) for c in mocks.intents_checked()) == sorted([
        ("mallory", m.SIGNAL_APPROVE), (MANAGER2, m.SIGNAL_APPROVE), (REQUESTER, m.SIGNAL_CANCEL),
        ("mallory", m.SIGNAL_UPDATE), (SENIOR, m.SIGNAL_APPROVE),
    ])


def test_a_request_id_burnt_by_a_malformed_message_still_works_for_the_real_page(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input())
        await s.wait_for_message(handle, "Awaiting")
        await handle.signal(m.SIGNAL_APPROVE, {"actor": 5, "request_id": "page-1"})
        await s.wait_for_message(handle, "must be text")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "page-1"))
        return await handle.result()

    final, _ = temporal.play(story)
    assert final.state == states.FULFILLED and [d.request_id for d in final.decisions] == ["page-1"]


async def approved_then_moved(s: Scenario, inp: m.OrderWorkflowInput | None = None) -> tuple[WorkflowHandle, m.OrderSnapshot]:
    """An order approved by a manager whose clerk then changes the address: back for approval."""
    s.mocks.charge_blocks = True  # the move arrives while the order is processing, before fulfilment
    handle = await s.start(inp or order_input())
    await s.wait_for_message(handle, "Awaiting")
    await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "approve-1"))
    # As the clerk would: after seeing the approval (a move sent while it is
    # still being checked voids it instead: see the test below).
    await s.wait_for_message(handle, "Approved by")
    await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(REQUESTER, "move-1", shipping_address="9 Fence Lane"))
    await s.wait_for_message(handle, "Updated by")
    s.mocks.charge_released = True
    back = await s.wait_for(handle, lambda snap: snap.state == states.PENDING_APPROVAL and any(
        e.message.startswith("Back to approval") for e in snap.timeline), "the order back for approval")
    return handle, back


def test_an_address_changed_after_the_approval_goes_back_for_approval_before_it_ships(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle, back = await approved_then_moved(s)
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "approve-2", comment="New address checked"))
        return back, await handle.result()

    (back, final), mocks = temporal.play(story)

    assert m.ACTION_APPROVE in back.allowed_actions and back.approval.approved == 0
    update = next(msg for msg in messages(final, "update"))
    assert update == ("Updated by clerk: shipping address “1 Main Street” → “9 Fence Lane”, "
                      "the order goes back for approval before it ships")
    assert mocks.args(m.ACT_APPLY_UPDATE)[0].reapproval is True
    assert final.state == states.FULFILLED and final.shipping_address == "9 Fence Lane"
    # Stock and payment were held, not taken twice; the second approval came before fulfilment.
    assert steps(mocks) == [fulfilment.ACT_RESERVE_STOCK, payments.ACT_CHARGE_PAYMENT, fulfilment.ACT_FULFIL,
                            fulfilment.ACT_SHIP, fulfilment.ACT_NOTIFY]
    order = [e.message for e in final.timeline]
    assert order.index(next(x for x in order if x.startswith("Back to approval"))) < order.index("Fulfilment started")
    assert [d.request_id for d in final.decisions] == ["approve-1", "approve-2"]


async def approval_checked_while_moved(s: Scenario) -> tuple[WorkflowHandle, m.OrderSnapshot]:
    """A manager approves; the clerk moves the order while the database is still checking the manager."""
    s.mocks.verify_delays[MANAGER] = 1.0  # the clerk's check is answered first
    handle = await s.start(order_input())
    await s.wait_for_message(handle, "Awaiting")
    await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "approve-1"))
    await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(REQUESTER, "move-1", shipping_address="9 Fence Lane"))
    # Either the approval is refused (its check ended after the move), or it
    # counted for the old address and the move sends the order back for approval.
    return handle, await s.wait_for(handle, lambda snap: snap.state == states.PENDING_APPROVAL and any(
        "approve the new address" in e.message or e.message.startswith("Back to approval") for e in snap.timeline), "the move handled")


def test_an_approval_still_being_checked_when_the_address_changes_does_not_count(temporal: SharedTimeSkippingEnv):
    """The approver saw the old address: their approval, checked while the
    clerk moved the order, must not send goods to the new one."""
    async def story(s: Scenario):
        handle, waiting = await approval_checked_while_moved(s)
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER2, "approve-2", comment="New address checked"))
        final = await handle.result()
        verdicts = {rid: await handle.query(m.QUERY_VERDICT, rid, result_type=m.RequestVerdict) for rid in ("approve-1", "approve-2")}
        return waiting, verdicts, final

    (waiting, verdicts, final), mocks = temporal.play(story)
    assert waiting.state == states.PENDING_APPROVAL and m.ACTION_APPROVE in waiting.allowed_actions
    assert verdicts["approve-2"].status == m.VERDICT_ACCEPTED
    assert final.state == states.FULFILLED and final.shipping_address == "9 Fence Lane"
    assert [d.request_id for d in final.decisions][-1] == "approve-2"
    order = [e.message for e in final.timeline]
    moved = order.index(next(x for x in order if x.startswith("Updated by")))
    assert order.index("Approved by manager2: New address checked") > moved
    assert not any(x.startswith(("Fulfilment", "Shipped")) for x in order[:moved]), "nothing moved towards the old address"


def test_a_rejected_re_approval_refunds_and_releases_stock(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle, _ = await approved_then_moved(s)
        await handle.signal(m.SIGNAL_REJECT, approve(MANAGER2, "reject-1", comment="Not our customer's address"))
        return await handle.result()

    final, mocks = temporal.play(story)
    assert final.state == states.REJECTED
    assert steps(mocks) == [fulfilment.ACT_RESERVE_STOCK, payments.ACT_CHARGE_PAYMENT, payments.ACT_REFUND_PAYMENT,
                            fulfilment.ACT_RELEASE_STOCK, fulfilment.ACT_NOTIFY]
    assert mocks.notified() == ["rejected"]


def test_the_address_is_locked_once_fulfilment_started_but_priority_stays_free(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input(requires_approval=False))
        await s.wait_for_state(handle, states.FULFILLING)
        await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(REQUESTER, "move-late", shipping_address="9 Fence Lane"))
        await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(REQUESTER, "rush", priority="urgent"))
        def both_updates(snap) -> bool:
            return snap.priority == "urgent" and any("locked" in n for n in messages(snap))

        locked = await s.wait_for(handle, both_updates, "both updates")
        verdict = await handle.query(m.QUERY_VERDICT, "move-late", result_type=m.RequestVerdict)
        # End the order properly: a terminated run's blocked activity would
        # hold the shared time-skipping server's clock for the next tests.
        await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "stop", "test over"))
        return locked, verdict, await handle.result()

    (locked, verdict, final), _ = temporal.play(story, ActivityMocks(fulfil_blocks=True))
    assert final.state == states.CANCELLED
    assert locked.shipping_address == "1 Main Street"
    assert "Update by clerk refused: the shipping address is locked once fulfilment has started" in messages(locked)
    assert (verdict.status, verdict.reason) == (m.VERDICT_REFUSED, "the shipping address is locked once fulfilment has started")


def test_address_change_while_approvals_are_collected_voids_the_ones_given(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order())
        await s.wait_for_message(handle, "Awaiting 2 approvals")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-1"))
        await s.wait_for_message(handle, "Approval 1 of 2 by manager")
        await handle.signal(m.SIGNAL_UPDATE, m.UpdateSignal(REQUESTER, "move-1", shipping_address="9 Fence Lane"))
        voided = await s.wait_for(handle, lambda snap: snap.approval.approved == 0, "the approval voided")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-2"))  # the same person may approve the new address
        await handle.signal(m.SIGNAL_APPROVE, approve(SENIOR, "a-3"))
        return voided, await handle.result()

    (voided, final), mocks = temporal.play(story)
    assert "the approvals given so far no longer count" in messages(voided, "update")[0]
    assert final.state == states.FULFILLED
    assert sorted(final.approval.approved_by) == [MANAGER, SENIOR]  # checked concurrently: either order


def test_a_re_approval_round_reminds_the_approvers_again(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        # One manager under a policy with a reminder at 24 h and an escalation at 36 h.
        handle, _ = await approved_then_moved(s, large_order(approvals_required=1, requires_senior=False))
        return await handle.result()  # nobody decides again: reminder, escalation, expiry

    final, mocks = temporal.play(story)
    assert final.state == states.EXPIRED
    keys = [notice.idempotency_key for notice in mocks.args(approval.ACT_NOTIFY_APPROVERS)]
    assert keys == ["reminder-42-round-2", "escalation-42-round-2"], "new emails for the new round, not the first round's keys"
    assert mocks.names()[-3:] == [payments.ACT_REFUND_PAYMENT, fulfilment.ACT_RELEASE_STOCK, fulfilment.ACT_NOTIFY]

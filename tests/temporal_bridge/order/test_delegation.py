"""Decisions on behalf of someone, in the time-skipping server.

The workflow passes `on_behalf_of` to the identity check (the confirmation
stand-in answers as the database would: only while a delegation stands),
counts both people once, lets only the substitute's own seniority fill a
senior slot, refuses either person deciding on their own order, and records
the decision "by X on behalf of Y".
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from tests.temporal_bridge.helpers import (
    MANAGER,
    MANAGER_ACTIONS,
    REQUESTER,
    ActivityMocks,
    Scenario,
    SharedTimeSkippingEnv,
    desk_people,
    order_input,
)
from tests.temporal_bridge.order.test_approval_gate import MANAGER2, SENIOR, approve, large_order, messages

pytestmark = pytest.mark.database_agnostic

SENIOR2 = "senior2"


def for_(delegator: str, actor: str, request_id: str, comment: str = "") -> m.DecisionSignal:
    return replace(approve(actor, request_id, comment=comment), on_behalf_of=delegator)


def mocks_with(**delegations: str) -> ActivityMocks:
    people = {**desk_people(), SENIOR2: (MANAGER_ACTIONS, True)}
    return ActivityMocks(people=people, delegations=delegations)


def refused(snapshot: m.OrderSnapshot) -> list[str]:
    return [n for n in messages(snapshot, "note") if "ignored" in n or "refused" in n]


def test_a_non_senior_substitute_counts_once_for_both_people_and_cannot_fill_the_senior_slot(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order())
        await s.wait_for_message(handle, "Awaiting 2 approvals")
        await handle.signal(m.SIGNAL_APPROVE, for_(SENIOR, MANAGER, "sub-1", comment="for the boss"))
        await s.wait_for_message(handle, "Approval 1 of 2 by manager on behalf of senior")
        await handle.signal(m.SIGNAL_APPROVE, approve(SENIOR, "back-early"))  # counted through the substitute
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "self-too"))  # the substitute counted too
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER2, "not-senior"))  # the senior slot is left
        noted = await s.wait_for(handle, lambda snap: len(refused(snap)) >= 3, "three refusals")
        await handle.signal(m.SIGNAL_APPROVE, approve(SENIOR2, "real-senior"))
        return noted, await handle.result()

    (noted, final), mocks = temporal.play(story, mocks_with(senior=MANAGER))

    assert noted.approval.approved_by == [MANAGER] and noted.approval.senior_approved is False
    assert refused(noted) == [
        "Approval by senior ignored: manager already approved on behalf of senior; one person counts once",
        "Approval by manager ignored: manager has already approved; one person counts once",
        "Approval by manager2 ignored: the remaining approval must come from a senior approver",
    ]
    assert final.state == states.FULFILLED
    assert [(d.actor, d.on_behalf_of, d.senior) for d in final.decisions] == [(MANAGER, SENIOR, False), (SENIOR2, "", True)]
    recorded = mocks.args(m.ACT_RECORD_DECISION)
    assert [(r.actor, r.on_behalf_of, r.senior) for r in recorded] == [(MANAGER, SENIOR, False), (SENIOR2, "", True)]
    checks = [(c.actor, c.on_behalf_of) for c in mocks.intents_checked()]
    assert (MANAGER, SENIOR) in checks and (SENIOR2, "") in checks


def test_a_senior_substitute_fills_the_senior_slot_by_their_own_seniority(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(large_order())
        await s.wait_for_message(handle, "Awaiting 2 approvals")
        await handle.signal(m.SIGNAL_APPROVE, for_(MANAGER, SENIOR, "sub-1"))
        await s.wait_for_message(handle, "Approval 1 of 2 by senior on behalf of manager (senior)")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER2, "m2"))
        return await handle.result()

    final, _ = temporal.play(story, mocks_with(manager=SENIOR))
    assert final.state == states.FULFILLED
    assert [(d.actor, d.on_behalf_of, d.senior) for d in final.decisions] == [(SENIOR, MANAGER, True), (MANAGER2, "", False)]


def test_without_a_standing_delegation_the_database_refuses_and_nothing_counts(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input())
        await s.wait_for_message(handle, "Awaiting")
        await handle.signal(m.SIGNAL_APPROVE, for_(MANAGER, MANAGER2, "forged-1"))
        noted = await s.wait_for_message(handle, "refused")
        verdict = await handle.query(m.QUERY_VERDICT, "forged-1", result_type=m.RequestVerdict)
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "own"))  # the delegator never counted: free to decide
        return noted, verdict, await handle.result()

    (noted, verdict, final), _ = temporal.play(story, mocks_with(manager=SENIOR))
    why = "no delegation from manager to manager2 stands now"
    assert f"Approval by manager2 on behalf of manager refused: {why}" in messages(noted)
    assert noted.decisions == [] and (verdict.status, verdict.reason) == (m.VERDICT_REFUSED, why)
    assert final.state == states.FULFILLED and [(d.actor, d.on_behalf_of) for d in final.decisions] == [(MANAGER, "")]


def test_nobody_decides_on_behalf_of_the_requester(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input())
        await s.wait_for_message(handle, "Awaiting")
        await handle.signal(m.SIGNAL_REJECT, replace(for_(REQUESTER, MANAGER, "for-clerk"), comment="no"))
        noted = await s.wait_for_message(handle, "ignored")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER2, "ok"))
        return noted, await handle.result()

    (noted, final), mocks = temporal.play(story, mocks_with(clerk=MANAGER))
    why = "clerk is the requester, and nobody decides on their own order"
    assert f"Decision by manager on behalf of clerk ignored: {why}" in messages(noted)
    assert final.state == states.FULFILLED
    # Refused before the database was asked.
    assert [c.request_id for c in mocks.args(m.ACT_RECORD_DECISION)] == ["ok"]
    assert all(c.on_behalf_of == "" for c in mocks.intents_checked())


def test_a_single_approval_on_behalf_is_on_the_timeline_and_in_the_record(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input())
        await s.wait_for_message(handle, "Awaiting")
        await handle.signal(m.SIGNAL_APPROVE, for_(MANAGER, MANAGER2, "sub-1", comment="while away"))
        return await handle.result()

    final, mocks = temporal.play(story, mocks_with(manager=MANAGER2))
    assert final.state == states.FULFILLED
    assert "Approved by manager2 on behalf of manager: while away" in messages(final, "decision")
    [record] = mocks.args(m.ACT_RECORD_DECISION)
    assert (record.actor, record.on_behalf_of, record.comment) == (MANAGER2, MANAGER, "while away")
    # The entry reached the mirror too.
    assert any(e.message.startswith("Approved by manager2 on behalf of manager") for e in mocks.written())

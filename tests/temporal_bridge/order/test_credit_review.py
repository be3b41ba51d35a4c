"""The credit check after the approval, in the time-skipping server: the
reservation checks the customer's limit in its own transaction; within it the
order goes on with no extra step; over it, nothing is reserved and the order
waits on hold for finance, who raise the limit (the database then says so) or
cancel it.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from temporal_bridge.order import fulfilment, holds, states
from temporal_bridge.order import messages as m
from temporal_bridge.order.holds import HoldResult, HoldsLifted
from tests.temporal_bridge.helpers import MANAGER, ActivityMocks, Scenario, SharedTimeSkippingEnv, desk_people, order_input
from tests.temporal_bridge.order.test_approval_gate import approve, messages
from tests.temporal_bridge.order.test_order_workflow import PROCESS_STEPS, mirrored_states

pytestmark = pytest.mark.database_agnostic

OVER = HoldResult(held=True, reason="open balance 12,400.00 + this order 3,000.00 exceeds the credit limit 10,000.00",
                  recheck_seconds=300)
WITHIN = HoldResult(held=False, reason="open balance 12,400.00 + this order 3,000.00 is within the credit limit 20,000.00")
HELD_TEXT = "Held for credit review: open balance 12,400.00 + this order 3,000.00 exceeds the credit limit 10,000.00"


def over_the_limit() -> ActivityMocks:
    # fiona is in Finance: she may cancel orders (and raise limits, which the workflow never hears of).
    return ActivityMocks(holds={holds.STAGE_CREDIT: OVER}, people={**desk_people(), "fiona": (frozenset({m.SIGNAL_CANCEL}), False)})


def credit_reads(mocks: ActivityMocks) -> list[holds.HoldInput]:
    return [inp for inp in mocks.args(holds.ACT_READ_HOLD) if inp.stage == holds.STAGE_CREDIT]


def reservation_calls(mocks: ActivityMocks) -> list[bool]:
    """Each call of the reservation step: True if it checked the credit first (held, it reserved nothing)."""
    return [inp.credit_check for inp in mocks.args(fulfilment.ACT_RESERVE_STOCK)]


async def approved_and_held(s: Scenario):
    handle = await s.start(order_input())
    await s.wait_for_message(handle, "Awaiting a manager's decision")
    await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "approve-1"))
    return handle, await s.wait_for_state(handle, states.ON_HOLD)


def test_within_the_limit_the_order_goes_on_with_the_check_inside_the_reservation(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input())
        await s.wait_for_message(handle, "Awaiting a manager's decision")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "approve-1"))
        return await handle.result()

    final, mocks = temporal.play(story)

    assert final.state == states.FULFILLED
    assert mocks.names() == PROCESS_STEPS, "no step of its own: the reservation checks the credit"
    [reserve] = mocks.args(fulfilment.ACT_RESERVE_STOCK)
    assert reserve.credit_check
    assert [e.status for e in reserve.record.before] == [states.APPROVED, states.PROCESSING], "the approval is written with it"
    assert not credit_reads(mocks)
    assert not messages(final, "hold") and not messages(final, "hold_released") and final.hold_reason == ""
    assert states.ON_HOLD not in mirrored_states(mocks)


def test_over_the_limit_the_order_waits_on_hold_until_finance_raises_the_limit(temporal: SharedTimeSkippingEnv):
    mocks = over_the_limit()

    async def story(s: Scenario):
        handle, held = await approved_and_held(s)
        await s.env.sleep(timedelta(hours=3))
        done_while_held = mocks.names()
        mocks.holds[holds.STAGE_CREDIT] = WITHIN  # finance raised the limit: the database says so
        await handle.signal(holds.SIGNAL_HOLDS_LIFTED, HoldsLifted(by="fiona"))
        return held, done_while_held, await handle.result()

    (held, done_while_held, final), _ = temporal.play(story, mocks)

    assert held.state == states.ON_HOLD and held.hold_reason == OVER.reason
    assert held.step == f"Held: {OVER.reason}"
    assert messages(held, "hold") == [HELD_TEXT]
    assert done_while_held[0] == fulfilment.ACT_RESERVE_STOCK, "the check, held: nothing reserved"
    assert set(done_while_held[1:]) == {holds.ACT_READ_HOLD} and len(done_while_held) >= 30, "nothing charged; read every 5 minutes"
    assert messages(final, "hold") == [HELD_TEXT], "said once, not per recheck"
    assert messages(final, "hold_released") == [f"Released: credit review passed: {WITHIN.reason}"]
    assert final.state == states.FULFILLED and final.hold_reason == ""
    assert mirrored_states(mocks)[:5] == [states.PENDING_APPROVAL, states.APPROVED, states.PROCESSING, states.ON_HOLD, states.PROCESSING]
    assert reservation_calls(mocks) == [True, False], "checked and held, then reserved once after the release"


def test_the_recheck_timer_releases_the_order_when_nobody_signals(temporal: SharedTimeSkippingEnv):
    """Another order of the customer ended, or the limit was raised outside the admin: no signal comes."""
    mocks = over_the_limit()

    async def story(s: Scenario):
        handle, _ = await approved_and_held(s)
        mocks.holds[holds.STAGE_CREDIT] = WITHIN
        return await handle.result()

    final, _ = temporal.play(story, mocks)

    assert final.state == states.FULFILLED
    assert messages(final, "hold_released") == [f"Released: credit review passed: {WITHIN.reason}"]


def test_finance_cancels_a_held_order_and_nothing_was_reserved_or_charged(temporal: SharedTimeSkippingEnv):
    mocks = over_the_limit()

    async def story(s: Scenario):
        handle, _ = await approved_and_held(s)
        await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal("fiona", "cancel-1", "Credit refused"))
        return await handle.result()

    final, _ = temporal.play(story, mocks)

    assert final.state == states.CANCELLED and final.hold_reason == ""
    assert "Cancelled: Credit refused" in messages(final, "status")
    assert not messages(final, "hold_released")
    assert [name for name in mocks.names() if name != holds.ACT_READ_HOLD] == [fulfilment.ACT_RESERVE_STOCK, fulfilment.ACT_NOTIFY]
    assert reservation_calls(mocks) == [True], "only the held check, which reserved nothing: nothing to release"
    assert mocks.notified() == ["cancelled"]


def test_a_forged_holds_lifted_signal_releases_nothing(temporal: SharedTimeSkippingEnv):
    mocks = over_the_limit()

    async def story(s: Scenario):
        handle, _ = await approved_and_held(s)
        reads = len(credit_reads(mocks))
        await handle.signal(holds.SIGNAL_HOLDS_LIFTED, HoldsLifted(by="mallory"))
        await handle.signal(holds.SIGNAL_HOLDS_LIFTED, ["not", "a", "message"])
        await s.wait_for(handle, lambda _: len(credit_reads(mocks)) > reads, "the read after the wake-up")
        after = await s.snapshot(handle)
        # Ended by finance, so that nothing is in flight when the scenario ends.
        await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal("fiona", "cancel-1", "Credit refused"))
        return after, await handle.result()

    (after, final), _ = temporal.play(story, mocks)

    assert after.state == states.ON_HOLD and after.hold_reason == OVER.reason
    assert not messages(final, "hold_released") and messages(final, "hold") == [HELD_TEXT]
    assert final.state == states.CANCELLED
    assert reservation_calls(mocks) == [True]


def test_a_managers_fraud_release_cannot_end_a_credit_review(temporal: SharedTimeSkippingEnv):
    mocks = over_the_limit()

    async def story(s: Scenario):
        handle, _ = await approved_and_held(s)
        await handle.signal(holds.SIGNAL_RELEASE_HOLD, m.DecisionSignal("manager2", "release-1", "looks fine"))
        after = await s.wait_for_message(handle, "Release by manager2 refused")
        await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal("fiona", "cancel-1", "Credit refused"))
        return after, await handle.result()

    (after, final), _ = temporal.play(story, mocks)

    assert after.state == states.ON_HOLD and after.hold_reason == OVER.reason
    assert "Release by manager2 refused: only finance ends a credit review, by raising the limit or cancelling" in messages(after)
    assert final.state == states.CANCELLED and not messages(final, "hold_released")
    assert reservation_calls(mocks) == [True]

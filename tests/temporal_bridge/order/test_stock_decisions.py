"""Lines no warehouse holds, in the time-skipping server: the order waits, visibly, for the requester's choice per
line (drop, backorder, or cancel the order), then carries it out; refused choices change nothing."""
from __future__ import annotations

import pytest

from temporal_bridge.approvals.messages import ApprovalRule
from temporal_bridge.order import fulfilment, payments, states
from temporal_bridge.order import messages as m
from temporal_bridge.order import stock_decisions as sd
from temporal_bridge.order.split_plan import PlannedLine
from temporal_bridge.order.stock_decisions import StockDecisionSignal
from tests.temporal_bridge.helpers import (
    DAY,
    MANAGER,
    REQUESTER,
    ActivityMocks,
    Scenario,
    SharedTimeSkippingEnv,
    order_input,
    poll,
)
from tests.temporal_bridge.order.test_approval_gate import approve, messages

pytestmark = pytest.mark.database_agnostic

PRINTER, TONER = PlannedLine(7, 2), PlannedLine(9, 5)


def short_of(*lines: PlannedLine, **knobs) -> ActivityMocks:
    return ActivityMocks(unavailable=list(lines), **knobs)


def choose(request_id: str = "stock-1", actor: str = REQUESTER, **choices: str) -> StockDecisionSignal:
    return StockDecisionSignal(actor, request_id, {key.removeprefix("p"): value for key, value in choices.items()})


async def waiting(s: Scenario, **overrides):
    handle = await s.start(order_input(requires_approval=False, **overrides))
    snap = await s.wait_for(handle, lambda snap: snap.stock_decision_open, "the stock decision open")
    return handle, snap


def decisions(mocks: ActivityMocks) -> list[sd.StockDecisionInput]:
    return mocks.args(sd.ACT_APPLY_STOCK_DECISION)


def test_the_order_waits_visibly_then_a_dropped_line_leaves_before_the_payment(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle, snap = await waiting(s)
        await handle.signal(sd.SIGNAL_STOCK_DECISION, choose(p7=sd.DROP))
        return snap, await handle.result()

    (snap, final), mocks = temporal.play(story, short_of(PRINTER))

    assert (snap.state, snap.step, snap.unavailable) == (states.PROCESSING, sd.WAITING_STEP, [PRINTER])
    assert m.ACTION_CANCEL in snap.allowed_actions
    assert final.state == states.FULFILLED
    assert mocks.names() == [fulfilment.ACT_RESERVE_STOCK, sd.ACT_APPLY_STOCK_DECISION,
                             payments.ACT_CHARGE_PAYMENT, fulfilment.ACT_FULFIL, fulfilment.ACT_SHIP, fulfilment.ACT_NOTIFY]
    [reserve] = mocks.args(fulfilment.ACT_RESERVE_STOCK)
    assert reserve.keep_available
    [decision] = decisions(mocks)
    assert (decision.actor, decision.dropped, decision.backordered, decision.why) == (REQUESTER, [PRINTER], [], "chosen by clerk")
    [wait] = messages(final, sd.KIND_STOCK_WAIT)
    assert wait.startswith("Waiting for a stock decision: no warehouse holds 2 × P-7")
    assert messages(final, sd.KIND_STOCK_DECIDED) == ["Stock decision: dropped 1, backordered 0, filled 0 (chosen by clerk)"]
    # Written when it happened, so the list shows the order waiting on a person.
    assert [e.kind for e in mocks.written()].count(sd.KIND_STOCK_WAIT) == 1
    assert not final.stock_decision_open and final.unavailable == []


def test_a_backordered_line_waits_for_a_restock_that_wakes_the_order(temporal: SharedTimeSkippingEnv):
    mocks = short_of(PRINTER, TONER)

    async def story(s: Scenario):
        handle, _ = await waiting(s)
        await handle.signal(sd.SIGNAL_STOCK_DECISION, choose(p7=sd.BACKORDER, p9=sd.DROP))
        snap = await s.wait_for(handle, lambda snap: snap.step.startswith("Backordered"), "the backorder's wait")
        mocks.restocked = True  # the admin's receipt (or the inventory webhook) committed, then woke the order
        await handle.signal(sd.SIGNAL_STOCK_ARRIVED)
        return snap, await handle.result()

    (snap, final), _ = temporal.play(story, mocks)

    assert snap.unavailable == [PRINTER] and not snap.stock_decision_open
    assert final.state == states.FULFILLED
    first, last = decisions(mocks)
    assert (first.dropped, first.backordered, first.backorder_until is not None) == ([TONER], [PRINTER], True)
    assert (last.dropped, last.filled) == ([], [PRINTER])
    recheck = mocks.args(fulfilment.ACT_RESERVE_STOCK)[1]
    assert recheck.keep_available and recheck.record is None  # a recheck writes no entry of its own
    assert mocks.names().index(payments.ACT_CHARGE_PAYMENT) > mocks.names().index(sd.ACT_APPLY_STOCK_DECISION)


def test_a_backorder_not_restocked_by_its_deadline_is_dropped_and_the_order_goes_on(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle, _ = await waiting(s, backorder_wait_seconds=DAY, restock_recheck_seconds=6 * 3600)
        await handle.signal(sd.SIGNAL_STOCK_DECISION, choose(p7=sd.BACKORDER))
        return await handle.result()  # time skips through the rechecks to the deadline

    final, mocks = temporal.play(story, short_of(PRINTER))

    assert final.state == states.FULFILLED
    first, last = decisions(mocks)
    assert first.backordered == [PRINTER] and last.dropped == [PRINTER] and last.why.startswith("not restocked by ")
    rechecks = [r for r in mocks.args(fulfilment.ACT_RESERVE_STOCK) if r.record is None]
    assert 3 <= len(rechecks) <= 5  # every 6 hours for a day, not more


def test_a_cancel_while_waiting_releases_the_reserved_stock_and_takes_no_payment(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle, _ = await waiting(s)
        await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "cancel-1", "Customer will order elsewhere"))
        return await handle.result()

    final, mocks = temporal.play(story, short_of(PRINTER))

    assert final.state == states.CANCELLED
    assert payments.ACT_CHARGE_PAYMENT not in mocks.names() and sd.ACT_APPLY_STOCK_DECISION not in mocks.names()
    assert fulfilment.ACT_RELEASE_STOCK in mocks.names()


def test_a_cancel_during_a_backorder_ends_the_wait(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle, _ = await waiting(s)
        await handle.signal(sd.SIGNAL_STOCK_DECISION, choose(p7=sd.BACKORDER))
        await s.wait_for(handle, lambda snap: snap.step.startswith("Backordered"), "the backorder's wait")
        await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "cancel-1", "Too slow"))
        return await handle.result()

    final, mocks = temporal.play(story, short_of(PRINTER))

    assert final.state == states.CANCELLED
    assert fulfilment.ACT_RELEASE_STOCK in mocks.names() and payments.ACT_CHARGE_PAYMENT not in mocks.names()


def test_no_decision_in_time_fails_the_order_with_its_stock_released(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(order_input(requires_approval=False, stock_decision_timeout_seconds=2 * DAY))
        return await handle.result()

    final, mocks = temporal.play(story, short_of(PRINTER))

    assert final.state == states.FAILED
    assert "nobody chose" in final.failure_reason
    assert fulfilment.ACT_RELEASE_STOCK in mocks.names()


def test_dropping_every_line_cancels_the_order(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle, _ = await waiting(s)
        await handle.signal(sd.SIGNAL_STOCK_DECISION, choose(p7=sd.DROP))
        return await handle.result()

    final, mocks = temporal.play(story, short_of(PRINTER, lines_left=0))

    assert final.state == states.CANCELLED
    assert "every line was dropped" in messages(final)[-1]
    assert fulfilment.ACT_RELEASE_STOCK in mocks.names() and payments.ACT_CHARGE_PAYMENT not in mocks.names()


def test_a_drop_into_another_approval_rule_sends_the_order_back_for_approval(temporal: SharedTimeSkippingEnv):
    standard = ApprovalRule(policy_id=3, policy_name="Standard orders", approvals_required=1)

    async def story(s: Scenario):
        handle, _ = await waiting(s)
        await handle.signal(sd.SIGNAL_STOCK_DECISION, choose(p7=sd.DROP))
        back = await s.wait_for_message(handle, "Back to approval")
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "approve-2"))
        return back, await handle.result()

    (back, final), _ = temporal.play(story, short_of(PRINTER, rule_after_drop=standard))

    assert back.state == states.PENDING_APPROVAL
    assert any(text.startswith("Back to approval: the total is now 1000.00 EUR, under another approval rule") for text in messages(back))
    # The automatic approval of the first round, then the manager under the new rule.
    assert final.state == states.FULFILLED and [d.actor for d in final.decisions] == ["system", MANAGER]


def test_a_drop_under_the_same_rule_needs_no_new_approval(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle, _ = await waiting(s)
        await handle.signal(sd.SIGNAL_STOCK_DECISION, choose(p7=sd.DROP))
        return await handle.result()

    automatic = ApprovalRule(auto_approve=True)
    final, _ = temporal.play(story, short_of(PRINTER, rule_after_drop=automatic))
    assert final.state == states.FULFILLED and not any("Back to approval" in text for text in messages(final))


def test_choices_that_cannot_count_are_refused_and_the_order_keeps_waiting(temporal: SharedTimeSkippingEnv):
    mocks = short_of(PRINTER)
    mocks.forged_requests = {"forged-1"}

    async def story(s: Scenario):
        handle, _ = await waiting(s)
        await handle.signal(sd.SIGNAL_STOCK_DECISION, choose("by-manager", actor=MANAGER, p7=sd.DROP))  # no right to
        await handle.signal(sd.SIGNAL_STOCK_DECISION, choose("forged-1", p7=sd.DROP))  # straight to Temporal
        await handle.signal(sd.SIGNAL_STOCK_DECISION, choose("wrong-line", p8=sd.DROP))
        await handle.signal(sd.SIGNAL_STOCK_DECISION, {"actor": REQUESTER, "request_id": "odd", "choices": {"7": "sell"}})
        await handle.signal(sd.SIGNAL_STOCK_DECISION, args=["drop it all", "twice"])
        await handle.signal(sd.SIGNAL_STOCK_ARRIVED, {"anything": "at all"})  # a wake-up only makes it read the stock
        verdicts = {}
        for rid in ("by-manager", "forged-1", "wrong-line"):  # each is checked against the desk first
            verdicts[rid] = await poll(lambda rid=rid: handle.query(m.QUERY_VERDICT, rid, result_type=m.RequestVerdict),
                                       lambda verdict: verdict.status not in (m.VERDICT_CHECKING, m.VERDICT_UNKNOWN), what=rid)
        snap = await s.snapshot(handle)
        await handle.signal(sd.SIGNAL_STOCK_DECISION, choose("stock-ok", p7=sd.DROP))
        return verdicts, snap, await handle.result()

    (verdicts, snap, final), _ = temporal.play(story, mocks)

    assert {rid: v.status for rid, v in verdicts.items()} == dict.fromkeys(verdicts, m.VERDICT_REFUSED)
    assert "must choose for each unavailable line" in verdicts["wrong-line"].reason
    assert snap.stock_decision_open and snap.state == states.PROCESSING
    assert final.state == states.FULFILLED
    [decision] = decisions(mocks)
    assert decision.actor == REQUESTER

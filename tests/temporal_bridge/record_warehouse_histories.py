"""Record the histories of the order's paths through lines no warehouse holds (the stock decision), for the replay test.

    .venv/bin/python -m tests.temporal_bridge.record_warehouse_histories 1.2

Beside record_histories.py (whose `record` it uses), so that the stories of
one capability are recorded under their own names (warehouses_*.json) without
touching the others'.
"""
from __future__ import annotations

import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
django.setup()

from temporal_bridge.approvals.messages import ApprovalRule  # noqa: E402
from temporal_bridge.order import messages as m  # noqa: E402
from temporal_bridge.order import stock_decisions as sd  # noqa: E402
from temporal_bridge.order.split_plan import PlannedLine  # noqa: E402
from temporal_bridge.order.stock_decisions import StockDecisionSignal  # noqa: E402
from tests.temporal_bridge.helpers import DAY, MANAGER, REQUESTER, ActivityMocks, Scenario, order_input  # noqa: E402
from tests.temporal_bridge.record_histories import HISTORIES, record  # noqa: E402

PRINTER, TONER = PlannedLine(7, 2), PlannedLine(9, 5)


async def _waiting(s: Scenario, **overrides):
    handle = await s.start(order_input(requires_approval=False, **overrides))
    await s.wait_for(handle, lambda snap: snap.stock_decision_open, "the stock decision open")
    return handle


async def dropped(s: Scenario):
    handle = await _waiting(s)
    await handle.signal(sd.SIGNAL_STOCK_DECISION, StockDecisionSignal(REQUESTER, "stock-1", {"7": sd.DROP}))
    await handle.result()
    return handle


async def backordered_then_restocked(s: Scenario):
    handle = await _waiting(s)
    await handle.signal(sd.SIGNAL_STOCK_DECISION, StockDecisionSignal(REQUESTER, "stock-1", {"7": sd.BACKORDER, "9": sd.DROP}))
    await s.wait_for(handle, lambda snap: snap.step.startswith("Backordered"), "the backorder's wait")
    s.mocks.restocked = True
    await handle.signal(sd.SIGNAL_STOCK_ARRIVED)
    await handle.result()
    return handle


async def backorder_expired(s: Scenario):
    handle = await _waiting(s, backorder_wait_seconds=DAY, restock_recheck_seconds=6 * 3600)
    await handle.signal(sd.SIGNAL_STOCK_DECISION, StockDecisionSignal(REQUESTER, "stock-1", {"7": sd.BACKORDER}))
    await handle.result()
    return handle


async def cancelled_while_waiting(s: Scenario):
    handle = await _waiting(s)
    await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(MANAGER, "cancel-1", "Customer will order elsewhere"))
    await handle.result()
    return handle


async def reapproved_after_drop(s: Scenario):
    handle = await _waiting(s)
    await handle.signal(sd.SIGNAL_STOCK_DECISION, StockDecisionSignal(REQUESTER, "stock-1", {"7": sd.DROP}))
    await s.wait_for_message(handle, "Back to approval")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-2"))
    await handle.result()
    return handle


async def refused_choices_then_dropped(s: Scenario):
    handle = await _waiting(s)
    await handle.signal(sd.SIGNAL_STOCK_DECISION, StockDecisionSignal(MANAGER, "by-manager", {"7": sd.DROP}))
    await handle.signal(sd.SIGNAL_STOCK_DECISION, StockDecisionSignal(REQUESTER, "forged-1", {"7": sd.DROP}))
    await handle.signal(sd.SIGNAL_STOCK_DECISION, args=["drop it all", "twice"])
    await handle.signal(sd.SIGNAL_STOCK_DECISION, StockDecisionSignal(REQUESTER, "stock-ok", {"7": sd.DROP}))
    await handle.result()
    return handle


async def everything_in_stock(s: Scenario):
    handle = await s.start(order_input(requires_approval=False))
    await handle.result()
    return handle


async def no_decision_in_time(s: Scenario):
    handle = await s.start(order_input(requires_approval=False, stock_decision_timeout_seconds=2 * DAY))
    await handle.result()
    return handle


STORIES = {
    "warehouses_dropped": (dropped, lambda: ActivityMocks(unavailable=[PRINTER])),
    "warehouses_backordered_then_restocked": (backordered_then_restocked, lambda: ActivityMocks(unavailable=[PRINTER, TONER])),
    "warehouses_backorder_expired": (backorder_expired, lambda: ActivityMocks(unavailable=[PRINTER])),
    "warehouses_cancelled_while_waiting": (cancelled_while_waiting, lambda: ActivityMocks(unavailable=[PRINTER])),
    "warehouses_reapproved_after_drop": (reapproved_after_drop, lambda: ActivityMocks(
        unavailable=[PRINTER], rule_after_drop=ApprovalRule(policy_id=3, policy_name="Standard orders", approvals_required=1))),
    "warehouses_refused_choices_then_dropped": (refused_choices_then_dropped, lambda: ActivityMocks(
        unavailable=[PRINTER], forged_requests={"forged-1"})),
    "warehouses_no_decision_in_time": (no_decision_in_time, lambda: ActivityMocks(unavailable=[PRINTER])),
    "warehouses_everything_in_stock": (everything_in_stock, ActivityMocks),
}


def main(version: str) -> None:
    target = HISTORIES / version
    target.mkdir(parents=True, exist_ok=True)
    record(target, {name: (story, make()) for name, (story, make) in STORIES.items()}, plain=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.temporal_bridge.record_warehouse_histories <release, e.g. 1.2>")
    main(sys.argv[1])

"""Lines no warehouse holds: the order waits, visibly, for a person's choice
per line, then drops what they drop (the charge that follows is lowered),
waits for a restock of what they backorder until its deadline, or is
cancelled (the ordinary cancel, with full compensation). A collaborator of
OrderWorkflow, called by the saga between the reservation and the payment.

The choice is a person's message like any other: decoded defensively,
confirmed against the desk's recorded intent and the sender's right now
(requests.py), given a verdict. A restock's wake-up carries nothing that
counts: it makes the order read the stock again, at most once a minute.

Deterministic and free of Django, like the workflow itself.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.contract.policies import MIRROR_RETRY, SHORT_STEP
    from temporal_bridge.order import messages as m
    from temporal_bridge.order import stock_decisions as sd
    from temporal_bridge.order.fulfilment import ReserveResult
    from temporal_bridge.order.split_plan import PlannedLine
    from temporal_bridge.order.stock_decisions import StockDecisionInput, StockDecisionResult, StockDecisionSignal
    from temporal_bridge.order.workflow.collaborator import MessageCollaborator
    from temporal_bridge.order.workflow.outcomes import OrderCancelled, OrderFailed

# A flood of wake-ups costs at most one stock read per this many seconds.
RECHECK_SPACING = timedelta(seconds=60)


class StockWait(MessageCollaborator):
    # --- Messages ---------------------------------------------------------------------------

    async def decide(self, args: Sequence[Any]) -> None:
        await self._intake.take(args, sd.parse_stock_decision, self._decide)

    def arrived(self) -> None:
        """A restock somewhere: read the stock again (only the database's answer counts)."""
        if self._s.unavailable:
            self._s.stock_woken = True

    async def _decide(self, signal: StockDecisionSignal) -> None:
        if await self._requests.confirmed(sd.SIGNAL_STOCK_DECISION, signal, "Stock decision",
                                          lambda _: self._refusal(signal)) is None:
            return
        self._s.stock_choices = dict(signal.choices)
        self._s.stock_decided_by = signal.actor

    def _refusal(self, signal: StockDecisionSignal) -> str | None:
        s, who = self._s, signal.actor
        if not s.unavailable or s.stock_choices:
            return f"Stock decision by {who} refused: the order waits for no stock decision"
        if s.cancel is not None:
            return f"Stock decision by {who} refused: the order is being cancelled"
        waiting = sorted(str(line.product_id) for line in s.unavailable)
        if sorted(signal.choices) != waiting:
            return f"Stock decision by {who} refused: it must choose for each unavailable line, and only for those"
        return None

    # --- The wait ---------------------------------------------------------------------------

    async def resolve(self, reserved: ReserveResult, reserve: Callable[[], Awaitable[ReserveResult]]) -> None:
        """The reservation left lines unavailable: wait for the choice, then carry it out.
        Raises OrderCancelled (a cancel, or nothing left to ship) or OrderFailed (no decision in time)."""
        s, inp = self._s, self._inp
        s.unavailable = list(reserved.unavailable)
        s.stock_choices, s.stock_decided_by, s.stock_woken = {}, "", False
        s.step = sd.WAITING_STEP
        await self._timeline.record_now(sd.KIND_STOCK_WAIT, sd.waiting_text(reserved.unavailable_text))
        try:
            await workflow.wait_condition(lambda: bool(s.stock_choices) or s.cancel is not None,
                                          timeout=timedelta(seconds=inp.stock_decision_timeout_seconds))
        except TimeoutError:
            s.unavailable = []
            raise OrderFailed("nobody chose what to do with the lines no warehouse holds in time") from None
        if s.cancel is not None:
            s.unavailable = []
            raise OrderCancelled()
        by_choice = {choice: [line for line in s.unavailable if s.stock_choices.get(str(line.product_id)) == choice]
                     for choice in sd.CHOICES}
        dropped, backordered = by_choice[sd.DROP], by_choice[sd.BACKORDER]
        who = s.stock_decided_by
        if not backordered:
            return await self._apply(sd.KIND_STOCK_DECIDED, StockDecisionInput(inp.order_id, who, dropped=dropped, why=f"chosen by {who}"))
        until = workflow.now() + timedelta(seconds=inp.backorder_wait_seconds)
        await self._apply(sd.KIND_STOCK_DECIDED, StockDecisionInput(inp.order_id, who, dropped=dropped, backordered=backordered,
                                                                    backorder_until=until.isoformat(), why=f"chosen by {who}"), done=False)
        still = await self._wait_for_restock(backordered, until, reserve)
        filled = [line for line in backordered if line not in still]
        await self._apply("stock", StockDecisionInput(inp.order_id, who, dropped=still, filled=filled,
                                                      why=f"not restocked by {until:%Y-%m-%d %H:%M} UTC"))

    async def _wait_for_restock(self, lines: list[PlannedLine], until: datetime, reserve: Callable[[], Awaitable[ReserveResult]]
                                ) -> list[PlannedLine]:
        """Until the deadline: each wake-up (or the periodic recheck) reserves what arrived. Returns the lines still missing."""
        s, inp = self._s, self._inp
        s.unavailable = list(lines)
        s.step = f"Backordered: waiting for a restock until {until:%Y-%m-%d %H:%M} UTC"
        checked = workflow.now() - RECHECK_SPACING
        while s.unavailable:
            left = (until - workflow.now()).total_seconds()
            if left <= 0:
                break
            try:
                await workflow.wait_condition(lambda: s.stock_woken or s.cancel is not None,
                                              timeout=timedelta(seconds=min(left, inp.restock_recheck_seconds)))
            except TimeoutError:
                pass
            if s.cancel is not None:
                raise OrderCancelled()
            spacing = (checked + RECHECK_SPACING - workflow.now()).total_seconds()
            if spacing > 0:
                await workflow.sleep(spacing)
                if s.cancel is not None:
                    raise OrderCancelled()
            checked = workflow.now()
            # Cleared before the read, not at the top of the round: a restock signalled while the
            # backorder was being recorded, or during this read, wakes the next round instead of being lost.
            s.stock_woken = False
            again = await reserve()
            missing = {line.product_id for line in again.unavailable}
            s.unavailable = [line for line in s.unavailable if line.product_id in missing]
        return list(s.unavailable)

    async def _apply(self, kind: str, decision: StockDecisionInput, *, done: bool = True) -> None:
        """Record the choice or the restock's end (dropped lines lower the total); with `done`, the order stops waiting on stock."""
        s = self._s
        record = self._timeline.begin_step(kind, decisions=True)
        result: StockDecisionResult = await workflow.execute_activity(
            sd.ACT_APPLY_STOCK_DECISION, replace(decision, record=record),
            result_type=StockDecisionResult, start_to_close_timeout=SHORT_STEP, retry_policy=MIRROR_RETRY)
        self._timeline.end_step(record, result.recorded)
        if not done:
            return
        s.unavailable, s.stock_choices = [], {}
        if result.lines_left == 0:
            s.cancel = m.CancelSignal(actor=decision.actor, request_id="", reason="every line was dropped: nothing is left to ship")
            raise OrderCancelled()
        if decision.dropped and result.rule is not None and sd.rule_key(result.rule) != sd.rule_key(self._gate.rule):
            # The approvers saw another total under another rule: they decide again, under the new one
            # (the input carries it over a continue-as-new).
            self._inp.approval_rule = self._gate.rule = result.rule
            s.reapproval_reason = f"the total is now {result.total} {self._inp.currency}, under another approval rule"
        s.step = "Reserving stock"


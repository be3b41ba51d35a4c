"""The live panel's hub on its own threads (orders/live/loop.py): a workflow answer that takes a second holds up
neither the tick nor any other order's change, the mirror's final row reaches the page while that answer waits, and
the workflow is not asked twice at once.

A workflow asked while it ends answered after ~1.1 s in the bench (docs/live-panel.md, "Why a look never holds
the tick"). Here the hub is Django-free and real, on its real threads and event loop; the world it reads (change
stamps, the order's answer) is a board the test writes, and one order's workflow query waits until the test lets it
answer.
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from orders.live.hub import FALLBACK, MOVING, Hub, Timing
from orders.live.loop import HubLoop
from orders.live.streams import Panel, Refreshed, Stream

TICK = 0.05
# Nothing but the tick and changed stamps looks at an order in these tests.
TIMING = Timing(tick=TICK, settle=60.0, moving=60.0, waiting=60.0, fallback=60.0, access=600.0)
# How long a page may wait for a change here: many ticks (a loaded machine), and still short of forever: the held
# query answers only when the test lets it, so a hub that waited for it would show nothing at all meanwhile.
PROMPT = 2.0
# Long enough for a dropped answer to have reached the page, had it been pushed.
SETTLED = 0.3


@dataclass
class Board:
    """What the hub reads: a stamp and a state per order, the mirror's final rows, and the workflow queries held."""

    stamps: dict[int, str] = field(default_factory=dict)
    workflow: dict[int, str] = field(default_factory=dict)  # what each order's workflow answers
    final_rows: dict[int, str] = field(default_factory=dict)  # the mirror's final state: read without asking the workflow
    held: dict[int, threading.Event] = field(default_factory=dict)  # the order's queries wait for this
    asked: list[int] = field(default_factory=list)

    def read_stamps(self, order_ids: list[int]) -> dict[int, str]:
        return {pk: self.stamps[pk] for pk in order_ids}

    def refresh_final(self, order_id: int) -> Refreshed | None:
        """As orders.views.live_feed.refresh_final: the mirror's final row, without asking the workflow."""
        if order_id in self.final_rows:
            return Refreshed(None, None, pace=FALLBACK, final=True, state=self.final_rows[order_id])
        return None

    def refresh(self, order_id: int) -> Refreshed:
        """As orders.views.live_feed.refresh: a final order row answers at once; otherwise the workflow is asked."""
        self.asked.append(order_id)
        if order_id in self.final_rows:
            return Refreshed(None, None, pace=FALLBACK, final=True, state=self.final_rows[order_id])
        answer = self.workflow[order_id]  # what the workflow says when the query reaches it
        hold = self.held.get(order_id)
        if hold is not None:
            assert hold.wait(10), "the test never let the held query answer"
        return Refreshed(None, None, pace=MOVING, final=False, state=answer)


def render(stream: Stream, refreshed: Refreshed) -> Panel:
    return Panel(version=f"{stream.order_id}:{refreshed.state}", html=lambda: refreshed.state)


def stream_on(hub: Hub, order_id: int) -> tuple[Stream, list[tuple[float, str]]]:
    """An open page on the order, and the panels its writer takes (time, state), as the event stream would."""
    shown: list[tuple[float, str]] = []
    stream = Stream(order_id=order_id, session_key="s", user_id=1, context=None, version=f"{order_id}:pending")

    def notify() -> None:
        taken = stream.take()
        if taken is not None:
            shown.append((time.monotonic(), taken[1]))
            stream.sent()

    stream.notify = notify
    hub.add(stream)
    return stream, shown


async def shown_within(shown: list[tuple[float, str]], state: str, seconds: float) -> float | None:
    """How long after now the page showed `state`, if within `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        for at, html in shown:
            if html == state:
                return max(0.0, at - start)
        await asyncio.sleep(0.01)
    return None


async def open_then_hold_a_query(board: Board, hub: Hub, runner: HubLoop, step: str) -> tuple[Stream, list[tuple[float, str]]]:
    """A page open on order 1; after the baseline the order moves to `step`, and its workflow's answer is held."""
    stream, shown = stream_on(hub, 1)
    runner.ensure_running()
    await asyncio.sleep(3 * TICK)  # the baseline stamps
    board.held[1] = threading.Event()
    board.stamps[1], board.workflow[1] = "b", step
    await asyncio.sleep(3 * TICK)
    return stream, shown


def run_hub(board: Board, scenario) -> None:
    hub = Hub(read_stamps=board.read_stamps, refresh=board.refresh, refresh_final=board.refresh_final, render=render,
              check_access=lambda stream: "ok", timing=TIMING)

    async def main() -> None:
        runner = HubLoop(hub, threads=4)
        try:
            await scenario(hub, runner)
        finally:
            for hold in board.held.values():
                hold.set()
            for stream in [s for w in list(hub.watched.values()) for s in list(w.streams)]:
                hub.remove(stream)
            await asyncio.sleep(3 * TICK)  # the hub's task ends with the last stream

    asyncio.run(main())


def test_a_workflow_answer_that_takes_a_second_holds_up_no_other_orders_change():
    board = Board(stamps={1: "a", 2: "a"}, workflow={1: "processing", 2: "processing"})

    async def scenario(hub: Hub, runner: HubLoop) -> None:
        _, first_shown = stream_on(hub, 1)
        _, second_shown = stream_on(hub, 2)
        runner.ensure_running()
        await asyncio.sleep(3 * TICK)  # the baseline stamps
        board.held[1] = threading.Event()  # order 1's workflow is ending: its query waits
        board.stamps[1], board.workflow[1] = "b", "fulfilling"
        await asyncio.sleep(3 * TICK)
        assert board.asked == [1]  # the query is out, and waits

        board.stamps[2], board.workflow[2] = "b", "shipping"
        waited = await shown_within(second_shown, "shipping", PROMPT)
        assert waited is not None, "order 2's change waited for order 1's workflow"
        assert first_shown == []

        board.held[1].set()
        assert await shown_within(first_shown, "fulfilling", PROMPT) is not None

    run_hub(board, scenario)


def test_the_mirrors_final_row_reaches_the_page_while_an_earlier_query_still_waits_and_that_answer_is_dropped():
    board = Board(stamps={1: "a"}, workflow={1: "processing"})

    async def scenario(hub: Hub, runner: HubLoop) -> None:
        # A step's row: the query goes out as the workflow ends, and waits.
        stream, shown = await open_then_hold_a_query(board, hub, runner, "fulfilling")

        board.stamps[1], board.final_rows[1] = "c", "fulfilled"  # the last activity writes the final row meanwhile
        waited = await shown_within(shown, "fulfilled", PROMPT)
        assert waited is not None, "the final row waited for the earlier query's answer"
        assert stream.closed == "the order is final"

        board.held[1].set()  # the earlier query answers now, with what was current when it was asked
        await asyncio.sleep(SETTLED)
        assert [html for _, html in shown] == ["fulfilled"]  # the page never goes back to a state before its end

    run_hub(board, scenario)


def test_a_change_while_the_workflow_is_asked_starts_no_second_query_and_one_more_look_follows_the_answer():
    board = Board(stamps={1: "a"}, workflow={1: "processing"})

    async def scenario(hub: Hub, runner: HubLoop) -> None:
        stream, shown = await open_then_hold_a_query(board, hub, runner, "charging")
        board.stamps[1], board.workflow[1] = "c", "shipping"  # a step's row, not the final one
        await asyncio.sleep(6 * TICK)
        assert board.asked == [1], "a busy workflow was asked a second time before it answered the first"

        board.held.pop(1).set()  # the first query answers what it was asked (charging); then the change is looked at
        assert await shown_within(shown, "shipping", PROMPT) is not None
        # The first answer may be shown first, or overtaken by the next look's (never pushed over it).
        assert [html for _, html in shown] in (["charging", "shipping"], ["shipping"])
        assert board.asked == [1, 1] and not stream.closed

    run_hub(board, scenario)

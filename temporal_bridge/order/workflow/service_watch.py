"""Service levels, watched by the order itself: a timer on the stage the
order is in, set to what is left of the stage's target; if the order is
still there when it fires, the breach goes on the timeline (and from there
to the mirror's flags) and into the search attributes, once per stage.

The arithmetic is temporal_bridge.service_levels', shared with the page's
mirror fallback; this only waits. It runs beside the order's process as a
task of the workflow: deterministic, and ended by the order's end.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.order import messages as m
    from temporal_bridge.order import service_levels, states
    from temporal_bridge.order.service_levels import ServiceLevelReport
    from temporal_bridge.order.workflow.timeline import Timeline


class ServiceLevelWatch:
    def __init__(self, inp: m.OrderWorkflowInput, state: m.OrderState, timeline: Timeline) -> None:
        self._inp = inp
        self._s = state
        self._timeline = timeline
        # Past the workflow's FEWER_EVENTS marker: when the order ends, its stage's timer is left to the server,
        # which drops it with the finished run, instead of cancelled (one history event).
        self.leave_last_timer = False

    def report(self) -> ServiceLevelReport | None:
        targets = self._inp.service_levels
        if targets is None:
            return None
        return service_levels.report([(t.state, t.at) for t in self._s.transitions], workflow.now(), targets,
                         track_delivery=self._inp.track_delivery)

    async def run(self, on_breach: Callable[[str], None]) -> None:
        """Until the order ends: wait out each stage's target; note the breaches."""
        s, targets = self._s, self._inp.service_levels
        if targets is None:
            return
        while s.state not in states.TERMINAL:
            state = s.state

            def left(entered: str = state) -> bool:
                return s.state != entered

            stage = service_levels.stage_of(state)
            target = service_levels.target_seconds(targets, stage) if stage else 0.0
            if not stage or target <= 0 or stage in s.breached:
                await workflow.wait_condition(left)
                continue
            report = self.report()
            spent = report.seconds_in_stage.get(stage, 0.0) if report else 0.0
            timeout = timedelta(seconds=max(target - spent, 0.001))
            if self.leave_last_timer:
                breached = await self._stage_timer(left, timeout)
            else:
                try:
                    await workflow.wait_condition(left, timeout=timeout)
                    breached = False
                except TimeoutError:
                    breached = True
            if breached:
                s.breached.append(stage)
                on_breach(stage)
                await self._timeline.record_now("service_level", service_levels.breach_text(stage, targets))

    async def _stage_timer(self, left: Callable[[], bool], timeout: timedelta) -> bool:
        """Whether the stage's target passed before the order left the stage. A timer the order's end outruns
        stays pending: the finished run takes it along, with no cancel in the history."""
        timer = asyncio.ensure_future(workflow.sleep(timeout))
        moved = asyncio.ensure_future(workflow.wait_condition(left))
        await workflow.wait([timer, moved], return_when=asyncio.FIRST_COMPLETED)
        if timer.done():
            moved.cancel()
            return not left()
        if self._s.state not in states.TERMINAL:
            timer.cancel()
        return False


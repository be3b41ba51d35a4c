"""Service levels, watched by the order itself: a timer on the stage the
order is in, set to what is left of the stage's target; if the order is
still there when it fires, the breach goes on the timeline (and from there
to the mirror's flags) and into the search attributes, once per stage.

The arithmetic is temporal_bridge.service_levels', shared with the page's
mirror fallback; this only waits. It runs beside the order's process as a
task of the workflow: deterministic, and ended by the order's end.
"""
from __future__ import annotations

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
            try:
                await workflow.wait_condition(left, timeout=timedelta(seconds=max(target - spent, 0.001)))
            except TimeoutError:
                s.breached.append(stage)
                on_breach(stage)
                await self._timeline.record_now("service_level", service_levels.breach_text(stage, targets))

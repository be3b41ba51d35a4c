"""The v1 approval gate: one manager's decision before a deadline.

Runs started before approval policies (issue 3) have no marker for
QUORUM_PATCH and replay this gate; every run since takes the quorum gate
(gate.py). Retirement: once no v1 run is open (`manage.py check_replay`
and the Temporal UI's query `TemporalChangeVersion` tell), replace
`workflow.patched(QUORUM_PATCH)` by `workflow.deprecate_patch(QUORUM_PATCH)`
in OrderWorkflow, release, then delete this module and its histories.
"""
from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge import messages as m
    from temporal_bridge import states
    from temporal_bridge.order_workflow.gate import Outcome
    from temporal_bridge.order_workflow.outcomes import OrderCancelled
    from temporal_bridge.order_workflow.timeline import Timeline


class SingleDecisionGate:
    def __init__(self, inp: m.OrderWorkflowInput, state: m.OrderState, timeline: Timeline) -> None:
        self._inp = inp
        self._s = state
        self._timeline = timeline
        # The one decision: (verdict, signal); set by `decide`.
        self.decision: tuple[str, m.DecisionSignal] | None = None

    async def wait(self) -> Outcome:
        inp, s = self._inp, self._s
        if not inp.requires_approval:
            now = workflow.now().isoformat()
            s.decisions.append(m.DecisionRecord("system", "approved", "Below the auto-approval threshold", now, "auto"))
            await self._timeline.record("status", "Auto-approved: total is below the approval threshold", status=states.APPROVED)
            return Outcome.APPROVED

        # From submission (the workflow's start), not from info().start_time, the
        # first task's time: that is later by however long no worker was polling.
        deadline = workflow.info().workflow_start_time + timedelta(seconds=inp.approval_deadline_seconds)
        s.deadline = deadline.isoformat()
        s.step = "Waiting for a manager's decision"
        awaiting = f"Awaiting a manager's decision, due by {deadline:%Y-%m-%d %H:%M} UTC"
        await self._timeline.record("note", awaiting, approval_deadline=s.deadline)
        try:
            await workflow.wait_condition(
                lambda: self.decision is not None or s.cancel is not None,
                timeout=max(deadline - workflow.now(), timedelta(milliseconds=1)),
            )
        except TimeoutError:
            return Outcome.EXPIRED
        if s.cancel is not None:
            raise OrderCancelled()
        assert self.decision is not None
        verdict, signal = self.decision
        if verdict == "rejected":
            s.rejection = signal
            return Outcome.REJECTED
        await self._timeline.record("status", f"Approved by {signal.actor}" + (f": {signal.comment}" if signal.comment else ""),
                                    actor=signal.actor, status=states.APPROVED)
        return Outcome.APPROVED

    def refusal(self, verdict: str, signal: m.DecisionSignal) -> str | None:
        """Why a decision cannot count in a v1 run (None: it counts)."""
        s = self._s
        if s.state != states.PENDING_APPROVAL or self.decision is not None or s.cancel is not None:
            return f"Decision by {signal.actor} ignored: the order is no longer awaiting approval"
        if signal.actor == self._inp.requested_by:
            return f"Decision by {signal.actor} ignored: the requester cannot decide on their own order"
        if verdict == "rejected" and not signal.comment.strip():
            return f"Rejection by {signal.actor} ignored: a reason is required"
        return None

"""What an order costs the engine, counted from its workflow's Temporal history (no Django here).

The lead's lean-engine work is judged by these counts (activities and
workflow tasks per order), so they are read from the bench's own workflows
rather than taken from the code's comments.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType


@dataclass
class HistoryCounts:
    workflows: int  # how many histories were read
    activities: float  # ActivityTaskScheduled per workflow
    workflow_tasks: float  # WorkflowTaskCompleted per workflow
    signals: float  # WorkflowExecutionSignaled per workflow
    events: float  # all history events per workflow

    def summary(self) -> str:
        return f"{self.activities:g} / {self.workflow_tasks:g} / {self.signals:g} ({self.events:g} events)"


COUNTED = {
    "activities": EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    "workflow_tasks": EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    "signals": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
}


async def count(client, workflow_ids: list[str], *, timeout: float = 60) -> HistoryCounts:
    """Average counts over the closed histories of `workflow_ids` (each waited for until it closes)."""
    totals = dict.fromkeys([*COUNTED, "events"], 0)

    async def one(workflow_id: str) -> None:
        handle = client.get_workflow_handle(workflow_id)
        # The mirror says "fulfilled" a task or two before the workflow closes;
        # a history read before then would be short.
        await asyncio.wait_for(handle.result(), timeout)
        history = await handle.fetch_history()
        totals["events"] += len(history.events)
        for name, event_type in COUNTED.items():
            totals[name] += sum(1 for e in history.events if e.event_type == event_type)

    await asyncio.gather(*(one(w) for w in workflow_ids))
    n = max(1, len(workflow_ids))
    return HistoryCounts(len(workflow_ids), **{name: round(value / n, 1) for name, value in totals.items()})


def count_at(address: str, workflow_ids: list[str], *, timeout: float = 60) -> HistoryCounts:
    async def go() -> HistoryCounts:
        from temporalio.client import Client

        from temporal_bridge.client.connection import payload_converter

        # The desk's converter: the real path's results are encrypted, the baselines' pass through it.
        return await count(await Client.connect(address, data_converter=payload_converter()), workflow_ids, timeout=timeout)

    return asyncio.run(go())

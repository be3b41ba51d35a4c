"""Record the histories of orders past the "fewer-history-events" marker, for the replay test.

    .venv/bin/python -m tests.temporal_bridge.record_fewer_events_histories 1.3

Unlike record_histories.py, on a local dev server with the order's search attributes registered and set at start,
and with service-level targets: what the marker changes (the state's upserts folded per workflow task, the last
stage's timer left to the finished run) shows only then. The stories go to histories/<release>/orderpath2_*.json.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")
django.setup()

from temporalio.client import WorkflowHandle  # noqa: E402
from temporalio.converter import DataConverter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from temporal_bridge.order import messages as m  # noqa: E402
from temporal_bridge.order import search_attributes as sa  # noqa: E402
from temporal_bridge.order import states  # noqa: E402
from temporal_bridge.order.service_levels import ServiceLevelTargets  # noqa: E402
from temporal_bridge.runtime import devserver  # noqa: E402
from tests.temporal_bridge.helpers import MANAGER, ActivityMocks, Scenario, order_input  # noqa: E402
from tests.temporal_bridge.record_histories import HISTORIES  # noqa: E402


class SearchableScenario(Scenario):
    """Starts the order as the desk's client does: with its search attributes."""

    async def start(self, inp: m.OrderWorkflowInput) -> WorkflowHandle:
        attributes = sa.at_start(state=states.PENDING_APPROVAL, number=inp.order_number, customer_id=7, total=inp.total,
                                 entered_at=datetime.now(UTC))
        handle = await self.env.client.start_workflow(
            m.WORKFLOW_NAME, inp, id=f"{m.workflow_id_for(inp.order_id)}-{uuid.uuid4().hex[:8]}", task_queue=self.task_queue,
            result_type=m.OrderSnapshot, search_attributes=attributes)
        self.handles.append(handle)
        return handle


async def auto_approved(s: Scenario) -> WorkflowHandle:
    handle = await s.start(order_input(requires_approval=False, fulfilment_steps=1, service_levels=ServiceLevelTargets()))
    await handle.result()
    return handle


async def approved(s: Scenario) -> WorkflowHandle:
    handle = await s.start(order_input(service_levels=ServiceLevelTargets()))
    await s.wait_for_message(handle, "Awaiting a manager's decision")
    await handle.signal(m.SIGNAL_APPROVE, m.DecisionSignal(MANAGER, "approve-1", "ok"))
    await handle.result()
    return handle


async def processing_over_its_target(s: Scenario) -> WorkflowHandle:
    """The processing stage's timer fires while the payment is taken: the breach is noted, the order goes on."""
    handle = await s.start(order_input(requires_approval=False, fulfilment_steps=1,
                                       service_levels=ServiceLevelTargets(processing_seconds=1)))
    await s.wait_for_message(handle, "Service level breached: processing")
    s.mocks.charge_released = True
    await handle.result()
    return handle


STORIES = {
    "orderpath2_auto_approved_searchable": auto_approved,
    "orderpath2_approved_searchable": approved,
    "orderpath2_processing_over_its_target": processing_over_its_target,
}
MOCKS = {"orderpath2_processing_over_its_target": lambda: ActivityMocks(charge_blocks=True)}


async def record_on_dev_server(target: Path, stories: dict, mocks: dict | None = None) -> None:
    """Each story on a dev server with the desk's search attributes, its history written to `target`/<name>.json."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=devserver.temporal_cli_path(),
                                                data_converter=DataConverter.default, search_attributes=sa.ALL)
    try:
        for name, story in stories.items():
            scenario = SearchableScenario(env, f"orders-record-{uuid.uuid4().hex}", (mocks or {}).get(name, ActivityMocks)())
            async with scenario.worker():
                handle = await story(scenario)
            history = (await handle.fetch_history()).to_json_dict()
            (target / f"{name}.json").write_text(json.dumps(history, indent=1) + "\n")
            print(f"recorded {target / name}.json ({len(history['events'])} events)")
    finally:
        await env.shutdown()


def main(version: str) -> None:
    target = HISTORIES / version
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(record_on_dev_server(target, STORIES, MOCKS))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.temporal_bridge.record_fewer_events_histories <release, e.g. 1.3>")
    main(sys.argv[1])

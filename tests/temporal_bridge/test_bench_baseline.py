"""The bench's bare-SDK baselines do what docs/benchmarks.md says they do.

`make bench` divides the real path's throughput by these workflows', so a
shape that quietly ran fewer (or more) activities than documented would make
every ratio wrong. Counted from real Temporal histories, as the bench does.
"""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.worker import Worker

from tools.bench import baseline, history

pytestmark = pytest.mark.database_agnostic

# (shape, manager-approved) → (activities, signals) per order.
EXPECTED = {
    ("same", False): (15, 1),  # OrderWorkflow's shape before the lean engine
    ("same", True): (17, 2),
    ("business", False): (5, 1),  # reserve, charge, fulfil (+ its progress signal), ship, notify
    ("business", True): (6, 2),  # + the approval signal and one activity to check and record it
    ("checked", True): (6, 2),  # the same, the check before the reservation
}
# Manager-approved: the business shape checks the decision beside the reservation, the checked shape before it.
CHECKS_FIRST = {"business": False, "checked": True}


def test_each_baseline_shape_runs_the_activities_and_signals_it_stands_for(temporal_dev_server):
    # A real dev server: the baselines skip no time, and their workflows
    # (which wait on 48 h timers) must not hold the shared time-skipping
    # server's clock for the workflow tests that run after this one.
    async def body(scenario):
        client = scenario.env.client
        counts = {}
        with ThreadPoolExecutor(max_workers=4) as executor:
            async with Worker(client, task_queue=scenario.task_queue, workflows=list(baseline.WORKFLOWS.values()),
                              activities=[baseline.noop, baseline.fulfil], activity_executor=executor):
                for shape, approval in EXPECTED:
                    prefix = f"shape-{shape}-{approval}-{uuid.uuid4().hex[:6]}"
                    _, failures = await baseline.drive(client, task_queue=scenario.task_queue, count=2, requires_approval=approval, steps=1,
                                                       step_seconds=0.0, prefix=prefix, timeout=30, shape=shape)
                    assert failures == 0, (shape, approval)
                    counts[shape, approval] = await history.count(client, [f"{prefix}-0", f"{prefix}-1"], timeout=30)
                    if approval and shape in CHECKS_FIRST:
                        events = (await client.get_workflow_handle(f"{prefix}-0").fetch_history()).events
                        kinds = [event.event_type for event in events]
                        second_scheduled = [i for i, kind in enumerate(kinds) if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED][1]
                        first_completed = kinds.index(EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
                        waited[shape] = second_scheduled > first_completed
        return counts

    waited: dict[str, bool] = {}
    counts, _ = temporal_dev_server.play(body, start_worker=False)
    assert waited == CHECKS_FIRST
    for key, (activities, signals) in EXPECTED.items():
        got = counts[key]
        assert (got.workflows, got.activities, got.signals) == (2, activities, signals), key
        # Activities run one after another, each scheduled by a workflow task
        # (the approval signal's activity may share one with the main flow's).
        assert got.workflow_tasks >= activities, key


def test_shapes_have_their_own_workflow_names():
    names = [shape.workflow for shape in baseline.SHAPES]
    assert len(set(names)) == len(names)
    assert {cls.SHAPE.key for cls in baseline.WORKFLOWS.values()} == {shape.key for shape in baseline.SHAPES}

"""Determinism: every stored history of every released version of the
long-lived workflows (OrderWorkflow, ShipmentWorkflow) replays against the
current code without a non-determinism error.

A change to running logic that is not behind workflow.patched() fails here.
Record a new version's histories with tests/temporal_bridge/record_histories.py
(orders) or record_shipment_histories.py (parcels).
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from temporal_bridge.client.connection import desk_converter
from temporal_bridge.order.workflow import OrderWorkflow
from temporal_bridge.runtime.sandbox import workflow_runner
from temporal_bridge.runtime.versioned_workflows import VERSIONED_WORKFLOWS
from temporal_bridge.shipment.workflow import ShipmentWorkflow

# No database here (activities are mocked or no order is run): CI runs it once.
pytestmark = pytest.mark.database_agnostic

HERE = Path(__file__).parent
# Each workflow's stored histories, one directory per released version.
STORED = {OrderWorkflow: HERE / "histories", ShipmentWorkflow: HERE / "shipment_histories"}
HISTORIES = [(workflow, path) for workflow, root in STORED.items() for path in sorted(root.glob("*/*.json"))]


@pytest.mark.parametrize("workflow", list(STORED), ids=lambda w: w.__name__)
def test_there_are_stored_histories_to_replay(workflow):
    assert sum(1 for w, _ in HISTORIES if w is workflow) >= 3


@pytest.mark.parametrize(("workflow", "path"), HISTORIES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.stem}"
                         if isinstance(p, Path) else p.__name__)
def test_stored_history_replays_against_the_current_workflow(workflow: type, path: Path):
    history = WorkflowHistory.from_json(f"{path.parent.name}-{path.stem}", json.loads(path.read_text()))
    # Through the desk's encrypting converter, as check_replay replays: histories recorded before encryption pass through it.
    replayer = Replayer(workflows=[workflow], data_converter=desk_converter(), workflow_runner=workflow_runner())
    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=True))
    assert result.replay_failure is None


# What a versioned worker registers (runtime/versioned_workflows.py): subclasses
# of the same workflows, which must decode and replay the same histories.
def workflow_name(cls: type) -> str:
    return workflow._Definition.must_from_class(cls).name  # the SDK has no public reader


VERSIONED_BY_NAME = {workflow_name(cls): cls for cls in VERSIONED_WORKFLOWS}


@pytest.mark.parametrize(("workflow", "path"), HISTORIES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.stem}"
                         if isinstance(p, Path) else p.__name__)
def test_stored_history_replays_on_a_versioned_worker(workflow: type, path: Path):
    versioned = VERSIONED_BY_NAME[workflow_name(workflow)]
    history = WorkflowHistory.from_json(f"{path.parent.name}-{path.stem}", json.loads(path.read_text()))
    replayer = Replayer(workflows=[versioned], data_converter=desk_converter(), workflow_runner=workflow_runner())
    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=True))
    assert result.replay_failure is None

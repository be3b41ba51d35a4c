"""Determinism of ShipmentWorkflow: every stored history of every released
version replays against the current code without a non-determinism error.

Record a new version's histories with tests/temporal_bridge/record_shipment_histories.py.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from temporal_bridge.connection import payload_converter
from temporal_bridge.shipment_workflow import ShipmentWorkflow

pytestmark = pytest.mark.database_agnostic

HISTORIES = sorted((Path(__file__).parent / "shipment_histories").glob("*/*.json"))


def test_there_are_stored_shipment_histories_to_replay():
    assert len(HISTORIES) >= 3


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_stored_shipment_history_replays_against_the_current_workflow(path: Path):
    history = WorkflowHistory.from_json(f"{path.parent.name}-{path.stem}", json.loads(path.read_text()))
    replayer = Replayer(workflows=[ShipmentWorkflow], data_converter=payload_converter())
    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=True))
    assert result.replay_failure is None

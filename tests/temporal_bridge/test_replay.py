"""Determinism: every stored history of every released OrderWorkflow version
replays against the current code without a non-determinism error.

A change to running logic that is not behind workflow.patched() fails here.
Record a new version's histories with tests/temporal_bridge/record_histories.py.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from temporal_bridge.connection import payload_converter
from temporal_bridge.order_workflow import OrderWorkflow

# No database here (activities are mocked or no order is run): CI runs it once.
pytestmark = pytest.mark.database_agnostic

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*/*.json"))


def test_there_are_stored_histories_to_replay():
    assert len(HISTORIES) >= 6


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_stored_history_replays_against_the_current_workflow(path: Path):
    history = WorkflowHistory.from_json(f"{path.parent.name}-{path.stem}", json.loads(path.read_text()))
    # Through the desk's encrypting converter, as check_replay replays: histories recorded before encryption pass through it.
    replayer = Replayer(workflows=[OrderWorkflow], data_converter=payload_converter())
    result = asyncio.run(replayer.replay_workflow(history, raise_on_replay_failure=True))
    assert result.replay_failure is None

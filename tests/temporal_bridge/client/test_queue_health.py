"""Whether a worker serves the task queue, judged from what the server reports
(queue_health.PollerStatus): a worker's own heartbeats when there are any,
else fresh pollers of both kinds. The banner and /readyz rest on this."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from temporal_bridge.client.queue_health import PollerInfo, PollerStatus, WorkerHeartbeat

# No database here: CI runs it once.
pytestmark = pytest.mark.database_agnostic


def fresh(seconds_ago: float, queue_type: str) -> PollerInfo:
    return PollerInfo("w", queue_type, datetime.now(UTC) - timedelta(seconds=seconds_ago))


def test_a_worker_that_stopped_is_gone_at_once_though_its_pollers_are_still_listed():
    status = PollerStatus(1, 1, ["w"], pollers=[fresh(1, "workflow"), fresh(1, "activity")],
                          heartbeats=[WorkerHeartbeat("w", "shutting_down", 0.5, 5.0)])
    assert not status.workers_running()


def test_a_worker_silent_for_three_heartbeats_is_gone():
    assert PollerStatus(1, 1, ["w"], heartbeats=[WorkerHeartbeat("w", "running", 14.0, 5.0)]).workers_running()
    assert not PollerStatus(1, 1, ["w"], heartbeats=[WorkerHeartbeat("w", "running", 16.0, 5.0)]).workers_running()


def test_without_heartbeats_fresh_workflow_and_activity_pollers_mean_running():
    assert PollerStatus(1, 1, ["w"], pollers=[fresh(50, "workflow"), fresh(3, "activity")]).workers_running()
    assert not PollerStatus(1, 1, ["w"], pollers=[fresh(200, "workflow"), fresh(3, "activity")]).workers_running()
    assert not PollerStatus(1, 0, ["w"], pollers=[fresh(1, "workflow")]).workers_running()

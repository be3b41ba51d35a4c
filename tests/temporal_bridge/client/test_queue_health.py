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


def test_a_worker_silent_for_more_than_two_heartbeats_is_missing_whatever_it_last_reported():
    assert PollerStatus(1, 1, ["w"], heartbeats=[WorkerHeartbeat("w", "running", 9.0, 5.0)]).workers_running()
    assert not PollerStatus(1, 1, ["w"], heartbeats=[WorkerHeartbeat("w", "running", 11.0, 5.0)]).workers_running()
    last = datetime(2026, 3, 2, 9, 30, 5, tzinfo=UTC)
    silent = WorkerHeartbeat("w", "running", 61.0, 5.0, last_heartbeat_at=last)
    assert silent.state(min_interval=5.0) == "missing since 2026-03-02 09:30:05 UTC (61 s without a heartbeat)"
    assert WorkerHeartbeat("w", "shutting_down", 61.0, 5.0).state(min_interval=5.0) == "shutting down"
    # The configured interval is the floor: a worker reporting a shorter one is not missed sooner.
    assert WorkerHeartbeat("w", "running", 9.0, 1.0).alive(min_interval=5.0)


def test_without_heartbeats_fresh_workflow_and_activity_pollers_mean_running():
    assert PollerStatus(1, 1, ["w"], pollers=[fresh(50, "workflow"), fresh(3, "activity")]).workers_running()
    assert not PollerStatus(1, 1, ["w"], pollers=[fresh(200, "workflow"), fresh(3, "activity")]).workers_running()
    assert not PollerStatus(1, 0, ["w"], pollers=[fresh(1, "workflow")]).workers_running()

"""`manage.py runworker` as an operator runs it: a separate process that polls,
and stops cleanly on SIGTERM or Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from temporal_bridge.client import queue_health
from temporal_bridge.client.bridge import bridge
from temporal_bridge.client.queue_health import PollerStatus

# Worker processes' flags and stopping; no order touches a database: CI runs it once.
pytestmark = [pytest.mark.integration, pytest.mark.database_agnostic]


def start_worker(address: str, task_queue: str) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "TEMPORAL_ADDRESS": address}
    return subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "--task-queue", task_queue, "--concurrency", "4"],
        cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_for_pollers(task_queue: str, timeout: float = 30) -> PollerStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = queue_health.task_queue_pollers(task_queue)
        if status.workflow_pollers and status.activity_pollers:
            return status
        time.sleep(0.3)
    raise AssertionError("the worker never polled its task queue")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_runworker_polls_its_task_queue_and_stops_gracefully(temporal_address, settings, stop_signal):
    settings.TEMPORAL_ADDRESS = temporal_address
    bridge.reset()
    task_queue = f"rw-{uuid.uuid4().hex[:8]}"
    worker = start_worker(temporal_address, task_queue)
    try:
        status = wait_for_pollers(task_queue)
        assert any("order-desk@" in identity for identity in status.identities)
        worker.send_signal(stop_signal)
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
        bridge.reset()
    assert worker.returncode == 0, output
    assert "Worker stopped." in output
    assert "Traceback" not in output


def test_runworker_rejects_a_bad_concurrency_with_a_clear_message():
    result = subprocess.run(
        [sys.executable, "manage.py", "runworker", "--concurrency", "0"],
        cwd=settings.BASE_DIR, env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "--concurrency" in result.stderr and "Traceback" not in result.stderr

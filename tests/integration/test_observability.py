"""Observability against a real Temporal dev server: the worker's metrics
endpoint, the desk's counters, /readyz, and how fast a stopped worker shows."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.test import Client
from prometheus_client import REGISTRY

from orders import services
from orders.models import Order, Product
from temporal_bridge.client.bridge import bridge
from temporal_bridge.client.worker_status import check_workers
from temporal_bridge.order import states
from tests.integration.stack import free_port
from tests.integration.test_lifecycle import finished, submit, wait_for

pytestmark = pytest.mark.integration


def start_worker(address: str, task_queue: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "TEMPORAL_ADDRESS": address,
           "WORKER_HEARTBEAT_SECONDS": "1", "LOG_FORMAT": "json"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "--task-queue", task_queue, "--concurrency", "2", *extra],
        cwd=django_settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


@pytest.fixture
def own_queue(temporal_address, settings):
    """Django pointed at the dev server, on a task queue no worker polls yet."""
    settings.TEMPORAL_ADDRESS = temporal_address
    settings.TEMPORAL_TASK_QUEUE = f"obs-{uuid.uuid4().hex[:8]}"
    settings.WORKER_HEARTBEAT_SECONDS = 1.0
    bridge.reset()
    yield settings.TEMPORAL_TASK_QUEUE
    bridge.reset()


def heartbeating() -> bool:
    """A worker runs and has sent its first heartbeat (about a second after it starts).

    Before that, only its pollers show it, and they cannot tell a kill quickly.
    """
    check = check_workers()
    return check.running and bool(check.status.heartbeats)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def _with_queue(text: str, task_queue: str) -> str | None:
    return text if f'task_queue="{task_queue}"' in text else None


def test_worker_serves_sdk_and_desk_metrics_and_a_graceful_stop_shows_at_once(temporal_address, own_queue):
    port = free_port()
    worker = start_worker(temporal_address, own_queue, "--metrics-port", str(port), "--metrics-host", "127.0.0.1")
    try:
        wait_for(heartbeating, timeout=30, what="the worker's first heartbeat")
        text = wait_for(lambda: _with_queue(scrape(port), own_queue), timeout=20, what="SDK metrics")
        # The SDK core's metrics, labelled with this worker's task queue...
        assert any(line.startswith("temporal_") and own_queue in line for line in text.splitlines())
        # ...and the desk's own, in the same scrape.
        for family in ("orderdesk_orders_finished_total", "orderdesk_time_to_approval_seconds", "orderdesk_activity_failures_total"):
            assert f"# TYPE {family.removesuffix('_total')}" in text or f"# TYPE {family}" in text, family

        worker.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        wait_for(lambda: not check_workers().running, timeout=10, every=0.1, what="the stopped worker to show")
        assert time.monotonic() - stopped_at < 5
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, output
    assert "Traceback" not in output


def test_a_killed_worker_shows_as_stopped_within_seconds(temporal_address, own_queue):
    worker = start_worker(temporal_address, own_queue)
    try:
        wait_for(heartbeating, timeout=30, what="the worker's first heartbeat")
        worker.kill()  # no goodbye: only its silence tells
        killed_at = time.monotonic()
        check = wait_for(lambda: (c := check_workers()) and not c.running and c, timeout=20, every=0.25, what="the killed worker to show")
        # Two missed 1 s heartbeats, plus the time one takes to arrive.
        assert time.monotonic() - killed_at < 8
        # Not "running", whatever it last reported: missing, since its last heartbeat.
        assert "missing since" in check.detail
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(10)


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_without_a_worker(own_queue):
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["workers"]
    assert body["checks"]["temporal"] == "ok" and body["checks"]["database"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_readyz_is_200_with_a_worker(stack):
    # A worker that has just started needs a moment for its first polls to reach the server.
    wait_for(lambda: check_workers().running, timeout=10, what="the worker's pollers")
    response = Client().get("/readyz")
    assert response.status_code == 200, response.json()


def sample(name: str, labels: dict) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db(transaction=True)
def test_the_worker_counts_finished_orders_and_approvals(stack, clerk, customer, widget):
    pen = Product.objects.create(sku="PEN-1", name="Pen", price=Decimal("1.00"), stock_on_hand=1)
    before = {
        "fulfilled": sample("orderdesk_orders_finished_total", {"state": states.FULFILLED}),
        "cancelled": sample("orderdesk_orders_finished_total", {"state": states.CANCELLED}),
        "auto_approvals": sample("orderdesk_time_to_approval_seconds_count", {"path": "auto"}),
    }
    fulfilled = submit(clerk, customer, widget, 2)  # 20.00: approved automatically
    cancelled = submit(clerk, customer, pen, 5)  # only one pen in stock: it waits for a stock decision
    wait_for(lambda: Order.objects.get(pk=cancelled.pk).awaiting_stock, timeout=30, what="the stock decision awaited")
    # The requester drops the only line: nothing is left to ship, so the order ends cancelled.
    services.order_request_stock_decision(order=Order.objects.get(pk=cancelled.pk), user=clerk, choices={pen.pk: "drop"},
                                          request_id=f"stock-{uuid.uuid4().hex}")
    assert finished(fulfilled.pk).state == states.FULFILLED
    assert finished(cancelled.pk).state == states.CANCELLED
    # The final mirror write follows the workflow's last step closely; give it a moment.
    wait_for(lambda: sample("orderdesk_orders_finished_total", {"state": states.CANCELLED}) > before["cancelled"], timeout=10,
             what="cancelled counted")
    assert sample("orderdesk_orders_finished_total", {"state": states.FULFILLED}) == before["fulfilled"] + 1
    assert sample("orderdesk_time_to_approval_seconds_count", {"path": "auto"}) == before["auto_approvals"] + 2

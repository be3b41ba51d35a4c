"""A real stack for integration tests: a Temporal CLI dev server in a
subprocess and an order worker (real activities, real database) on a thread."""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from temporalio.client import Client
from temporalio.runtime import Runtime, TelemetryConfig

from orders import services
from temporal_bridge.client.bridge import bridge
from temporal_bridge.client.connection import connect_kwargs
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import states
from temporal_bridge.runtime import devserver
from temporal_bridge.runtime.devserver import free_port
from temporal_bridge.runtime.worker import build_worker


@contextmanager
def dev_server(db_file: Path | None = None) -> Iterator[str]:
    """A fresh Temporal dev server (in memory, or persisted in `db_file`); yields its address."""
    port, ui_port = free_port(), free_port()
    process = devserver.start_dev_server(host="127.0.0.1", port=port, ui_port=ui_port, db_file=db_file)
    try:
        devserver.wait_for_port("127.0.0.1", port, timeout=60, process=process)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except Exception:  # noqa: BLE001
            process.kill()


_runtime = None


def _heartbeating_runtime() -> Runtime:
    """One runtime for the test workers, heartbeating as runworker's does: without it a worker
    reports once and then looks missing (silent for more than two intervals) to the banner and
    /readyz. Its logging is the SDK's default (to stderr, not through Python's logging), as the
    default runtime's: a flood's worker must not spend its time on log records."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime(telemetry=TelemetryConfig(),
                           worker_heartbeat_interval=timedelta(seconds=max(1.0, settings.WORKER_HEARTBEAT_SECONDS)))
    return _runtime


class WorkerThread:
    """Runs the real order worker on its own event loop until stopped."""

    def __init__(self, address: str, task_queue: str, workflows: list[type] | None = None, **worker_options) -> None:
        self.address, self.task_queue, self.workflows, self.worker_options = address, task_queue, workflows, worker_options
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="test-worker", daemon=True)

    def start(self) -> WorkerThread:
        self._thread.start()
        if not self._ready.wait(30):
            raise TimeoutError("worker did not start")
        if self._error:
            raise self._error
        return self

    def stop(self) -> None:
        """Stop polling and wait for the worker to end (again: nothing to do)."""
        if self._loop and self._stop and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as err:  # noqa: BLE001 - surfaced by start()
            self._error = err
            self._ready.set()

    async def _run(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        # Connected as runworker connects (namespace, TLS, tracing interceptors from settings).
        client = await _connect_once_healthy(self.address)
        worker, executor = build_worker(client, task_queue=self.task_queue, max_concurrent_activities=8, graceful_shutdown_seconds=2,
                                        workflows=self.workflows, **self.worker_options)
        async with worker:
            self._ready.set()
            await self._stop.wait()
        executor.shutdown(wait=True)


@contextmanager
def live_stack(address: str, django_settings) -> Iterator[WorkerThread]:
    """Point Django's bridge at `address` with a fresh task queue and a running worker."""
    task_queue = f"it-{uuid.uuid4().hex[:8]}"
    django_settings.TEMPORAL_ADDRESS = address
    django_settings.TEMPORAL_TASK_QUEUE = task_queue
    bridge.reset()
    worker = WorkerThread(address, task_queue).start()
    try:
        yield worker
    finally:
        worker.stop()
        bridge.reset()


__all__ = ["dev_server", "free_port", "live_stack", "WorkerThread", "settings"]


async def _connect_once_healthy(address: str, patience: float = 30.0) -> Client:
    """A dev server just (re)started answers "Frontend is not healthy yet" for a moment: retry until it is."""
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        try:
            return await Client.connect(address, runtime=_heartbeating_runtime(), **connect_kwargs())
        except RuntimeError as err:
            if "not healthy" not in str(err) or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


def pending_order(clerk, customer, product, quantity: int = 1):
    """An order above the auto-approval threshold, once its workflow waits for a manager."""
    order = services.order_submit(customer=customer, lines=[services.LineRequest(product, quantity)], created_by=clerk,
                                  shipping_address="1 Main Street\nSpringfield")
    assert order.requires_approval
    deadline = time.monotonic() + 30
    while order_calls.query_order(order.pk).state != states.PENDING_APPROVAL:
        assert time.monotonic() < deadline, "the workflow never reached pending approval"
        time.sleep(0.1)
    return order

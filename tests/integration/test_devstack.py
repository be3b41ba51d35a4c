"""`make run WORKERS=3`: the development stack with several worker processes,
which keeps serving when one of them dies, and stops all of them on Ctrl-C."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.conf import settings as django_settings

from temporal_bridge import client as temporal
from tests.integration.stack import free_port

# `make run` is the embedded stack: it ignores DATABASE_URL, so one CI pass suffices.
pytestmark = [pytest.mark.integration, pytest.mark.embedded_database]


class Output:
    """The lines a process prints, read on a thread so the test can wait for one."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process) -> None:
        for line in process.stdout:
            self.lines.append(line)
            self._queue.put(line)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if text in self._queue.get(timeout=0.2):
                    return
            except queue.Empty:
                pass
        raise AssertionError(f"no {text!r} after {timeout}s:\n{''.join(self.lines)}")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def session_members(session_id: int) -> list[str]:
    """The command lines of the live processes in a session (from /proc)."""
    members = []
    for stat in os.listdir("/proc"):
        if not stat.isdigit():
            continue
        try:
            fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
            if int(fields[3]) == session_id and fields[0] != "Z":
                members.append(open(f"/proc/{stat}/cmdline").read().replace("\0", " ").strip())
        except (OSError, IndexError, ValueError):
            continue
    return members


def test_devstack_runs_three_workers_that_survive_losing_one_and_stop_together(tmp_path, settings):
    web_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    test_only = {"DATABASE_URL", "TEMPORAL_ADDRESS", "DJANGO_SETTINGS_MODULE", "ORDER_DESK_TESTING"}
    env = {k: v for k, v in os.environ.items() if k not in test_only}
    env.update(DJANGO_DEBUG="1", ORDER_DESK_VAR_DIR=str(tmp_path), PORT=str(web_port), TEMPORAL_PORT=str(temporal_port),
               TEMPORAL_UI_PORT=str(ui_port), PYTHONUNBUFFERED="1")
    stack = subprocess.Popen(
        [sys.executable, "manage.py", "devstack", "--workers", "3", "--seed-orders", "0"],
        cwd=django_settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    output = Output(stack)
    settings.TEMPORAL_ADDRESS = f"127.0.0.1:{temporal_port}"
    temporal.bridge.reset()
    try:
        output.wait_for("Order Desk is up", timeout=120)
        assert any("Workers:     3 process(es)" in line for line in output.lines)

        deadline = time.monotonic() + 30
        while len(pollers := temporal.task_queue_pollers("order-desk").identities) < 3:
            assert time.monotonic() < deadline, f"only {pollers} poll the task queue"
            time.sleep(0.3)
        pids = sorted(int(identity.rsplit(":", 1)[1]) for identity in pollers)
        assert len(set(pids)) == 3, pollers

        os.kill(pids[0], signal.SIGKILL)
        output.wait_for("the other workers carry on", timeout=10)
        assert stack.poll() is None, "the stack stopped when one of three workers died"

        os.killpg(stack.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole foreground group
        stack.wait(60)
        output.wait_for("Stopped.", timeout=5)
        assert stack.returncode == 0, "".join(output.lines)
        assert not [pid for pid in pids[1:] if pid_alive(pid)], "workers outlived the stack"
        # Nothing the stack started outlives it (runserver's autoreloading child did).
        time.sleep(1)
        assert session_members(stack.pid) == [], "processes outlived the stack"
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)
        temporal.bridge.reset()

"""`make run` (manage.py devstack) as a supervised stack: each kind of child
killed with SIGKILL comes back and the orders in flight complete; SIGTERM
stops every child, grandchildren included."""
from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from django.conf import settings as django_settings

from temporal_bridge.client import queue_health
from temporal_bridge.client.bridge import bridge
from temporal_bridge.order import states
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

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """The next line (after those already waited past) matching the regex."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if match := re.search(pattern, self._queue.get(timeout=0.2)):
                    return match
            except queue.Empty:
                pass
        raise AssertionError(f"no {pattern!r} after {timeout}s:\n{''.join(self.lines[-80:])}")


class Stack:
    """`manage.py devstack` on its own ports and var/ (SQLite), as `make run` starts it."""

    def __init__(self, tmp_path, *args: str) -> None:
        self.web_port, self.temporal_port = free_port(), free_port()
        inherited = {"DATABASE_URL", "TEMPORAL_ADDRESS", "DJANGO_SETTINGS_MODULE", "ORDER_DESK_TESTING"}
        self.env = {k: v for k, v in os.environ.items() if k not in inherited and not k.startswith("WEBHOOK_SECRET_")}
        self.env.update(DJANGO_DEBUG="1", ORDER_DESK_VAR_DIR=str(tmp_path), PORT=str(self.web_port), TEMPORAL_PORT=str(self.temporal_port),
                        TEMPORAL_UI_PORT=str(free_port()), PYTHONUNBUFFERED="1", ORDER_FULFILMENT_STEP_SECONDS="0.2")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "devstack", "--seed-orders", "0", *args], cwd=django_settings.BASE_DIR, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self.output = Output(self.process)

    def wait_up(self) -> None:
        self.output.wait_for("Order Desk is up", timeout=180)

    @property
    def pids(self) -> dict[str, int]:
        """Each child's latest pid, as the supervisor announced it."""
        return {m[1]: int(m[2]) for line in list(self.output.lines) if (m := re.search(r"^(\S+) started \(pid (\d+)\)", line))}

    def manage(self, *args: str) -> str:
        """A manage.py command on the stack's database and Temporal, as a developer would run one beside it."""
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=django_settings.BASE_DIR, env=self.env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def submit_order(self) -> str:
        # seed_demo's first order is small: approved automatically, so it runs through to the end alone.
        return re.search(r"OD-\d+", self.manage("seed_demo", "--orders", "1"))[0]

    def statuses(self, numbers: list[str]) -> dict[str, str]:
        code = f"import json; from orders.models import Order; print(json.dumps(dict(Order.objects.filter(number__in={numbers!r})" \
               f".values_list('number', 'status'))))"
        return json.loads(self.manage("shell", "-v", "0", "-c", code).strip().splitlines()[-1])

    def health(self) -> int | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/healthz", timeout=3) as response:
                return response.status
        except OSError:
            return None

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"no {what} after {timeout}s"
        time.sleep(0.5)
    return result


def polling_pids() -> set[int]:
    try:
        identities = queue_health.task_queue_pollers("order-desk").identities
    except Exception:  # noqa: BLE001 - the server is restarting: nobody polls yet
        return set()
    return {int(identity.rsplit(":", 1)[1]) for identity in identities}


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


@pytest.fixture
def stack_factory(tmp_path, settings):
    stacks = []

    def start(*args: str) -> Stack:
        stack = Stack(tmp_path, *args)
        stacks.append(stack)
        settings.TEMPORAL_ADDRESS = f"127.0.0.1:{stack.temporal_port}"
        bridge.reset()
        stack.wait_up()
        return stack

    yield start
    for stack in stacks:
        stack.kill()
    bridge.reset()


def test_each_child_killed_comes_back_and_the_orders_in_flight_complete(stack_factory):
    stack = stack_factory("--workers", "1")
    assert set(stack.pids) == {"temporal", "worker-1", "web", "simulator"}
    submitted = []
    for name in ("worker-1", "simulator", "web", "temporal"):
        submitted.append(stack.submit_order())
        old_pid = stack.pids[name]
        os.kill(old_pid, signal.SIGKILL)
        stack.output.wait_for(rf"^{name} exited with code -9; restarting in 1 s", timeout=20)
        assert int(stack.output.wait_for(rf"^{name} started \(pid (\d+)\)", timeout=20)[1]) != old_pid
        if name == "web":
            # The autoreloading server's own child held the port; it was swept with its leader.
            wait_until(lambda: stack.health() == 200, 60, "web answering again")
        elif name == "simulator":
            stack.output.wait_for(r"Simulating the payment provider and the carrier", timeout=60)
        elif name == "temporal":
            stack.output.wait_for(r"^temporal is serving again", timeout=60)
        # Whatever died, a worker polls the task queue again (after a server restart, possibly a restarted one).
        wait_until(lambda: polling_pids() & {pid for n, pid in stack.pids.items() if n.startswith("worker-")}, 90, "worker polling")
    assert stack.process.poll() is None, "the stack stopped"

    # Fulfilled, or delivered where delivery is tracked (the simulator's carrier events move the parcel).
    finished = {states.FULFILLED, states.DELIVERED}

    def all_finished() -> bool:
        statuses = stack.statuses(submitted)
        return len(statuses) == len(submitted) and set(statuses.values()) <= finished

    wait_until(all_finished, 180, f"all of {submitted} finished")


def test_sigterm_stops_every_child_and_grandchild(stack_factory):
    stack = stack_factory("--workers", "2")
    children = stack.pids
    assert set(children) == {"temporal", "worker-1", "worker-2", "web", "simulator"}
    wait_until(lambda: {children["worker-1"], children["worker-2"]} <= polling_pids(), 60, "both workers polling")

    # As a process manager stops it: the one process, not its group.
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(60) == 0, "".join(stack.output.lines[-40:])
    stack.output.wait_for(r"^Stopped\.", timeout=5)
    # Nothing the stack started outlives it: not the workers, the server, the
    # simulator, nor runserver's autoreloaded child.
    time.sleep(1)
    assert session_members(stack.process.pid) == [], "processes outlived the stack"

"""The development stack's supervisor with real child processes: restart with
backoff, and a stop that leaves nothing behind (a child ignoring SIGTERM, a
grandchild), higher layers first."""
from __future__ import annotations

import sys
import time

import pytest

from temporal_bridge.runtime.supervisor import ChildSpec, RestartPolicy, Supervisor

pytestmark = pytest.mark.database_agnostic


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_restart_delays_double_to_the_cap_and_reset_after_a_stable_run():
    policy = RestartPolicy(initial_delay=1, max_delay=30, stable_after=30)
    delays, previous = [], None
    for _ in range(7):
        previous = policy.next_delay(previous, uptime=0.5)
        delays.append(previous)
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    assert policy.next_delay(30, uptime=45) == 1


def test_a_child_that_dies_is_restarted_and_the_console_says_so():
    lines: list[str] = []
    supervisor = Supervisor(lines.append, policy=RestartPolicy(initial_delay=0.2, max_delay=1, stable_after=60), grace=2)
    supervisor.start(ChildSpec("flaky", [sys.executable, "-c", "import sys, time; time.sleep(0.3); sys.exit(3)"]))
    deadline = time.monotonic() + 20
    while sum("flaky started" in line for line in lines) < 3 and time.monotonic() < deadline:
        supervisor.check()
        time.sleep(0.05)
    supervisor.stop()
    exits = [line for line in lines if "exited" in line]
    assert exits[:2] == ["flaky exited with code 3; restarting in 0.2 s", "flaky exited with code 3; restarting in 0.4 s"]
    assert sum("flaky started" in line for line in lines) >= 3


def test_stop_ends_every_child_and_grandchild_higher_layers_first(tmp_path):
    lines: list[str] = []
    supervisor = Supervisor(lines.append, grace=0.5)
    grandchild_file = tmp_path / "grandchild"
    # Ignores SIGTERM, and leaves a grandchild that would hold a port.
    stubborn = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "p = subprocess.Popen(['sleep', '300']); open(sys.argv[1], 'w').write(str(p.pid)); time.sleep(300)")
    server = supervisor.start(ChildSpec("server", ["sleep", "300"], layer=0))
    web = supervisor.start(ChildSpec("web", [sys.executable, "-c", stubborn, str(grandchild_file)], layer=2))
    deadline = time.monotonic() + 20
    while not grandchild_file.exists() or not grandchild_file.read_text():
        assert time.monotonic() < deadline, "the child did not start its grandchild"
        time.sleep(0.05)
    grandchild = int(grandchild_file.read_text())

    supervisor.stop()
    assert [line for line in lines if line.startswith("stopping")] == ["stopping web", "stopping server"]
    assert not [pid for pid in (server.pid, web.pid, grandchild) if alive(pid)]
    # Stopped children are not restarted, nor reported as having died.
    said = len(lines)
    supervisor.check()
    assert len(lines) == said

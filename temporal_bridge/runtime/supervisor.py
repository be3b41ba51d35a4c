"""A small process supervisor for the development stack (`manage.py devstack`).

What a process manager would do, and no more: each child is started from its
spec, a child that dies is restarted with backoff (1 s doubling to 30 s; back
to 1 s once it had stayed up a while), and stopping sends every child its stop
signal, layer by layer (web and workers before the Temporal server they
drain into), then SIGKILL after a grace period, so nothing is left
half-stopped.

Every child leads its own process group: a terminal's Ctrl-C then reaches
only the supervisor, which stops the children in order (rather than each
racing to die on its own and being "restarted"), and signalling the group
also reaches grandchildren such as runserver's autoreloaded server.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

# Linux's prctl(PR_SET_PDEATHSIG): a child is sent SIGTERM if the supervisor
# itself is killed (kill -9 leaves it no chance to stop its children).
_PR_SET_PDEATHSIG = 1


@dataclass
class RestartPolicy:
    initial_delay: float = 1.0
    max_delay: float = 30.0
    # A child that ran at least this long before dying starts again at initial_delay.
    stable_after: float = 30.0

    def next_delay(self, previous: float | None, uptime: float) -> float:
        if previous is None or uptime >= self.stable_after:
            return self.initial_delay
        return min(previous * 2, self.max_delay)


@dataclass
class ChildSpec:
    name: str
    args: list[str]
    env: dict[str, str] | None = None
    cwd: str | os.PathLike | None = None
    # Higher layers stop first: the web and the workers before the server they use.
    layer: int = 1
    # Where the child's output goes (a file for the Temporal server's chatter); None: the console.
    log_file: str | os.PathLike | None = None
    # Answers True once the child serves (a port that answers); announced on restarts.
    ready: Callable[[], bool] | None = None


@dataclass
class _Child:
    spec: ChildSpec
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    restart_at: float | None = None
    delay: float | None = None
    restarts: int = 0
    announced_ready: bool = True
    log: object = field(default=None, repr=False)


try:
    # Looked up here, not in the forked child, where loading a library could deadlock.
    _prctl = ctypes.CDLL(None).prctl
except (OSError, AttributeError):  # not Linux: the group kill on stop still applies
    _prctl = None


def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    """Signal the child's whole process group (it leads one), or the child if it is gone."""
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Supervisor:
    def __init__(self, say: Callable[[str], None], *, policy: RestartPolicy | None = None, grace: float = 10.0) -> None:
        self.say = say
        self.policy = policy or RestartPolicy()
        self.grace = grace
        self.children: list[_Child] = []
        self.stopping = False

    # --- starting ------------------------------------------------------------------------------

    def start(self, spec: ChildSpec) -> subprocess.Popen:
        child = _Child(spec)
        self.children.append(child)
        self._launch(child)
        return child.process

    def _launch(self, child: _Child) -> None:
        spec = child.spec
        if child.log is None and spec.log_file is not None:
            child.log = open(spec.log_file, "ab")  # noqa: SIM115 - open for the child's whole life
        out = child.log if child.log is not None else None
        child.process = subprocess.Popen(
            spec.args, env=spec.env, cwd=spec.cwd, stdout=out, stderr=subprocess.STDOUT if out else None,
            process_group=0, preexec_fn=_die_with_parent,
        )
        child.started_at, child.restart_at = time.monotonic(), None
        self.say(f"{spec.name} started (pid {child.process.pid})")

    def wait_ready(self, name: str, timeout: float) -> None:
        """Block until the named child's ready() answers (startup order: Temporal before the rest)."""
        child = self._child(name)
        deadline = time.monotonic() + timeout
        while not child.spec.ready():
            if child.process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {child.process.returncode} while starting")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready after {timeout:g}s")
            time.sleep(0.2)

    def pid(self, name: str) -> int | None:
        process = self._child(name).process
        return process.pid if process is not None and process.poll() is None else None

    def _child(self, name: str) -> _Child:
        return next(child for child in self.children if child.spec.name == name)

    # --- watching -------------------------------------------------------------------------------

    def run(self, poll_interval: float = 0.3) -> None:
        """Watch and restart children until stop() (or a KeyboardInterrupt from a signal)."""
        while not self.stopping:
            self.check()
            time.sleep(poll_interval)

    def check(self) -> None:
        """One round: note the dead, restart the due, announce the ready again."""
        if self.stopping:
            return  # the children dying now were told to
        now = time.monotonic()
        for child in self.children:
            process = child.process
            if child.restart_at is None and process is not None and process.poll() is not None:
                # Grandchildren (an autoreloaded server) may outlive their leader and hold its port.
                _signal_group(process, signal.SIGKILL)
                child.delay = self.policy.next_delay(child.delay, now - child.started_at)
                child.restart_at = now + child.delay
                self.say(f"{child.spec.name} exited with code {process.returncode}; restarting in {child.delay:g} s")
            elif child.restart_at is not None and now >= child.restart_at:
                child.restarts += 1
                child.announced_ready = child.spec.ready is None
                self._launch(child)
            elif not child.announced_ready and child.spec.ready() and child.process.poll() is None:
                child.announced_ready = True
                self.say(f"{child.spec.name} is serving again")

    # --- stopping -------------------------------------------------------------------------------

    def stop(self) -> None:
        """SIGTERM every child, highest layer first; SIGKILL what is left after the grace period."""
        self.stopping = True
        for layer in sorted({child.spec.layer for child in self.children}, reverse=True):
            live = [c for c in self.children if c.spec.layer == layer and c.process is not None and c.process.poll() is None]
            if live:
                self.say(f"stopping {', '.join(c.spec.name for c in live)}")
            running = [c.process for c in live]
            for process in running:
                _signal_group(process, signal.SIGTERM)
            deadline = time.monotonic() + self.grace
            for process in running:
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            # Whatever is still in a group (a leader that ignored SIGTERM, an orphaned grandchild).
            for child in self.children:
                if child.spec.layer == layer and child.process is not None:
                    _signal_group(child.process, signal.SIGKILL)
                    try:
                        child.process.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        self.say(f"{child.spec.name} (pid {child.process.pid}) did not stop")
        for child in self.children:
            if child.log is not None:
                child.log.close()

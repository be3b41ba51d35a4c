"""Small numeric helpers shared by the bench sections (no Django here)."""
from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable


def percentile(values: Iterable[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    data = sorted(values)
    if not data:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(data)))
    return data[rank - 1]


def ms(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "n/a"
    value = seconds * 1000
    return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds_of(pid: int) -> float | None:
    """User + system CPU time used so far by one process (from /proc); None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    # After the command: state is [0]; utime and stime are [11] and [12].
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class CpuMeter:
    """CPU used by a group of processes over a window, in cores (1.0 = one core busy).

    The group is re-read at the end, so processes started during the window
    (a new database backend) count from zero; one that exits during the
    window loses its share, so keep the group stable while measuring.
    """

    def __init__(self, pids_fn) -> None:
        self._pids_fn = pids_fn
        self._start: dict[int, float] = {}
        self._t0 = 0.0

    def start(self) -> None:
        self._start = {pid: cpu for pid in self._pids_fn() if (cpu := cpu_seconds_of(pid)) is not None}
        self._t0 = time.monotonic()

    def stop(self) -> float:
        elapsed = max(1e-9, time.monotonic() - self._t0)
        used = 0.0
        for pid in set(self._start) | set(self._pids_fn()):
            now = cpu_seconds_of(pid)
            if now is not None:
                used += now - self._start.get(pid, 0.0)
        return used / elapsed


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores, from /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


class MachineMeter:
    """Cores busy on the whole machine over a window (ours and everybody else's)."""

    def start(self) -> None:
        self._busy, self._t0 = machine_busy_seconds(), time.monotonic()

    def stop(self) -> float:
        return (machine_busy_seconds() - self._busy) / max(1e-9, time.monotonic() - self._t0)

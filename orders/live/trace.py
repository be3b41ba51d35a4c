"""Per-push timings of the live panel's hub, written as JSON lines when asked for (off by default).

`LIVE_PANEL_TRACE=<file>` in a web process's environment makes its hub append
one line per tick, per workflow answer and per event written to a socket,
each with wall-clock times (seconds since the epoch, comparable with the
mirror's `updated_at`). The bench's stream section turns them into the
breakdown of "written → shown" (tools/bench/stream.py). Off, the hub takes no
extra time stamp and writes nothing.
"""
from __future__ import annotations

import json
import os
import threading
from typing import Any

ENV = "LIVE_PANEL_TRACE"


class TraceFile:
    """Appends one JSON object per line; safe from the hub's threads and the event loop alike."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the process's life

    def __call__(self, record: dict[str, Any]) -> None:
        line = json.dumps({"pid": os.getpid(), **record}, separators=(",", ":"))
        with self._lock:
            self._file.write(line + "\n")


def from_environment() -> TraceFile | None:
    path = os.environ.get(ENV, "")
    return TraceFile(path) if path else None

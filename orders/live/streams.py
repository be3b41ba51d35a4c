"""What the hub hands around: a workflow's answer for an order, a stream's panel, and an open page's stream.

A stream holds at most one panel waiting to be sent (a newer one replaces
it: the page only needs the latest); its writer (orders.live.loop) takes it
and reports when it went out, so the hub can tell a client that does not read.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Refreshed:
    """One answer of an order's workflow (or its mirror), shared by every stream watching it."""
    order: Any
    live: Any
    pace: str  # MOVING, WAITING or FALLBACK: when to ask again without a change
    final: bool  # the order reached its end: push the last panel and close
    state: str = ""  # the state the answer shows (for the trace)


@dataclass
class Panel:
    version: str
    html: Callable[[], str]  # rendered only when the version is news to the stream


@dataclass(eq=False)
class Stream:
    """One open page's connection: who watches which order, and the version it shows."""
    order_id: int
    session_key: str
    user_id: int
    context: Any  # what the render needs (the request the stream was opened with)
    version: str = ""  # what the page shows (or will, once the pending event is sent)
    notify: Callable[[], None] = lambda: None  # wakes the connection's writer (thread-safe)
    abort: Callable[[], None] = lambda: None  # cuts the connection (a client that does not read)
    opened_at: float = 0.0
    access_stamp: str = ""
    next_access_check: float = 0.0
    closed: str = ""  # why the stream ended ("" while open)
    _pending: tuple[str, str] | None = None
    _pending_trace: dict[str, Any] | None = None  # the pending panel's timings (tracing only)
    taken_trace: dict[str, Any] | None = None  # the timings of the panel being written
    _waiting_since: float | None = None  # an event has waited (to be taken, or to be sent) since
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def offer(self, version: str, html: str, now: float, trace: dict[str, Any] | None = None) -> None:
        """The panel to send next; a newer one replaces it (the page only needs the latest)."""
        with self._lock:
            self._pending = (version, html)
            self._pending_trace = trace
            self.version = version
            if self._waiting_since is None:
                self._waiting_since = now
        self.notify()

    def take(self) -> tuple[str, str] | None:
        """The event to send now, if any (it counts as waiting until `sent`)."""
        with self._lock:
            pending, self._pending = self._pending, None
            self.taken_trace, self._pending_trace = self._pending_trace, None
            return pending

    def sending(self, now: float) -> None:
        """Something else (a heartbeat) is being written: it counts as waiting until `sent`."""
        with self._lock:
            if self._waiting_since is None:
                self._waiting_since = now

    def sent(self) -> None:
        with self._lock:
            if self._pending is None:
                self._waiting_since = None

    def ready(self) -> bool:
        """An event to send, or the end to write."""
        with self._lock:
            return self._pending is not None or bool(self.closed)

    def stalled_for(self, now: float) -> float:
        with self._lock:
            return 0.0 if self._waiting_since is None else now - self._waiting_since

    def close(self, reason: str) -> None:
        self.closed = self.closed or reason
        self.notify()

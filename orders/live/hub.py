"""The hub: per web process, which orders have open streams, and when each order's workflow is asked.

Polling asks an order's workflow for every open page every 1.5 s while the
order moves. The hub asks it once for all the pages watching it, and only
when something may have changed:

- every tick, one query reads a change stamp for all watched orders
  (orders.live.stamps); a changed stamp asks that order's workflow at once,
  and again one *settle* period later (the workflow may take in a signal or
  finish a step a moment after the row that announced it);
- what changes without a desk write (the step the workflow is on, a
  heartbeat's progress, a time-based service level) is caught by a safety
  re-query: every `moving` seconds for an order that moves by itself, every
  `waiting` seconds for one that waits on people;
- each answer is rendered once per stream (each user sees their own actions)
  and pushed only to streams whose panel version changed;
- every `access` seconds a stream re-checks that its session stands and its
  user may still view the order; a final order pushes its last panel and
  closes its streams.

A look at an order (its workflow asked, its panels rendered) is started by
the tick, never waited for by it: a workflow asked while it ends answers
after about a second, and a tick that waited for it held every other
order's change for as long (the push channel's p95 was ~1 s). One workflow
query per order is out at a time; a changed stamp meanwhile reads only the
order's row (`refresh_final`): a final row, written by the last activity
before the workflow's last task, pushes the last panel at once, and any
other change gets one more look once the answer is in. Looks are numbered:
an answer that returns after a newer one is dropped, so a page never steps
back.

The hub is plain synchronous code (its tick runs in a thread of the web
process, its looks on a few others, see orders.live.loop); what it asks the
database and the workflow, and how a panel is rendered, come in as
functions (orders.views.live_feed). `trace` (orders.live.trace) times each
look and push, when asked for.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from orders.live.streams import Panel, Refreshed, Stream

logger = logging.getLogger(__name__)

MOVING, WAITING, FALLBACK = "moving", "waiting", "fallback"


@dataclass(frozen=True)
class Timing:
    """The hub's periods, in seconds (docs/live-panel.md says how they were chosen)."""
    tick: float = 0.2  # how often the change stamps (and the streams' sessions) are read
    settle: float = 1.0  # the re-query after a change
    moving: float = 3.0  # safety re-query of an order that moves by itself
    waiting: float = 30.0  # safety re-query of an order that waits on people
    fallback: float = 5.0  # the workflow did not answer: ask again soon
    access: float = 15.0  # a stream re-checks its user's rights and delegations (its session: every tick)
    heartbeat: float = 15.0  # a comment on an idle stream, so proxies and clients see it alive
    slow_client: float = 30.0  # an event not taken by the client in this long drops the stream
    max_life: float = 1800.0  # a stream is closed after this long; the browser reconnects (every check anew)


class StreamRefused(Exception):
    """No stream for this request (too many open already)."""


@dataclass
class Watched:
    streams: set[Stream] = field(default_factory=set)
    stamp: str | None = None
    next_query_at: float = 0.0
    next_query_why: str = "opened"  # what the look at next_query_at is for (the trace names it)
    last: Refreshed | None = None
    asked: int = 0  # looks started (each numbered), and the newest whose answer was taken
    answered: int = 0
    asking: bool = False  # a look that asks the workflow is out (one at a time per order)
    again: bool = False  # the stamp changed while it was out, and the mirror could not answer: one more look after it


class Hub:
    def __init__(
        self, *,
        read_stamps: Callable[[list[int]], dict[int, str]],
        refresh: Callable[[int], Refreshed | None],
        refresh_final: Callable[[int], Refreshed | None] = lambda order_id: None,
        render: Callable[[Stream, Refreshed], Panel],
        check_access: Callable[[Stream], str | None],
        standing_sessions: Callable[[set[str]], set[str]] = lambda keys: keys,
        clock: Callable[[], float] = time.monotonic,
        timing: Timing = Timing(),
        per_session: int = 20,
        per_process: int = 5000,
        submit: Callable[[Callable[[], None]], None] = lambda look: look(),
        trace: Callable[[dict[str, Any]], None] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.read_stamps, self.refresh, self.render, self.check_access = read_stamps, refresh, render, check_access
        self.refresh_final = refresh_final  # the order's final answer from its mirror alone; None while its row is not final
        self.trace, self.wall = trace, wall  # per-push timings (orders.live.trace), wall-clock: off unless asked for
        self.standing_sessions = standing_sessions
        self.clock, self.timing, self.per_session, self.per_process = clock, timing, per_session, per_process
        # Starts a look at an order, or a stream's access check, without waiting for it (orders.live.loop: the
        # hub's threads; here, at once in the caller's thread, which is what the tests use).
        self.submit = submit
        self.watched: dict[int, Watched] = {}
        self.queries = 0  # workflow queries made (the figure the docs quote)
        self._lock = threading.RLock()
        _hubs.add(self)

    # --- streams come and go (from the web server's event loop) -------------------------------

    def check_room(self, session_key: str) -> None:
        """Raise StreamRefused when a stream for this session would pass the caps (asked before any work for it)."""
        with self._lock:
            open_streams = [s for w in self.watched.values() for s in w.streams]
            if len(open_streams) >= self.per_process:
                raise StreamRefused("This server has too many live panels open; the page polls instead.")
            if sum(1 for s in open_streams if s.session_key == session_key) >= self.per_session:
                raise StreamRefused("Too many live panels are open in this session; the page polls instead.")

    def add(self, stream: Stream) -> None:
        now = self.clock()
        with self._lock:
            self.check_room(stream.session_key)
            stream.opened_at = now
            stream.next_access_check = now + self.timing.access
            watched = self.watched.get(stream.order_id)
            if watched is None:
                # The page was just rendered from what the workflow said: the first stamp read is
                # the baseline, and one settle period later the workflow is asked once more.
                watched = self.watched[stream.order_id] = Watched(next_query_at=now + self.timing.settle)
            watched.streams.add(stream)

    def remove(self, stream: Stream) -> None:
        with self._lock:
            watched = self.watched.get(stream.order_id)
            if watched is not None:
                watched.streams.discard(stream)
                if not watched.streams:
                    del self.watched[stream.order_id]

    def stream_count(self) -> int:
        with self._lock:
            return sum(len(w.streams) for w in self.watched.values())

    # --- the tick (a worker thread) --------------------------------------------------------------

    def tick(self) -> None:
        """Read the stamps, start the looks that are due, check access.

        The tick does not wait for the looks it starts: one slow workflow
        answer must not hold up the next stamp read, and with it every other
        order's change.
        """
        now = self.clock()
        with self._lock:
            order_ids = list(self.watched)
        if not order_ids:
            return
        started = self.wall() if self.trace else 0.0
        stamps = self.read_stamps(order_ids)
        seen = self.wall() if self.trace else 0.0
        due: list[tuple[int, str, tuple[Watched, int]]] = []
        mirror_only: list[tuple[int, tuple[Watched, int]]] = []
        with self._lock:
            for order_id in order_ids:
                watched = self.watched.get(order_id)
                if watched is None:
                    continue
                stamp = stamps.get(order_id, "")
                changed = watched.stamp is not None and stamp != watched.stamp
                watched.stamp = stamp
                if changed and watched.asking:
                    mirror_only.append((order_id, self._start_look(watched, asking=False)))
                elif changed:
                    due.append((order_id, "change", self._start_look(watched)))
                elif now >= watched.next_query_at and not watched.asking:
                    due.append((order_id, watched.next_query_why, self._start_look(watched)))
        self._end_gone_sessions()
        for order_id, reason, look in due:
            self.submit(partial(self._refresh_order, order_id, reason, look, seen=seen))
        for order_id, look in mirror_only:
            self._refresh_order(order_id, "change", look, seen=seen, mirror_only=True)
        self._check_streams(now)
        if self.trace:
            self.trace({"kind": "tick", "started": started, "seen": seen, "ended": self.wall(), "orders": len(order_ids),
                        "asked": len(due), "mirror_only": len(mirror_only)})

    @staticmethod
    def _start_look(watched: Watched, *, asking: bool = True) -> tuple[Watched, int]:
        """A new look at the order: whom it is for, and its number (under the hub's lock)."""
        watched.asking = watched.asking or asking
        watched.asked += 1
        return watched, watched.asked

    def _end_gone_sessions(self) -> None:
        """One query for every open stream's session: a logout or an expiry, in any web process, ends its streams
        at the next tick. The per-stream access check (rights, delegations) runs far less often."""
        with self._lock:
            streams = [s for w in self.watched.values() for s in w.streams]
        if not streams:
            return
        try:
            standing = self.standing_sessions({s.session_key for s in streams})
        except Exception:
            logger.exception("live panel: the streams' sessions could not be read")
            return
        for stream in streams:
            if stream.session_key not in standing:
                self._end(stream, "the session is gone")

    def _refresh_order(self, order_id: int, reason: str, look: tuple[Watched, int], *, seen: float = 0.0,
                       mirror_only: bool = False) -> None:
        """Look at the order (`reason`: a changed stamp, or the look that fell due) and push each stream's panel.

        `mirror_only`: the stamp changed while the workflow is being asked; only a final row is read (no
        second query to the workflow), and when the row is not final one more look follows the one out.
        Only the newest answer counts: an answer that returns after a later one is dropped.
        """
        asked = self.wall() if self.trace else 0.0
        failed = False
        try:
            if mirror_only:
                refreshed = self.refresh_final(order_id)
            else:
                refreshed = self.refresh(order_id)
                self.queries += 1
        except Exception:
            logger.exception("live panel: order %s could not be read", order_id)
            refreshed, failed = None, True
        now = self.clock()
        watched, number = look
        next_look = None
        with self._lock:
            registered = self.watched.get(order_id) is watched  # not closed (and perhaps opened anew) meanwhile
            if not mirror_only:
                watched.asking = False
            answered = not (mirror_only and refreshed is None)
            newest = registered and answered and number > watched.answered
            if newest:
                watched.answered = number
                if refreshed is not None:
                    watched.last = refreshed
            if registered and not answered:
                watched.again = True  # the row is not final: the workflow must be asked again after the look out
            if registered and watched.again and not watched.asking:
                watched.again = False
                next_look = self._start_look(watched)
            streams = list(watched.streams) if newest else []
        if next_look is not None:
            self.submit(partial(self._refresh_order, order_id, "change", next_look, seen=self.wall() if self.trace else 0.0))
        timings = None
        if self.trace:
            timings = {"order": order_id, "reason": reason, "seen": seen, "asked": asked, "answered": self.wall(),
                       "state": refreshed.state if refreshed else "", "final": bool(refreshed and refreshed.final)}
            self.trace({"kind": "answer", "newest": newest, "mirror_only": mirror_only, **timings})
        if not newest:
            return
        if failed:
            self._schedule(order_id, now + self.timing.fallback, FALLBACK)
            return
        if refreshed is None:  # the order is gone
            for stream in streams:
                self._end(stream, "the order no longer exists")
            return
        for stream in streams:
            self._push(stream, refreshed, now, timings)
        if refreshed.final:
            for stream in streams:
                self._end(stream, "the order is final")
            return
        if reason == "change":
            self._schedule(order_id, now + self.timing.settle, "settle")
        else:
            period = {MOVING: self.timing.moving, WAITING: self.timing.waiting}.get(refreshed.pace, self.timing.fallback)
            self._schedule(order_id, now + period, refreshed.pace)

    def _schedule(self, order_id: int, when: float, why: str) -> None:
        with self._lock:
            watched = self.watched.get(order_id)
            if watched is not None:
                watched.next_query_at, watched.next_query_why = when, why

    def _push(self, stream: Stream, refreshed: Refreshed, now: float, timings: dict[str, Any] | None = None) -> None:
        """Render `refreshed` for the stream, and offer it if its version is news and it is still the order's latest
        answer (two looks at an order may render side by side: the older must not replace the newer's panel)."""
        try:
            panel = self.render(stream, refreshed)
            if panel.version != stream.version:
                html = panel.html()
                trace = {**timings, "version": panel.version, "rendered": self.wall()} if timings is not None else None
                with self._lock:
                    watched = self.watched.get(stream.order_id)
                    if watched is not None and watched.last is refreshed:
                        stream.offer(panel.version, html, now, trace)
        except Exception:
            logger.exception("live panel: the panel of order %s could not be rendered", stream.order_id)

    def written(self, stream: Stream) -> None:
        """The stream's event went to its socket (the trace's last time stamp)."""
        if self.trace and stream.taken_trace is not None:
            self.trace({"kind": "write", **stream.taken_trace, "written": self.wall()})
            stream.taken_trace = None

    def _check_streams(self, now: float) -> None:
        with self._lock:
            streams = [(s, w.last) for w in self.watched.values() for s in w.streams]
        due = []
        for stream, last in streams:
            if stream.stalled_for(now) >= self.timing.slow_client:
                self._end(stream, "the client does not read")
                stream.abort()
            elif now - stream.opened_at >= self.timing.max_life:
                self._end(stream, "the stream reached its age limit")
            elif now >= stream.next_access_check:
                stream.next_access_check = now + self.timing.access
                due.append((stream, last))
        # Started, as the looks are, not waited for: pages opened together come due together, and one
        # after another their checks (a query each, a render when the user's rows changed) held up the
        # tick, and with it every change waiting to be pushed.
        for stream, last in due:
            self.submit(partial(self._check_access, stream, last, now))

    def _check_access(self, stream: Stream, last: Refreshed | None, now: float) -> None:
        started = self.wall() if self.trace else 0.0
        before = stream.access_stamp
        try:
            stamp = self.check_access(stream)
        except Exception:
            logger.exception("live panel: the access check of a stream on order %s failed", stream.order_id)
            return
        if stamp is None:
            self._end(stream, "the session or the right to view the order is gone")
            return
        stream.access_stamp = stamp
        rendered = bool(before and stamp != before and last is not None)
        if rendered and last is not None:
            self._push(stream, last, now)  # the user's own rows changed (permissions, delegations): their actions may have
        if self.trace:
            self.trace({"kind": "access", "order": stream.order_id, "started": started, "ended": self.wall(), "rendered": rendered})

    def _end(self, stream: Stream, reason: str) -> None:
        self.remove(stream)
        stream.close(reason)


_hubs: weakref.WeakSet[Hub] = weakref.WeakSet()


def close_every_stream(reason: str) -> None:
    """End every open stream of this process (the server is stopping: the pages reconnect elsewhere)."""
    for hub in list(_hubs):
        with hub._lock:
            streams = [s for w in hub.watched.values() for s in w.streams]
        for stream in streams:
            hub._end(stream, reason)

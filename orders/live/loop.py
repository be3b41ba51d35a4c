"""The hub on the web server's event loop, and the event stream each open page reads.

One task per process runs the hub's tick in a small thread pool (the ORM,
the Temporal bridge and the templates are synchronous) every `tick` seconds
while any stream is open, and stops when the last one closes. Each stream's
writer waits on its own event: the hub wakes it from its thread when a panel
is ready, and a comment goes out every `heartbeat` seconds meanwhile.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from django.db import close_old_connections

from orders.live.hub import Hub
from orders.live.streams import Stream

logger = logging.getLogger(__name__)
T = TypeVar("T")

KEEP_ALIVE = ": keep-alive\n\n"
# How often the hub's figures are logged while streams are open (seconds).
REPORT_EVERY = 60.0
# The first bytes of every stream: the headers and this go out at once, so the page knows the stream is open.
OPENED = ": open\n\n"
# A panel version as the panel computes it (orders.views.panel: a 12-byte blake2b, in hex).
VERSION = re.compile(r"[0-9a-f]{24}")


def panel_event(version: str, html: str) -> str:
    """One `panel` event: its id is the panel's version, its data the fragment, one `data:` line per line."""
    lines = html.splitlines() or [""]
    return f"event: panel\nid: {version}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


def shown_version(last_event_id: str | None) -> str:
    """The version the page shows, from its Last-Event-ID; anything malformed counts as none."""
    value = (last_event_id or "").strip()
    return value if VERSION.fullmatch(value) else ""


class HubLoop:
    """Runs `hub.tick` on the current event loop while streams are open.

    The tick has a thread of its own; the looks it starts (a workflow query
    and the renders each) run on `threads` others. A look may wait a second
    on a workflow that is ending: the next tick does not wait for it.
    """

    def __init__(self, hub: Hub, *, threads: int = 8) -> None:
        self.hub = hub
        self.threads = threads
        self._task: asyncio.Task | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._ticker: ThreadPoolExecutor | None = None

    def ensure_running(self) -> None:
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._task.get_loop() is loop:
            return
        self._executor()
        self._task = loop.create_task(self._run(), name="live-panel-hub")

    async def run(self, fn: Callable[[], T]) -> T:
        """`fn` on the hub's threads: a burst of opening streams waits there, holding no request's connection."""
        return await asyncio.get_running_loop().run_in_executor(self._executor(), _with_connections(lambda _: fn()), None)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="live-panel")
            self._ticker = ThreadPoolExecutor(1, thread_name_prefix="live-panel-tick")
            pool = self._pool
            self.hub.submit = lambda look: pool.submit(_with_connections(lambda _: look()), None).add_done_callback(_log_failure)
        return self._pool

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        reported_at, reported_queries = loop.time(), self.hub.queries
        due = loop.time()
        while True:
            # A tick period first: a stream's page was rendered a moment ago, as it opened. Ticks start a
            # period apart, however long the last one took (a write waits half a period on average to be
            # seen); one that ran past the next start is followed a full period later, not at once.
            due += self.hub.timing.tick
            if due <= loop.time():
                due = loop.time() + self.hub.timing.tick
            await asyncio.sleep(due - loop.time())
            if not self.hub.stream_count():
                return
            try:
                await loop.run_in_executor(self._ticker, _with_connections(lambda _: self.hub.tick()), None)
            except Exception:
                logger.exception("live panel: a tick of the hub failed")
            if loop.time() - reported_at >= REPORT_EVERY:
                # What the hub costs, for an operator sizing web processes (docs/deployment.md).
                logger.info("live panel: %d streams on %d orders, %.2f workflow queries/s over the last %.0f s",
                            self.hub.stream_count(), len(self.hub.watched),
                            (self.hub.queries - reported_queries) / (loop.time() - reported_at), loop.time() - reported_at)
                reported_at, reported_queries = loop.time(), self.hub.queries


def _log_failure(done: Future) -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.error("live panel: a look at an order failed", exc_info=done.exception())


def _with_connections(fn):
    """`fn` as a request would run it: stale or broken database connections closed before and after."""
    def run(item):
        close_old_connections()
        try:
            return fn(item)
        finally:
            close_old_connections()
    return run


def connect(stream: Stream) -> asyncio.Event:
    """Bind `stream` to the current event loop: the hub's thread wakes its writer, or cuts it."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    stream.notify = lambda: loop.call_soon_threadsafe(wake.set)
    return wake


async def events(hub: Hub, stream: Stream, wake: asyncio.Event, first: str) -> AsyncIterator[str]:
    """What the page reads: the panel when its version changes, comments meanwhile, until the stream ends."""
    writer = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if writer is not None:
        stream.abort = lambda: loop.call_soon_threadsafe(writer.cancel)
    try:
        yield OPENED + first
        while True:
            item = stream.take()
            if item is not None:
                yield panel_event(*item)
                stream.sent()
                hub.written(stream)
                continue
            if stream.closed:
                return
            wake.clear()
            if stream.ready():
                continue
            try:
                await asyncio.wait_for(wake.wait(), timeout=hub.timing.heartbeat)
            except TimeoutError:
                stream.sending(hub.clock())
                yield KEEP_ALIVE
                stream.sent()
    finally:
        hub.remove(stream)

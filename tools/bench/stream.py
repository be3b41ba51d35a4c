"""The live panel's push channel (server-sent events) under load, on the
production web server: open pages holding a stream each, first while their
orders wait on people, then while every order moves at once.

The polling rows (page_sections.polling) ask the same of the poll path; this
is the row the issue asks for when polling cannot carry orders that move:
the same 200 pages, measured by what a person sees (a change, and when the
page shows it) and by the CPU every process spends meanwhile.
"""
from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from django.urls import reverse

from orders.models import Order
from temporal_bridge.order import states
from tools.bench import web
from tools.bench.context import Context, cores, meters, pg_backend_pids
from tools.bench.http import Browser, Pool, event_stream
from tools.bench.page_sections import pending_orders
from tools.bench.procs import with_children
from tools.bench.report import at_most
from tools.bench.stats import ms

# A page opened on an order sees every change within this long (p95): the goal
# of the polling row it stands in for (200 pages of orders that move).
CHANGE_P95_GOAL = 0.250
# How long a page may wait for its first panel after opening its stream.
OPEN_TIMEOUT = 60.0
# Approvals sent at once (a few managers deciding), and how fast in all: below
# what the engine carries on this machine (manager-approved orders, about 6/s
# in the throughput section), so that the rows time the push, not a backlog of
# orders waiting for a worker (at 10/s the approvals' effects queued for seconds).
APPROVERS = 8
APPROVALS_PER_SECOND = 4.0
# Pages opening per second: a room of people opening pages, or every page
# reconnecting over a few seconds after a deploy (EventSource waits ~3 s).
OPENING_PER_SECOND = 100.0
# While iterating on the hub: fewer pages (BENCH_STREAM_PAGES), and the
# 1,000-page idle phase skipped (BENCH_STREAM_MANY_PAGES=0). make bench sets neither.
PAGES_ENV, MANY_PAGES_ENV = "BENCH_STREAM_PAGES", "BENCH_STREAM_MANY_PAGES"


@dataclass
class StreamPage:
    """One open order page: what its stream pushed, and when."""

    pk: int
    browser: Browser
    opened_at: float = 0.0
    states: list[tuple[float, str]] = field(default_factory=list)  # (arrival, the panel's data-state)
    versions: list[str] = field(default_factory=list)  # each event's id (the panel version), as `states`
    events: int = 0
    ended_by_server: bool = False
    error: str = ""

    @property
    def first_at(self) -> float | None:
        return self.states[0][0] if self.states else None

    def shown_after(self, moment: float, *, leaving: str) -> float | None:
        """When the page first showed a state other than `leaving`, after `moment`."""
        return next((at for at, state in self.states if at >= moment and state != leaving), None)


async def _follow(address: str, page: StreamPage) -> None:
    path = reverse("orders:panel_stream", args=[page.pk])
    page.opened_at = time.time()
    try:
        async for event in event_stream(address, path, page.browser.headers(htmx=False)):
            if event.name == "panel":
                page.events += 1
                page.states.append((event.at, web.state_of(event.data.encode())))
                page.versions.append(event.id)
        page.ended_by_server = True
    except asyncio.CancelledError:
        raise
    except Exception as err:  # noqa: BLE001 - counted and shown in the table
        page.error = f"{type(err).__name__}: {err}"


def live_stream(ctx: Context) -> None:
    s, t = ctx.sizes, ctx.table
    page_count = int(os.environ.get(PAGES_ENV) or s.pages)
    many_pages = int(os.environ.get(MANY_PAGES_ENV) or s.many_pages)
    ids = pending_orders(ctx, page_count)
    # Each push's timings from the web processes (orders/live/trace.py): where "written → shown" goes.
    # Taken only when this section starts the web server (it may run already, started by the polling rows).
    trace_path = ctx.procs.log_dir / "live-trace.jsonl"
    trace_path.unlink(missing_ok=True)
    os.environ["LIVE_PANEL_TRACE"] = str(trace_path)
    server = ctx.gunicorn()
    if server is None:
        t.add("Live panel push channel", "gunicorn (make serve)", "skipped: gunicorn not installed")
        return
    manager = ctx.fx().manager
    # The streams stay open across the phases, so the phases run in one event
    # loop, and the CPU meters and the final read ask the database from it.
    # This driver is one thread that never shares a connection: Django's
    # guard against the ORM in async code has nothing to protect here.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # One session per page, as many managers' browsers: a session's own streams are capped.
    waiting = [StreamPage(pk, Browser(web.session_for(manager))) for pk in ids]
    asyncio.run(_waiting_and_moving(ctx, server, waiting, trace_path))
    if not many_pages:
        return
    # The first orders have ended: as many again, each watched by several pages.
    more = pending_orders(ctx, len(ids))
    many = [StreamPage(more[i % len(more)], Browser(web.session_for(manager))) for i in range(many_pages)]
    asyncio.run(_idle_only(ctx, server, many, len(more)))


def _groups(ctx: Context, web_pid: int) -> dict:
    return {"web": lambda: with_children(web_pid), "worker": lambda: list(ctx.worker_pids), "Temporal": lambda: [ctx.temporal_pid],
            "PostgreSQL": pg_backend_pids}


async def _open(address: str, pages: list[StreamPage]) -> list[asyncio.Task]:
    """Every page opens its stream (OPENING_PER_SECOND of them a second), and gets its first panel."""
    async def start(page: StreamPage, delay: float) -> None:
        await asyncio.sleep(delay)
        await _follow(address, page)

    tasks = [asyncio.create_task(start(page, i / OPENING_PER_SECOND)) for i, page in enumerate(pages)]
    deadline = time.monotonic() + OPEN_TIMEOUT
    while time.monotonic() < deadline and any(p.first_at is None and not p.error and not p.ended_by_server for p in pages):
        await asyncio.sleep(0.05)
    return tasks


async def _close(tasks: list[asyncio.Task]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _opening_row(ctx: Context, section: str, pages: list[StreamPage]) -> None:
    opened = [p.first_at - p.opened_at for p in pages if p.first_at is not None]
    p50, p95 = web.p50_p95(opened)
    errors = sorted({p.error for p in pages if p.error})
    ctx.table.add(section, "opening: the stream's first panel, p50 / p95", f"{ms(p50)} / {ms(p95)}", "",
                  f"{len(opened)} of {len(pages)} pages got it" + (f"; errors: {'; '.join(errors[:3])}" if errors else ""))
    if len(opened) < len(pages):
        ctx.table.errors.append(f"live stream: {len(pages) - len(opened)} of {len(pages)} pages got no first panel ({errors[:3]})")


async def _idle_window(ctx: Context, server: tuple[str, int], section: str, pages: list[StreamPage]) -> None:
    seconds = ctx.sizes.poll_seconds
    before = sum(p.events for p in pages)
    with meters(_groups(ctx, server[1])) as used:
        await asyncio.sleep(seconds)
    pushed = sum(p.events for p in pages) - before
    web_us = used["web"] / len(pages) * 1e6
    ctx.table.add(section, f"open for {seconds:g} s while every order waits on people: CPU (cores)", cores(used), "",
                  f"web {web_us:.0f} µs of CPU per open page per second; {pushed} panels pushed "
                  "(a page polling at the panel's pace asks every 20 s)")


async def _waiting_and_moving(ctx: Context, server: tuple[str, int], pages: list[StreamPage], trace_path: Path) -> None:
    address = server[0]
    section = (f"Live panel push channel (server-sent events), {len(pages):,} open pages on {len(pages)} orders "
               "(gunicorn as make serve runs it)")
    tasks = await _open(address, pages)
    try:
        _opening_row(ctx, section, pages)
        await _idle_window(ctx, server, section, pages)
        moving_from = time.time()
        finished = await _every_order_moves(ctx, server, section, pages)
        _push_breakdown(ctx, section, pages, finished, trace_path, since=moving_from)
    finally:
        await _close(tasks)


async def _idle_only(ctx: Context, server: tuple[str, int], pages: list[StreamPage], orders: int) -> None:
    section = (f"Live panel push channel (server-sent events), {len(pages):,} open pages on {orders} orders "
               "(gunicorn as make serve runs it)")
    tasks = await _open(server[0], pages)
    try:
        _opening_row(ctx, section, pages)
        await _idle_window(ctx, server, section, pages)
    finally:
        await _close(tasks)


async def _every_order_moves(ctx: Context, server: tuple[str, int], section: str, pages: list[StreamPage]) -> dict[int, float]:
    """Managers approve every order (APPROVALS_PER_SECOND): each then moves by itself to its end.

    Per page: from the approval's POST to the page showing the order past
    pending approval, and from the workflow's last write (the order's final
    state in the mirror) to the page showing it.
    """
    s, t = ctx.sizes, ctx.table
    approver = Browser(pages[0].browser.session_id)
    pool = Pool(server[0], APPROVERS)
    sent: dict[int, float] = {}
    statuses: dict[int, int] = {}
    gap = 1 / APPROVALS_PER_SECOND

    async def approve(page: StreamPage, delay: float) -> None:
        await asyncio.sleep(delay)
        headers, body = approver.post_headers({"request_id": uuid.uuid4().hex, "comment": ""})
        sent[page.pk] = time.time()
        response = await pool.request("POST", reverse("orders:approve", args=[page.pk]), headers, body)
        statuses[response.status] = statuses.get(response.status, 0) + 1

    with meters(_groups(ctx, server[1])) as used:
        started = time.monotonic()
        await asyncio.gather(*(approve(page, i * gap) for i, page in enumerate(pages)))
        deadline = time.monotonic() + s.timeout
        while time.monotonic() < deadline and not all(_ended(p) for p in pages):
            await asyncio.sleep(0.1)
        seconds = time.monotonic() - started
    pool.close()
    finished = {pk: updated.timestamp() for pk, updated in
                Order.objects.filter(pk__in=[p.pk for p in pages], status__in=states.TERMINAL).values_list("pk", "updated_at")}
    shown = [at - sent[p.pk] for p in pages if p.pk in sent and (at := p.shown_after(sent[p.pk], leaving=states.PENDING_APPROVAL))]
    final = [p.states[-1][0] - finished[p.pk] for p in pages if p.pk in finished and p.states and p.states[-1][1] in states.TERMINAL]
    every_change = len(shown) == len(pages) and len(final) == len(pages)
    # The goal is on the push path itself: from the moment the desk wrote the
    # change to the moment the page shows it. The approval's row adds what the
    # engine takes to act on the decision before there is anything to push.
    f50, f95 = web.p50_p95(final)
    verdict = at_most(f95, CHANGE_P95_GOAL) if every_change else f"MISSED: {len(final)} of {len(pages)} pages showed the end"
    t.add(section, "every order moving (approved, then by itself to its end): its final state written → the page shows it, "
          "p50 / p95", f"{ms(f50)} / {ms(f95)}; {len(final)} of {len(pages)} pages", f"every change shown, p95 ≤ {ms(CHANGE_P95_GOAL)}",
          verdict)
    p50, p95 = web.p50_p95(shown)
    closed = sum(p.ended_by_server for p in pages)
    per_page = sum(p.events for p in pages) / len(pages)
    t.add(section, "  the approval's POST sent → the page shows the order past pending approval, p50 / p95", f"{ms(p50)} / {ms(p95)}",
          "", f"{len(shown)} of {len(pages)} pages; {closed} streams closed by the server at the end; {per_page:.1f} panels pushed "
          f"per page; approvals HTTP {dict(sorted(statuses.items()))}")
    t.add(section, f"  CPU while they moved ({seconds:.0f} s, including the orders' own work)", cores(used))
    ctx.figures["stream change p95"] = f95
    ctx.figures["stream every change"] = float(every_change)
    return finished


def _ended(page: StreamPage) -> bool:
    return bool(page.error) or page.ended_by_server or bool(page.states and page.states[-1][1] in states.TERMINAL)


def _push_breakdown(ctx: Context, section: str, pages: list[StreamPage], finished: dict[int, float], trace_path: Path, *,
                    since: float) -> None:
    """Where "its final state written → the page shows it" goes, from the web processes' trace of each push.

    Per page's final event: the mirror's write → the tick that read the changed stamp ("seen") → the hub's thread
    asks the workflow → the answer → the page's panel rendered → the event written to the socket → this
    driver reads it. And why the hub looked (a changed stamp, or a settle or safety look fell due), and how many
    orders had their workflow answer a state that was not final after the final row was written.
    """
    if not trace_path.exists():
        ctx.table.add(section, "  where written → shown goes", "not traced: the web server was started before this section")
        return
    records = [json.loads(line) for line in trace_path.read_text().splitlines() if line.strip()]
    writes = {(r["order"], r["version"]): r for r in records if r["kind"] == "write"}
    parts: dict[str, list[float]] = {name: [] for name in
                                     ("write → seen", "seen → asked", "asked → answered", "answered → rendered",
                                      "rendered → written", "written → read here", "total")}
    reasons: Counter[str] = Counter()
    untraced = 0
    for page in pages:
        if page.pk not in finished or not page.states or page.states[-1][1] not in states.TERMINAL:
            continue
        record = writes.get((page.pk, page.versions[-1]))
        if record is None:
            untraced += 1
            continue
        reasons[record["reason"]] += 1
        marks = [finished[page.pk], record["seen"], record["asked"], record["answered"], record["rendered"], record["written"],
                 page.states[-1][0]]
        for name, (a, b) in zip(list(parts)[:-1], pairwise(marks), strict=True):
            parts[name].append(b - a)
        parts["total"].append(marks[-1] - marks[0])
    stale = {r["order"] for r in records if r["kind"] == "answer" and not r["final"] and r["order"] in finished
             and r["asked"] >= finished[r["order"]]}
    ticks = [r["ended"] - r["started"] for r in records if r["kind"] == "tick" and r["started"] >= since]
    for name, values in parts.items():
        p50, p95 = web.p50_p95(values)
        ctx.table.add(section, f"  final push: {name}, p50 / p95", f"{ms(p50)} / {ms(p95)}", "",
                      f"{len(values)} pages" + (f"; {untraced} final events not in the trace" if untraced and name == "total" else ""))
    window = max((r["ended"] for r in records if r["kind"] == "tick"), default=since) - since
    checks = [r for r in records if r["kind"] == "access" and since <= r["started"] <= since + window]
    answers = [r for r in records if r["kind"] == "answer" and since <= r["asked"] <= since + window]
    asked = [r for r in answers if not r.get("mirror_only")]
    mirror = [r for r in answers if r.get("mirror_only")]
    if window > 0:
        # The workflow queries the moving orders cost, and what the per-stream access checks cost beside them (each
        # a query, and a render when the user's rows, or the order's, changed since the last check), in thread time.
        ctx.table.add(section, "  while they moved: workflow looks / mirror-only looks / access checks, per second "
                      "(thread time in all)",
                      f"{len(asked) / window:.1f} / {len(mirror) / window:.1f} / {len(checks) / window:.1f} per s "
                      f"({sum(r['answered'] - r['asked'] for r in asked):.1f} s / {sum(r['answered'] - r['asked'] for r in mirror):.1f} s"
                      f" / {sum(r['ended'] - r['started'] for r in checks):.1f} s)", "",
                      f"{sum(r['answered'] - r['asked'] > 0.5 for r in asked)} workflow answers took over 0.5 s, "
                      f"{sum(r.get('newest') is False for r in asked)} came after a newer answer and were dropped; "
                      f"{sum(r['final'] for r in mirror)} final panels from the mirror alone; "
                      f"{sum(r['rendered'] for r in checks)} access checks re-rendered a panel")
    p50, p95 = web.p50_p95(ticks)
    ctx.table.add(section, "  final push: why the hub looked; the hub's tick while they moved, p50 / p95 / max",
                  f"{dict(reasons.most_common())}; tick {ms(p50)} / {ms(p95)} / {ms(max(ticks, default=float('nan')))}", "",
                  f"{len(stale)} orders' workflows answered a state short of final after the final row was written; "
                  f"{len(ticks)} ticks")

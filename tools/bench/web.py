"""The live panel, approve-to-visible and polling load, measured against real servers."""
from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from dataclasses import dataclass, field

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import Order
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import states
from tools.bench.http import Browser, Pool
from tools.bench.stats import percentile

STATE_RE = re.compile(rb'id="live-panel"[^>]*data-state="([a-z_]+)"')
VERSION_RE = re.compile(rb'"X-Panel-Version": *"([0-9a-f]+)"')
NOTICE_RE = re.compile(rb'<p class="alert alert-warning" role="status">([^<]*)</p>')


def wait_awaiting_decision(ids: list[int], timeout: float) -> None:
    """Until every order's workflow has recorded its approval deadline (it is waiting for a decision)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Order.objects.filter(pk__in=ids, approval_deadline__isnull=True).exists():
            return
        time.sleep(0.1)
    raise TimeoutError("orders did not reach the approval wait in time")


def session_for(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


# --- Live panel cost ----------------------------------------------------------------


def query_latencies(ids: list[int], samples: int) -> list[float]:
    """The bridge's query_order, one order after another, round robin."""
    out = []
    for i in range(samples):
        t0 = time.perf_counter()
        order_calls.query_order(ids[i % len(ids)], timeout=10)
        out.append(time.perf_counter() - t0)
    return out


@dataclass
class ServerTimes:
    seconds: list[float]
    queries: list[int]
    statuses: set[int] = field(default_factory=set)
    count_queries: list[str] = field(default_factory=list)


def server_times(client: Client, paths: list[str], samples: int, *, htmx: bool = False, headers: dict | None = None,
                 table: str = "orders_order") -> ServerTimes:
    """Time spent inside Django per request (no network), and the SQL it ran."""
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    extra.update(headers or {})
    result = ServerTimes([], [])
    client.get(paths[0], **extra)  # warm: templates, permissions, connection
    for i in range(samples):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            response = client.get(paths[i % len(paths)], **extra)
            result.seconds.append(time.perf_counter() - t0)
        result.statuses.add(response.status_code)
        result.queries.append(len(ctx.captured_queries))
        for q in ctx.captured_queries:
            sql = q["sql"]
            if "COUNT(" in sql.upper() and f'FROM "{table}"' in sql and " WHERE " not in sql.upper():
                result.count_queries.append(sql)
    return result


# --- Approve to visible -------------------------------------------------------------------


@dataclass
class ApproveResult:
    visible: list[float]  # POST sent → the page shows the state moved past pending approval
    post: list[float]  # the POST's round trip
    direct: int  # shown by the POST's own answer, no poll needed
    statuses: dict[int, int] = field(default_factory=dict)  # of the POSTs


async def approve_to_visible(address: str, browser: Browser, ids: list[int], gap: float = 0.05) -> ApproveResult:
    """Per order, as the manager's page sees it: from sending the approve POST (htmx) until the page shows the order past
    pending approval.

    htmx swaps the POST's answer in at once: when that panel shows the state
    moved, that is the moment. When it still shows pending approval (the
    workflow's verdict was not final within the view's wait: 202 "queued"),
    the page learns of the change at its next poll, which htmx fires the
    panel's own period (hx-trigger "every …") after the swap; so this waits
    that long before each poll, as the page does, instead of polling faster
    than any page would.
    """
    pool = Pool(address, 1)
    result = ApproveResult([], [], 0)
    try:
        for pk in ids:
            headers, body = browser.post_headers({"request_id": uuid.uuid4().hex, "comment": ""})
            t0 = time.perf_counter()
            response = await pool.request("POST", reverse("orders:approve", args=[pk]), headers, body)
            result.post.append(time.perf_counter() - t0)
            result.statuses[response.status] = result.statuses.get(response.status, 0) + 1
            if response.status not in (200, 202):  # accepted, or queued while the workflow has not answered yet
                raise RuntimeError(f"approve answered {response.status}: {response.text[:300]}")
            shown, page = state_of(response.body), response.body
            polls = 0
            while shown == states.PENDING_APPROVAL:
                polls += 1
                if polls > 20:
                    raise RuntimeError(f"order {pk} still shows pending approval after {polls} polls")
                await asyncio.sleep(_poll_period(page))
                extra = {"X-Panel-Version": v.group(1).decode()} if (v := VERSION_RE.search(page)) else {}
                response = await pool.request("GET", reverse("orders:panel", args=[pk]), browser.headers(extra=extra))
                if response.status == 200:
                    shown, page = state_of(response.body), response.body
            result.visible.append(time.perf_counter() - t0)
            result.direct += polls == 0
            await asyncio.sleep(gap)
    finally:
        pool.close()
    return result


POLL_RE = re.compile(rb'hx-trigger="every ([0-9.]+)(ms|s)"')


def _poll_period(body: bytes) -> float:
    """The panel's own poll period in seconds (its hx-trigger); a panel that does not poll is not looked at again by the page."""
    match = POLL_RE.search(body)
    if match is None:
        raise RuntimeError("the panel shows pending approval but does not poll: the page would never show the change")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == b"ms" else value


def state_of(body: bytes) -> str:
    match = STATE_RE.search(body)
    return match.group(1).decode() if match else ""


# --- Polling load -------------------------------------------------------------------------


@dataclass
class PollResult:
    latencies: list[float]
    statuses: dict[int, int]
    bytes_in: int
    seconds: float
    offered: int = 0  # polls the pages' timers fired (answered or still waiting at the end)
    driver_cpu: float = 0.0  # CPU seconds this process (the simulated browsers) used meanwhile
    # Following the pace: each answer that named another pace than the page's (from, to, HTTP status, the panel's notice).
    pace_changes: list[tuple[float, float, int, str]] = field(default_factory=list)
    # The polls the pages' own paces asked for in the window, each pace counted from the answer that named it
    # (a page told 5 s, then 20 s, asks for neither 5 s's count nor 20 s's over the whole window).
    asked: float = 0.0
    window: float = 1.0  # the seconds asked for: the window the pages' polls were fired in

    @property
    def asked_rps(self) -> float:
        return self.asked / self.window

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def offered_rps(self) -> float:
        return self.offered / self.seconds


@dataclass
class Page:
    """One open detail page: the version its panel shows, how often it polls, when it polls next."""

    pk: int
    version: str = ""
    every: float = 1.5
    next_at: float = 0.0


def pace(header: str | None) -> float | None:
    """The panel's X-Panel-Poll ("1500ms", "20s", "" once final) in seconds; None: stop polling."""
    if not header:
        return None
    return float(header[:-2]) / 1000 if header.endswith("ms") else float(header.rstrip("s"))


def open_pages(ids: list[int], pages: int, every: float) -> list[Page]:
    """`pages` pages over the orders `ids` (round robin), opened at random moments over one period."""
    now = time.monotonic()
    return [Page(ids[i % len(ids)], every=every, next_at=now + random.uniform(0, every)) for i in range(pages)]


async def poll_load(address: str, browser: Browser, pages: list[Page], *, seconds: float, connections: int,
                    conditional: bool, follow: bool = False) -> PollResult:
    """The open `pages` polling their panels for `seconds`, as htmx does; the pages keep their state between calls.

    With `conditional`, a page sends back the version its last panel carried
    (the panel's hx-headers), so an unchanged panel can answer 204. With
    `follow`, it polls at the pace the last answer named (X-Panel-Poll, as the
    fragment's hx-trigger tells htmx); without, at its fixed `every`.
    """
    pool = Pool(address, connections)
    result = PollResult([], {}, 0, seconds)
    now = time.monotonic()
    end = now + seconds
    for page in pages:
        if page.next_at < now:
            # A poll that fell between two runs fires at its own moment within
            # the page's period. Firing all of them at once made every page poll
            # in step: 200 (or 1,000) requests in one burst per period, which
            # queued on the 16 connections for a second or more while the web
            # process was almost idle.
            page.next_at = now + random.uniform(0, page.every)

    async def run(page: Page) -> None:
        path = reverse("orders:panel", args=[page.pk])
        since = now  # the page's pace holds from here
        while True:
            if page.next_at >= end:
                result.asked += (end - since) / page.every
                return  # its next poll falls in the next run: the page keeps its moment
            await asyncio.sleep(max(0.0, page.next_at - time.monotonic()))
            started = time.monotonic()
            result.offered += 1
            extra = {"X-Panel-Version": page.version} if conditional and page.version else {}
            t0 = time.perf_counter()
            response = await pool.request("GET", path, browser.headers(extra=extra))
            result.latencies.append(time.perf_counter() - t0)
            result.statuses[response.status] = result.statuses.get(response.status, 0) + 1
            result.bytes_in += len(response.body)
            if response.status == 200:
                match = VERSION_RE.search(response.body)
                page.version = match.group(1).decode() if match else ""
            if follow:
                every = pace(response.headers.get("x-panel-poll"))
                if every is None:
                    result.asked += (min(started, end) - since) / page.every
                    page.next_at = float("inf")
                    return
                if every != page.every:
                    notice = NOTICE_RE.search(response.body)
                    result.pace_changes.append((page.every, every, response.status, notice.group(1).decode()[:160] if notice else ""))
                    result.asked += (started - since) / page.every
                    since = started
                    # Pages are opened at random moments: over the pace they now
                    # follow, not over the period they were opened in. Without
                    # this, 200 pages that learn "every 20 s" within 1.5 s poll
                    # in a burst every 20 s (133 req/s for 1.5 s, not 10 req/s).
                    page.every = every
                    page.next_at = started + random.uniform(0, every)
                    continue
                page.every = every
            # htmx's `every` fires on a timer; a slow answer delays the next one.
            page.next_at = started + max(page.every, time.monotonic() - started)

    t0, cpu0 = time.monotonic(), time.process_time()
    try:
        await asyncio.gather(*(run(page) for page in pages))
    finally:
        pool.close()
    # The window the pages' polls were fired in (the last answers may come in after it).
    result.seconds = max(time.monotonic() - t0, seconds)
    result.window = seconds
    result.driver_cpu = time.process_time() - cpu0
    return result


ACCESS_TIME_RE = re.compile(rb" (\d+)us$", re.M)


def server_seconds(access_log, offset: int) -> list[float]:
    """How long each request logged after `offset` took inside gunicorn (its access log's last field, config/gunicorn.conf.py)."""
    try:
        with open(access_log, "rb") as f:
            f.seek(offset)
            return [int(us) / 1e6 for us in ACCESS_TIME_RE.findall(f.read())]
    except OSError:
        return []


def p50_p95(values: list[float]) -> tuple[float, float]:
    return percentile(values, 50), percentile(values, 95)


def approve_breakdown(user, ids: list[int]) -> dict[str, list[float]]:
    """Where an approve POST's time goes, in this process (Django's test client, the same bridge).

    The bridge calls are timed by wrapping them for the duration: `signal` is
    the signal RPC, `verdict` the wait for the workflow's verdict on the
    request (queries repeated until it is final: the actor check has run),
    `query` the snapshot read for the answer's panel, `total` the whole POST.
    A bridge function the code no longer has is simply not timed (its list
    stays empty).
    """
    parts = {"signal": "signal_order", "verdict": "request_verdict", "query": "query_order"}
    timings: dict[str, list[float]] = {"total": [], **{name: [] for name in parts}}
    originals = {name: getattr(order_calls, attr) for name, attr in parts.items() if hasattr(order_calls, attr)}

    def timed(name, func):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                timings[name].append(time.perf_counter() - t0)
        return wrapper

    for name, func in originals.items():
        setattr(order_calls, parts[name], timed(name, func))
    client = Client()
    client.force_login(user)
    try:
        for pk in ids:
            calls = {name: len(timings[name]) for name in originals}
            t0 = time.perf_counter()
            response = client.post(reverse("orders:approve", args=[pk]), {"request_id": uuid.uuid4().hex, "comment": ""},
                                   HTTP_HX_REQUEST="true")
            timings["total"].append(time.perf_counter() - t0)
            if response.status_code not in (200, 202):
                raise RuntimeError(f"approve answered {response.status_code}")
            # One figure per POST and part: a part called twice (or never) adds up (or counts 0).
            for name in originals:
                spent = timings[name][calls[name]:]
                del timings[name][calls[name]:]
                timings[name].append(sum(spent))
    finally:
        for name, func in originals.items():
            setattr(order_calls, parts[name], func)
    return timings

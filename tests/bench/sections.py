"""The bench sections, each adding its rows to the table (Django is set up by now)."""
from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection
from django.test import Client

from orders.models import Order
from orders.pagination import EXACT_COUNT_BELOW
from temporal_bridge.client import bridge
from tests.bench import audit_export, lifecycle, lists, poll_cost, web
from tests.bench.env import BenchDatabase
from tests.bench.http import Browser
from tests.bench.local_mirror import WORKFLOW_NAME as LOCAL_MIRROR_WORKFLOW
from tests.bench.procs import Procs, with_children
from tests.bench.report import Table, at_least, at_most
from tests.bench.stats import CpuMeter, MachineMeter, ms

THROUGHPUT_GOAL = 0.8
APPROVE_P95_GOAL = 0.250
LIST_P95_GOAL = 0.100
CHANGELIST_P95_GOAL = 0.300
POLL_EVERY = 1.5  # the panel's LIVE_POLL


@dataclass
class Context:
    table: Table
    procs: Procs
    sizes: object
    db: BenchDatabase
    address: str
    temporal_pid: int
    steps: int
    step_seconds: float
    smoke: bool
    fixtures: lifecycle.Fixtures | None = None
    worker_pids: list[int] = field(default_factory=list)
    _worker: object = None
    _web: dict = field(default_factory=dict)

    def fx(self) -> lifecycle.Fixtures:
        if self.fixtures is None:
            self.fixtures = lifecycle.seed()
        return self.fixtures

    def use_task_queue(self, name: str) -> str:
        settings.TEMPORAL_TASK_QUEUE = name
        return name

    def app_worker(self) -> None:
        """One `manage.py runworker` (default slots) on the app's task queue, for the web sections."""
        if self._worker is None:
            self.use_task_queue(f"bench-app-{uuid.uuid4().hex[:6]}")
            self._worker = self.procs.runworker("worker-app", address=self.address, task_queue=settings.TEMPORAL_TASK_QUEUE, concurrency=20)
            self.worker_pids = [self._worker.pid]
        else:
            self.use_task_queue(self._app_queue)
        self._app_queue = settings.TEMPORAL_TASK_QUEUE

    def web(self, *, cache_seconds: float | None = None) -> tuple[str, int]:
        """A web server process (runserver, threaded); one per snapshot-cache setting."""
        key = "default" if cache_seconds is None else f"cache{cache_seconds:g}"
        if key not in self._web:
            env = {} if cache_seconds is None else {"ORDER_SNAPSHOT_CACHE_SECONDS": str(cache_seconds)}
            address, process = self.procs.web(f"web-{key}", env)
            self._web[key] = (address, process.pid)
        return self._web[key]

    def gunicorn(self) -> tuple[str, int] | None:
        """The production web server (`make serve`'s gunicorn config), if installed."""
        if shutil.which("gunicorn", path=os.path.dirname(sys.executable)) is None:
            return None
        if "gunicorn" not in self._web:
            address, process = self.procs.gunicorn("web-gunicorn")
            self._web["gunicorn"] = (address, process.pid)
        return self._web["gunicorn"]

    def close(self) -> None:
        bridge.reset()


def pg_backend_pids() -> list[int]:
    """The PostgreSQL backends serving the bench database (none on SQLite)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return [row[0] for row in cursor.fetchall()]


@contextmanager
def meters(groups: dict):
    """CPU (in cores) used by each named group of processes during the block, and by
    everything else on the machine ("other": other people's work shares the cores)."""
    result: dict[str, float] = {}
    started = {name: CpuMeter(fn) for name, fn in groups.items()}
    machine = MachineMeter()
    machine.start()
    for meter in started.values():
        meter.start()
    try:
        yield result
    finally:
        for name, meter in started.items():
            result[name] = meter.stop()
        result["other"] = max(0.0, machine.stop() - sum(result.values()))


def cores(used: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in used.items())


# --- Lifecycle throughput -----------------------------------------------------------------


def throughput(ctx: Context) -> None:
    """The real path and the bare-SDK baseline in alternating rounds on the same server.

    Both workers poll all along (an idle worker costs nothing measurable), and
    the rounds alternate, so a burst of other work on the shared machine hits
    both sides alike instead of deciding the ratio.
    """
    s, t = ctx.sizes, ctx.table
    fx = ctx.fx()
    section = "Lifecycle throughput"
    me = os.getpid()
    base_q = f"bench-base-{uuid.uuid4().hex[:6]}"
    real_q = f"bench-real-{uuid.uuid4().hex[:6]}"
    base_worker = ctx.procs.baseline_worker("worker-baseline", address=ctx.address, task_queue=base_q, concurrency=20)
    worker = ctx.procs.runworker("worker-throughput", address=ctx.address, task_queue=real_q, concurrency=20)
    rounds = s.throughput_rounds
    per_round = max(1, s.orders // rounds)
    try:
        for approval, label in ((False, "auto-approved"), (True, "manager-approved")):
            totals = {"real": [0.0, {}], "base": [0.0, {}]}
            failures = {"real": 0, "base": 0}
            for _ in range(rounds):
                with meters({"worker": lambda: [base_worker.pid], "Temporal": lambda: [ctx.temporal_pid], "driver": lambda: [me]}) as used:
                    rate, failed = lifecycle.baseline_throughput(ctx.address, base_q, per_round, requires_approval=approval,
                        steps=ctx.steps,
                                                                 step_seconds=ctx.step_seconds, timeout=s.timeout)
                _accumulate(totals["base"], per_round / rate, used)
                failures["base"] += failed
                ctx.use_task_queue(real_q)
                with meters({"worker": lambda: [worker.pid], "Temporal": lambda: [ctx.temporal_pid], "submitter": lambda: [me],
                             "PostgreSQL": pg_backend_pids}) as used:
                    rate, failed = lifecycle.real_throughput(fx, per_round, requires_approval=approval, timeout=s.timeout)
                _accumulate(totals["real"], per_round / rate, used)
                failures["real"] += failed
            n = per_round * rounds
            real_rate, base_rate = n / totals["real"][0], n / totals["base"][0]
            real_used, base_used = _average(totals["real"]), _average(totals["base"])
            ratio = real_rate / base_rate
            how = f"{n} orders in {rounds} alternating rounds"
            t.add(section, f"{label}: real path (1 runworker, 20 slots), {how}", f"{real_rate:.1f} orders/s", "",
                f"CPU cores: {cores(real_used)}")
            t.add(section, f"{label}: bare-SDK baseline, same shape", f"{base_rate:.1f} orders/s", "", f"CPU cores: {cores(base_used)}")
            t.add(section, f"{label}: ratio real / baseline", f"{ratio:.2f}", f"≥ {THROUGHPUT_GOAL}", at_least(ratio, THROUGHPUT_GOAL))
            # Wall-clock rates move with whatever else the machine runs; CPU per
            # order much less, so the ratio in CPU is shown beside it.
            real_cpu, base_cpu = _cpu_per_order(real_used, real_rate), _cpu_per_order(base_used, base_rate)
            t.add(section, f"{label}: CPU per order, real / baseline (all our processes)",
                  f"{real_cpu * 1000:.0f} ms / {base_cpu * 1000:.0f} ms", "", f"ratio {base_cpu / real_cpu:.2f} if CPU-bound")
            if failures["real"] or failures["base"]:
                t.errors.append(f"{label}: {failures['real']} real and {failures['base']} baseline orders did not end fulfilled")
    finally:
        ctx.procs.stop(worker)
        ctx.procs.stop(base_worker)


def _accumulate(total: list, seconds: float, used: dict[str, float]) -> None:
    """Add a round: its seconds, and its core-seconds per process group."""
    total[0] += seconds
    for name, value in used.items():
        total[1][name] = total[1].get(name, 0.0) + value * seconds


def _average(total: list) -> dict[str, float]:
    return {name: core_seconds / total[0] for name, core_seconds in total[1].items()}


def _cpu_per_order(used: dict[str, float], rate: float) -> float:
    """CPU seconds per order from the cores our processes used at `rate` orders/s."""
    return sum(v for k, v in used.items() if k != "other") / rate


def tuning(ctx: Context) -> None:
    """The knobs, each against the default, on the same auto-approved load."""
    s, t = ctx.sizes, ctx.table
    fx = ctx.fx()
    section = "Tuning (auto-approved)"
    variants = [
        ("runworker --concurrency 20 (default)", "runworker", 1, ["20"], None),
        ("runworker --concurrency 5", "runworker", 1, ["5"], None),
        ("runworker --concurrency 50", "runworker", 1, ["50"], None),
        ("2 × runworker --concurrency 20", "runworker", 2, ["20"], None),
        ("sticky cache off (max_cached_workflows=0)", "tuning", 1, ["--max-cached-workflows", "0"], None),
        ("mirror writes as local activities (bench copy of the workflow)", "tuning", 1, [], LOCAL_MIRROR_WORKFLOW),
    ]
    for label, kind, count, args, workflow_name in variants:
        q = ctx.use_task_queue(f"bench-tune-{uuid.uuid4().hex[:6]}")
        if kind == "tuning":
            workers = [ctx.procs.tuning_worker("worker-tune", address=ctx.address, task_queue=q, extra=args)]
        else:
            workers = [ctx.procs.runworker(f"worker-tune-{i}", address=ctx.address, task_queue=q, concurrency=int(args[0]))
                for i in range(count)]
        try:
            with meters({"workers": lambda workers=workers: [w.pid for w in workers], "Temporal": lambda: [ctx.temporal_pid],
                         "submitter": lambda: [os.getpid()], "PostgreSQL": pg_backend_pids}) as used, \
                    lifecycle.starting_as(workflow_name):
                rate, failures = lifecycle.real_throughput(fx, s.tuning_orders, requires_approval=False,
                    timeout=min(s.timeout, 60 + 3 * s.tuning_orders))
        except TimeoutError as err:  # one variant failing must not hide the others
            t.add(section, f"{label}, {s.tuning_orders} orders", "failed", "", str(err))
            t.errors.append(f"tuning {label}: {err}")
            continue
        finally:
            for w in workers:
                ctx.procs.stop(w)
        t.add(section, f"{label}, {s.tuning_orders} orders", f"{rate:.1f} orders/s", "",
              f"CPU {_cpu_per_order(used, rate) * 1000:.0f} ms/order; cores: {cores(used)}")
        if failures:
            t.errors.append(f"tuning {label}: {failures} orders did not end fulfilled")


# --- The web: approve-to-visible, live panel, polling -----------------------------------------


def _pending_orders(ctx: Context, count: int) -> list[int]:
    ctx.app_worker()
    ids = lifecycle.submit(ctx.fx(), count, requires_approval=True)
    web.wait_awaiting_decision(ids, ctx.sizes.timeout)
    return ids


def approve(ctx: Context) -> None:
    s, t = ctx.sizes, ctx.table
    ids = _pending_orders(ctx, s.approvals)
    address, _ = ctx.web()
    browser = Browser(web.session_for(ctx.fx().manager))
    latencies, direct = asyncio.run(web.approve_to_visible(address, browser, ids))
    p50, p95 = web.p50_p95(latencies)
    section = "Approve-to-visible (HTTP, runserver)"
    t.add(section, f"approve POST (htmx) → fragment shows the new state, {len(ids)} orders, p50", ms(p50))
    t.add(section, "  p95", ms(p95), "≤ 250 ms", at_most(p95, APPROVE_P95_GOAL))
    t.add(section, "  shown by the POST's own answer (no extra poll)", f"{direct} of {len(ids)}")
    # The same POST in this process, timed by part, to say where the time goes.
    more = _pending_orders(ctx, max(3, s.approvals // 2))
    parts = web.approve_breakdown(ctx.fx().manager, more)
    p = {name: web.p50_p95(values) for name, values in parts.items()}
    rest = [t_ - s_ - q_ for t_, s_, q_ in zip(parts["total"], parts["signal"], parts["query"], strict=True)]
    t.add(section, f"  where it goes (in-process, {len(more)} more orders), p50 / p95",
          f"signal RPC {ms(p['signal'][0])} / {ms(p['signal'][1])}; query after it {ms(p['query'][0])} / {ms(p['query'][1])}; "
          f"Django {ms(web.p50_p95(rest)[0])} / {ms(web.p50_p95(rest)[1])}", "", f"POST total {ms(p['total'][0])} / {ms(p['total'][1])}")


def panel(ctx: Context) -> None:
    s, t = ctx.sizes, ctx.table
    section = "Live panel cost"
    open_ids = _pending_orders(ctx, min(s.panel_samples, 50))
    done_ids = lifecycle.submit(ctx.fx(), 5, requires_approval=False)
    lifecycle.wait_terminal(done_ids, s.timeout)

    p50, p95 = web.p50_p95(web.query_latencies(open_ids, s.panel_samples))
    t.add(section, "workflow query, open workflow (in the worker's cache), p50 / p95", f"{ms(p50)} / {ms(p95)}")
    p50, p95 = web.p50_p95(web.query_latencies(done_ids, max(3, s.panel_samples // 10)))
    t.add(section, "workflow query, finished workflow (replayed), p50 / p95", f"{ms(p50)} / {ms(p95)}", "",
          "the panel reads the mirror instead")

    client = Client()
    client.force_login(ctx.fx().manager)
    paths = [f"/orders/{pk}/panel/" for pk in open_ids]
    old_ttl = settings.ORDER_SNAPSHOT_CACHE_SECONDS
    try:
        settings.ORDER_SNAPSHOT_CACHE_SECONDS = 0
        miss = web.server_times(client, paths, s.panel_samples, htmx=True)
        settings.ORDER_SNAPSHOT_CACHE_SECONDS = 3600
        hit = web.server_times(client, paths[:1], s.panel_samples, htmx=True)
        version = client.get(paths[0], HTTP_HX_REQUEST="true")["X-Panel-Version"]
        unchanged = web.server_times(client, paths[:1], s.panel_samples, htmx=True, headers={"HTTP_X_PANEL_VERSION": version})
    finally:
        settings.ORDER_SNAPSHOT_CACHE_SECONDS = old_ttl
    done = web.server_times(client, [f"/orders/{pk}/panel/" for pk in done_ids], s.panel_samples, htmx=True)
    for label, r in (("one poll, open order, asks the workflow", miss), ("one poll, open order, snapshot cached", hit),
                     ("one poll, unchanged (204)", unchanged), ("one poll, finished order (mirror)", done)):
        p50, p95 = web.p50_p95(r.seconds)
        t.add(section, f"server time: {label}, p50 / p95", f"{ms(p50)} / {ms(p95)}", "",
              f"{max(r.queries)} SQL queries, HTTP {sorted(r.statuses)}")


POLL_P95_GOAL = 0.250
POLL_SERVED_GOAL = 0.99  # of the polls the pages' timers fire


def polling(ctx: Context) -> None:
    s, t = ctx.sizes, ctx.table
    ids = _pending_orders(ctx, s.pages)
    manager = ctx.fx().manager
    _poll_cost(ctx, ids)
    server = ctx.gunicorn()
    if server is None:
        t.add("Polling load", "gunicorn (make serve)", "skipped: gunicorn not installed")
        return
    address, web_pid = server
    browser = Browser(web.session_for(manager))
    groups = {"web": lambda: with_children(web_pid), "worker": lambda: list(ctx.worker_pids), "Temporal": lambda: [ctx.temporal_pid],
              "PostgreSQL": pg_backend_pids}
    for pages in (s.pages, s.many_pages):
        section = (f"Polling load, {pages:,} open pages on {len(ids)} orders "
                   f"(gunicorn as make serve runs it, {s.http_connections} connections)")
        for follow in (False, True):
            open_ = web.open_pages(ids, pages, POLL_EVERY)
            # One period unmeasured first: every page gets its panel (and, following, its pace);
            # a fresh server process loads its templates and connects to the database and Temporal.
            asyncio.run(web.poll_load(address, browser, open_, seconds=POLL_EVERY * 1.5, connections=s.http_connections,
                                      conditional=True, follow=follow))
            offered = sum(1 / page.every for page in open_)
            with meters(groups) as used:
                result = asyncio.run(web.poll_load(address, browser, open_, seconds=s.poll_seconds * (2 if follow else 1),
                                                   connections=s.http_connections, conditional=True, follow=follow))
            p50, p95 = web.p50_p95(result.latencies)
            served = result.rps / offered
            label = ("following the panel's pace (orders awaiting approval: every 20 s)" if follow
                     else f"every {POLL_EVERY:g} s, as if every order were moving (worst case)")
            statuses = ", ".join(f"{code}: {n}" for code, n in sorted(result.statuses.items()))
            verdict = at_most(p95, POLL_P95_GOAL) if served >= POLL_SERVED_GOAL else f"MISSED: {served:.0%} served"
            t.add(section, label, f"{result.rps:.1f} of {offered:.1f} req/s served, p50 {ms(p50)}, p95 {ms(p95)}; HTTP {statuses}",
                  f"all served, p95 ≤ {ms(POLL_P95_GOAL)}", verdict)
            web_ms = used["web"] / max(result.rps, 1e-9) * 1000
            t.add(section, "  CPU during it (cores)", f"{cores(used)}; web {web_ms:.1f} ms CPU per answered poll")
            if set(result.statuses) - {200, 204}:
                t.errors.append(f"polling {pages} pages: unexpected statuses {result.statuses}")


def _poll_cost(ctx: Context, ids: list[int]) -> None:
    """CPU and SQL of one unchanged poll in the web process (this one, through Django's WSGI handler)."""
    s, t = ctx.sizes, ctx.table
    section = "One unchanged poll (204), in-process through the WSGI handler"
    session = web.session_for(ctx.fx().manager)
    old_ttl = settings.ORDER_SNAPSHOT_CACHE_SECONDS
    samples = max(20, s.panel_samples * 2)
    try:
        settings.ORDER_SNAPSHOT_CACHE_SECONDS = 3600
        cached = poll_cost.panel_poll_cost(session, ids[:5], samples)
        settings.ORDER_SNAPSHOT_CACHE_SECONDS = 0
        asks = poll_cost.panel_poll_cost(session, ids[:5], max(10, samples // 4))
    finally:
        settings.ORDER_SNAPSHOT_CACHE_SECONDS = old_ttl
    for label, cost in (("snapshot cached (another page of the order asked < 1 s ago)", cached),
                        ("asks the workflow (the cache period is over)", asks)):
        t.add(section, f"manager, order awaiting approval, {label}",
              f"{cost.cpu_ms:.2f} ms CPU, {len(cost.queries)} SQL queries, HTTP {sorted(cost.statuses)}",
              "≤ 2 ms" if cost is cached else "", at_most(cost.cpu_ms / 1000, 0.002) if cost is cached else "")
    if set(cached.statuses) != {204} or set(asks.statuses) != {204}:
        t.errors.append(f"unchanged polls answered {cached.statuses} / {asks.statuses}, not only 204")


# --- List pages at 100k --------------------------------------------------------------------


def list_pages(ctx: Context) -> None:
    s, t = ctx.sizes, ctx.table
    section = f"List pages at {s.list_rows:,} orders"
    if ctx.db.engine != "postgresql":
        t.add(section, "skipped", "needs PostgreSQL", "", "not measured (SQLite fallback)")
        return
    fx = ctx.fx()
    t0 = time.monotonic()
    lists.generate(s.list_rows, created_by_id=fx.clerk.pk)
    total = Order.objects.count()
    t.add(section, "bulk-generated rows (SQL, one statement)", f"{total:,} orders in {time.monotonic() - t0:.1f}s")
    newest = Order.objects.order_by("-id").values_list("id", flat=True).first()
    middle = newest - total // 2
    deep_page = max(1, total // 50 // 2)  # half-way down, 50 orders a page
    client = Client()
    client.force_login(fx.manager)
    groups = [
        ("order list: first page, a page half-way down, status filters", [
            "/orders/", f"/orders/?before={middle}", "/orders/?status=pending_approval", f"/orders/?status=fulfilled&before={middle}",
        ], LIST_P95_GOAL),
        ("order list: search by number or customer", ["/orders/?q=OD-0500", "/orders/?q=Customer+0042"], LIST_P95_GOAL),
        (f"admin changelist: first page, page {deep_page:,}, status filter", [
            "/admin/orders/order/", f"/admin/orders/order/?p={deep_page}", "/admin/orders/order/?status__exact=pending_approval",
        ], CHANGELIST_P95_GOAL),
        ("admin changelist: search", ["/admin/orders/order/?q=OD-0500"], CHANGELIST_P95_GOAL),
    ]
    for label, paths, goal in groups:
        r = web.server_times(client, paths, s.list_samples * len(paths))
        p50, p95 = web.p50_p95(r.seconds)
        t.add(section, f"{label}, p50 / p95", f"{ms(p50)} / {ms(p95)}", f"p95 ≤ {goal * 1000:.0f} ms", at_most(p95, goal))
        counts = f"{len(r.count_queries)} in {len(r.seconds)} pages"
        if not r.count_queries:
            verdict = "met"
        elif total < EXACT_COUNT_BELOW:
            verdict = f"by design: exact below {EXACT_COUNT_BELOW:,} rows"
        else:
            verdict = "MISSED"
        t.add(section, "  SQL queries per page; full-table COUNTs", f"{min(r.queries)}–{max(r.queries)}; {counts}", "none", verdict)
        if r.statuses - {200}:
            t.errors.append(f"{label}: HTTP {sorted(r.statuses - {200})}")


# --- Audit export at a million rows ---------------------------------------------------------

EXPORT_PEAK_GOAL = 16 * 2**20  # bytes: a chunk of each table and a block of text, at any size


def export(ctx: Context) -> None:
    s, t = ctx.sizes, ctx.table
    section = f"Audit export at {s.export_rows:,} rows"
    fx = ctx.fx()
    t0 = time.monotonic()
    rows = audit_export.generate(s.export_rows, customer=fx.customer, created_by=fx.manager)
    t.add(section, "generated trail (COPY; executemany on SQLite): 18 timeline entries and 2 decisions per order",
          f"{rows:,} rows in {time.monotonic() - t0:.1f}s")
    # The whole trail is exported: the generated rows plus what earlier sections' orders left.
    trail = audit_export.trail_rows()
    client = Client()
    client.force_login(audit_export.auditor())
    client.get("/approvals/audit/")  # warm: session, permissions, templates
    for fmt in ("csv", "jsonl"):
        r = audit_export.stream(client, fmt, trace=False)
        t.add(section, f"{fmt}: the whole trail through the view, streamed (in-process)", f"{r.rows / r.seconds:,.0f} rows/s", "",
              f"{r.rows:,} rows, {_size(r.bytes)} in {r.seconds:.1f}s; first block after {ms(r.first_block)}")
        if r.rows != trail:
            t.errors.append(f"export {fmt}: {r.rows:,} rows streamed of the trail's {trail:,}")
    # Traced separately: tracemalloc slows every allocation down about threefold.
    r = audit_export.stream(client, "csv", trace=True)
    t.add(section, "csv: peak traced Python memory while streaming (tracemalloc)", f"{r.peak / 2**20:.2f} MiB",
          f"≤ {EXPORT_PEAK_GOAL / 2**20:.0f} MiB", at_most(r.peak, EXPORT_PEAK_GOAL, "KiB", 1 / 1024))
    t.add(section, "  the same, as a share of the file it streamed", f"{r.peak / r.bytes:.2%} of {_size(r.bytes)}", "",
          f"{r.rows / r.seconds:,.0f} rows/s under tracemalloc")


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"


ALL = [
    ("throughput", throughput),
    ("tuning", tuning),
    ("approve", approve),
    ("panel", panel),
    ("polling", polling),
    ("lists", list_pages),
    ("export", export),
]

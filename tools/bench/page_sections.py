"""The bench sections measured through the web app: approve-to-visible, the
live panel, polling load, list pages and search, the audit export."""
from __future__ import annotations

import asyncio
import time
from collections import Counter

from django.conf import settings
from django.test import Client

from orders.models import Order
from orders.pagination import EXACT_COUNT_BELOW
from orders.views import unchanged_poll
from tools.bench import audit_export, lifecycle, lists, poll_cost, web
from tools.bench.context import POLL_EVERY, Context, cores, meters, pg_backend_pids
from tools.bench.http import Browser
from tools.bench.procs import with_children
from tools.bench.report import Table, at_most
from tools.bench.stats import ms

# The goal of "the verdict in one workflow task" (recorded intents).
APPROVE_P95_GOAL = 0.100
LIST_P95_GOAL = 0.100
CHANGELIST_P95_GOAL = 0.300


def pending_orders(ctx: Context, count: int) -> list[int]:
    ctx.app_worker()
    ids = lifecycle.submit(ctx.fx(), count, requires_approval=True)
    web.wait_awaiting_decision(ids, ctx.sizes.timeout)
    return ids


def approve(ctx: Context) -> None:
    s, t = ctx.sizes, ctx.table
    ids = pending_orders(ctx, s.approvals)
    address, _ = ctx.web()
    browser = Browser(web.session_for(ctx.fx().manager))
    r = asyncio.run(web.approve_to_visible(address, browser, ids))
    p50, p95 = web.p50_p95(r.visible)
    section = "Approve-to-visible (HTTP, runserver)"
    t.add(section, f"approve-to-visible (POST sent → the page shows the order past pending approval), {len(ids)} orders, p50", ms(p50))
    t.add(section, "  approve-to-visible p95", ms(p95), f"≤ {APPROVE_P95_GOAL * 1000:.0f} ms", at_most(p95, APPROVE_P95_GOAL))
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(r.statuses.items()))
    post50, post95 = web.p50_p95(r.post)
    t.add(section, f"  shown by the POST's own answer (else at the panel's next poll, {POLL_EVERY:g} s later)", f"{r.direct} of {len(ids)}",
          "", f"POST p50 / p95 {ms(post50)} / {ms(post95)}; HTTP {statuses}")
    # The same POST in this process, timed by part, to say where the time goes.
    more = pending_orders(ctx, max(3, s.approvals // 2))
    parts = web.approve_breakdown(ctx.fx().manager, more)
    named = [name for name in ("signal", "verdict", "query") if parts[name]]
    parts["Django"] = [total - sum(parts[name][i] for name in named) for i, total in enumerate(parts["total"])]
    labels = {"signal": "signal RPC", "verdict": "verdict wait", "query": "panel query", "Django": "Django"}
    pcts = {name: web.p50_p95(values) for name, values in parts.items()}
    t.add(section, f"  where the POST's time goes (in-process, {len(more)} more orders), p50 / p95",
          "; ".join(f"{label} {ms(pcts[name][0])} / {ms(pcts[name][1])}" for name, label in labels.items()), "",
          f"POST total {ms(pcts['total'][0])} / {ms(pcts['total'][1])}")


def panel(ctx: Context) -> None:
    s, t = ctx.sizes, ctx.table
    section = "Live panel cost"
    open_ids = pending_orders(ctx, min(s.panel_samples, 50))
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


# The goals for polling, all polls served and p95 at most: 200 pages
# (Sizes.pages) at the panel's pace, 1,000 (Sizes.many_pages) at its pace, 200 every 1.5 s.
POLL_P95_GOALS = {("pages", True): 0.100, ("many_pages", True): 0.250, ("pages", False): 0.250}
POLL_SERVED_GOAL = 0.99  # of the polls the pages' timers fire
# One unchanged poll (204) in the web process: CPU and SQL queries.
POLL_CPU_GOAL = 0.0015
POLL_QUERIES_GOAL = 2


def polling(ctx: Context) -> None:
    s, t = ctx.sizes, ctx.table
    ids = pending_orders(ctx, s.pages)
    manager = ctx.fx().manager
    _poll_cost(ctx, ids)
    server = ctx.gunicorn()
    if server is None:
        t.add("Polling load", "gunicorn (make serve)", "skipped: gunicorn not installed")
        return
    browser = Browser(web.session_for(manager))
    for size, pages in (("pages", s.pages), ("many_pages", s.many_pages)):
        section = (f"Polling load, {pages:,} open pages on {len(ids)} orders "
                   f"(gunicorn as make serve runs it, {s.http_connections} connections)")
        for follow in (True, False):
            label = ("following the panel's pace (orders awaiting approval: every 20 s)" if follow
                     else f"every {POLL_EVERY:g} s (the pace of an order that moves), orders waiting on people")
            _poll_row(ctx, server, "web-gunicorn", browser, ids, pages, follow, section, label, POLL_P95_GOALS.get((size, follow)))
    # The pages above poll orders that wait on people: their unchanged polls are
    # answered from the stamp (orders/views/unchanged_poll.py). An order that
    # moves is asked every poll: the same load with that shortcut off.
    # The same on the threaded WSGI server (WEB_SERVER=wsgi, the choice where streams cannot pass):
    # a full poll should cost the same CPU on both (config/asgi_sync.py); this row decides on 2 cores.
    for server_name, env, suffix in (("web-gunicorn-full-way", {}, ""),
                                     ("web-gunicorn-wsgi-full-way", {"WEB_SERVER": "wsgi"}, ", WEB_SERVER=wsgi")):
        address, process = ctx.procs.gunicorn(server_name, {"ORDER_PANEL_TRUST_SECONDS": "0", **env})
        section = (f"Polling load, {s.pages:,} open pages on {len(ids)} orders, every poll the full way and a workflow query "
                   f"(as for orders that move; gunicorn{suffix}, {s.http_connections} connections)")
        _poll_row(ctx, (address, process.pid), server_name, browser, ids, s.pages, False, section,
                  f"every {POLL_EVERY:g} s, ORDER_PANEL_TRUST_SECONDS=0{suffix}", POLL_P95_GOALS[("pages", False)])
        ctx.procs.stop(process)


def _poll_row(ctx: Context, server: tuple[str, int], name: str, browser: Browser, ids: list[int], pages: int, follow: bool,
              section: str, label: str, goal: float | None) -> None:
    s, t = ctx.sizes, ctx.table
    address, web_pid = server
    groups = {"web": lambda: with_children(web_pid), "worker": lambda: list(ctx.worker_pids), "Temporal": lambda: [ctx.temporal_pid],
              "PostgreSQL": pg_backend_pids}
    open_ = web.open_pages(ids, pages, POLL_EVERY)
    # One period unmeasured first: every page gets its panel (and, following, its pace);
    # a fresh server process loads its templates and connects to the database and Temporal.
    opening = asyncio.run(web.poll_load(address, browser, open_, seconds=POLL_EVERY * 1.5, connections=s.http_connections,
                                        conditional=True, follow=follow))
    changes = list(opening.pace_changes)
    # Following: until every page polls at the pace its order's panel names. A page whose first
    # answer came while all pages opened at once may have been told a shorter pace: its workflow's
    # query timed out in the burst, and so did the worker check the fallback then consults, so the
    # panel read "Live state unavailable (no worker is polling the task queue)", look again in 5 s.
    # Such an order is then checked that way on each full poll for 15 min (orders.selectors), and a
    # page may be told 5 s again inside the window: the row counts what each pace asked for while
    # the page held it (PollResult.asked), and says which answers changed a page's pace.
    slowest = max(page.every for page in open_)
    unsettled = [page for page in open_ if page.every < slowest] if follow else []
    told_sooner = len(unsettled)
    for _ in range(3):
        if not unsettled:
            break
        settling = asyncio.run(web.poll_load(address, browser, open_, seconds=max(p.every for p in unsettled) * 1.2,
                                             connections=s.http_connections, conditional=True, follow=follow))
        changes += settling.pace_changes
        unsettled = [page for page in open_ if page.every < slowest]
    offered = sum(1 / page.every for page in open_)
    access_log = ctx.procs.log_dir / f"{name}.log"
    log_start = access_log.stat().st_size if access_log.exists() else 0
    with meters(groups) as used:
        result = asyncio.run(web.poll_load(address, browser, open_, seconds=s.poll_seconds * (2 if follow else 1),
                                           connections=s.http_connections, conditional=True, follow=follow))
    p50, p95 = web.p50_p95(result.latencies)
    served = result.rps / offered
    if follow:
        # Against what each page's pace asked for while it held it: a page told a shorter pace
        # in the window, then the longer one again, is not counted as polls not served (or extra).
        offered, served = result.asked_rps, len(result.latencies) / max(result.asked, 1e-9)
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(result.statuses.items()))
    if goal is None:
        goal_text, verdict = "", ""
    else:
        goal_text = f"all served, p95 ≤ {ms(goal)}"
        verdict = at_most(p95, goal) if served >= POLL_SERVED_GOAL else f"MISSED: {served:.0%} served"
    told = f"; {told_sooner} pages were told a shorter pace while all opened at once" if told_sooner else ""
    t.add(section, label, f"{result.rps:.1f} of {offered:.1f} req/s served, p50 {ms(p50)}, p95 {ms(p95)}; HTTP {statuses}{told}",
          goal_text, verdict)
    if follow:
        t.add(section, "  pace changes before the window / inside it", f"{_pace_changes(changes)} / {_pace_changes(result.pace_changes)}")
    web_ms = used["web"] / max(result.rps, 1e-9) * 1000
    driver = result.driver_cpu / result.seconds
    served_in = web.server_seconds(access_log, log_start)
    if served_in:
        in50, in95 = web.p50_p95(served_in)
        t.add(section, "  time in the web process (gunicorn's access log), p50 / p95", f"{ms(in50)} / {ms(in95)}", "",
              "the rest of each poll's latency is spent waiting to be served")
    t.add(section, "  CPU during it (cores)", f"{cores(used)} (of which this bench's simulated browsers {driver:.2f}); "
          f"web {web_ms:.1f} ms CPU per answered poll")
    if set(result.statuses) - {200, 204}:
        t.errors.append(f"polling {pages} pages: unexpected statuses {result.statuses}")


def _pace_changes(changes: list[tuple[float, float, int, str]]) -> str:
    """How many answers named another pace than the page's, grouped by (from, to, status, the panel's notice)."""
    if not changes:
        return "none"
    counted = Counter((f"{old:g}→{new:g} s", status, notice) for old, new, status, notice in changes)
    return "; ".join(f"{n}× {pace} (HTTP {status}{', ' + repr(notice) if notice else ''})"
                     for (pace, status, notice), n in counted.most_common())


def _poll_cost(ctx: Context, ids: list[int]) -> None:
    """CPU and SQL of one unchanged poll in the web process (this one, through Django's WSGI handler)."""
    s, t = ctx.sizes, ctx.table
    section = "One unchanged poll (204), in-process through the WSGI handler"
    session = web.session_for(ctx.fx().manager)
    old = settings.ORDER_SNAPSHOT_CACHE_SECONDS, settings.ORDER_PANEL_TRUST_SECONDS
    samples = max(20, s.panel_samples * 2)
    variants = [
        ("snapshot cached (another page of the order asked < 1 s ago)", 3600, old[1], samples, True),
        ("cache period over, order waiting on people: answered from its stamp", 0, old[1], samples, True),
        ("the full way (ORDER_PANEL_TRUST_SECONDS=0, no cache): session, user, view, workflow query", 0, 0, max(10, samples // 4), False),
    ]
    costs = []
    try:
        for label, cache_seconds, trust, n, goal in variants:
            settings.ORDER_SNAPSHOT_CACHE_SECONDS, settings.ORDER_PANEL_TRUST_SECONDS = cache_seconds, trust
            unchanged_poll.forget_all()
            poll_cost.panel_poll_cost(session, ids[:5], 10)  # two full answers per order: the second confirms the stamp
            cost = poll_cost.panel_poll_cost(session, ids[:5], n)
            costs.append(cost)
            value = f"{cost.cpu_ms:.2f} ms CPU, {len(cost.queries)} SQL queries, HTTP {sorted(cost.statuses)}"
            if goal:
                verdicts = [at_most(cost.cpu_ms / 1000, POLL_CPU_GOAL),
                            at_most(len(cost.queries), POLL_QUERIES_GOAL, "queries", 1)]
                verdict = "met" if verdicts == ["met", "met"] else "; ".join(v for v in verdicts if v != "met")
                t.add(section, f"manager, order awaiting approval, {label}", value,
                      f"≤ {POLL_CPU_GOAL * 1000:g} ms, ≤ {POLL_QUERIES_GOAL} queries", verdict)
            else:
                t.add(section, f"manager, order awaiting approval, {label}", value)
    finally:
        settings.ORDER_SNAPSHOT_CACHE_SECONDS, settings.ORDER_PANEL_TRUST_SECONDS = old
        unchanged_poll.forget_all()
    if any(set(cost.statuses) != {204} for cost in costs):
        t.errors.append(f"unchanged polls answered {[cost.statuses for cost in costs]}, not only 204")


# --- List pages at 100k --------------------------------------------------------------------


def list_pages(ctx: Context) -> None:
    s, t = ctx.sizes, ctx.table
    section = f"List pages at {s.list_rows:,} orders"
    if ctx.db.engine != "postgresql":
        t.add(section, "skipped", "needs PostgreSQL", "", "not measured (SQLite fallback)")
        return
    fx = ctx.fx()
    t0 = time.monotonic()
    customers = lists.generate(s.list_rows, created_by_id=fx.clerk.pk)
    total = Order.objects.count()
    t.add(section, "bulk-generated rows (SQL, one statement)", f"{total:,} orders in {time.monotonic() - t0:.1f}s")
    middle, deep_page = _middle(total)
    client = Client()
    client.force_login(fx.manager)
    _list_groups(t, section, client, total, s.list_samples, [
        ("order list: first page, a page half-way down, status filters", [
            "/orders/", f"/orders/?before={middle}", "/orders/?status=pending_approval", f"/orders/?status=fulfilled&before={middle}",
        ], LIST_P95_GOAL),
        *_searches(),
        (f"admin changelist: first page, page {deep_page:,}, status filter", [
            "/admin/orders/order/", f"/admin/orders/order/?p={deep_page}", "/admin/orders/order/?status__exact=pending_approval",
        ], CHANGELIST_P95_GOAL),
        ("admin changelist: search by number, customer (two words), email", [
            "/admin/orders/order/?q=OD-0500", "/admin/orders/order/?q=Customer+0042", "/admin/orders/order/?q=buyer42%40",
        ], CHANGELIST_P95_GOAL),
    ])

    # Ten times as many orders, the same customers: the order list only (the
    # goals are set at 100k; this row shows how the pages grow, or don't).
    section = f"List pages at {s.list_rows_large:,} orders"
    t0 = time.monotonic()
    lists.generate(s.list_rows_large - total, created_by_id=fx.clerk.pk, first_customer=customers)
    total = Order.objects.count()
    t.add(section, "bulk-generated rows (SQL, one statement, indexes maintained)", f"{total:,} orders in {time.monotonic() - t0:.1f}s")
    middle, _ = _middle(total)
    _list_groups(t, section, client, total, s.list_samples, [
        ("order list: first page, a page half-way down, status filters", [
            "/orders/", f"/orders/?before={middle}", "/orders/?status=pending_approval", f"/orders/?status=fulfilled&before={middle}",
        ], LIST_P95_GOAL),
        *_searches(),
    ])


def _middle(total: int) -> tuple[int, int]:
    """An order id half-way down the list, and the admin's page number there (50 a page)."""
    newest = Order.objects.order_by("-id").values_list("id", flat=True).first()
    return newest - total // 2, max(1, total // 50 // 2)


def _searches() -> list:
    # A number matching a hundred orders, a customer's name matching one customer
    # (and numbers containing 0042), an email; the few-matches searches are the hard ones.
    return [
        ("order list: search by number, customer name, email", [
            "/orders/?q=OD-0500", "/orders/?q=Customer+0042", "/orders/?q=buyer42%40",
        ], LIST_P95_GOAL),
    ]


def _list_groups(t: Table, section: str, client: Client, total: int, samples: int, groups: list) -> None:
    for label, paths, goal in groups:
        r = web.server_times(client, paths, samples * len(paths))
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

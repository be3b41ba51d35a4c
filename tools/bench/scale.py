"""Scale out, shown: 1, 2 and 4 worker processes, 1 and 2 web processes, on one database and one Temporal.

Every group runs the same load in alternating rounds (the order rotating
each round), so a burst of other work on the shared machine hits each alike.
The figures are for this machine: on 2 cores, more processes share the same
two cores, so the ratios say what the software leaves to scale, and the
cores row says what limited it (docs/deployment.md turns them into a sizing rule).
"""
from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from contextlib import nullcontext

from tools.bench import lifecycle, web
from tools.bench.context import POLL_EVERY, Context, cores, meters, pg_backend_pids
from tools.bench.http import Browser
from tools.bench.procs import with_children
from tools.bench.stats import ms

WORKER_COUNTS = (1, 2, 4)
WEB_COUNTS = (1, 2)
SLOTS = 20  # activity slots per runworker, its default


def scale(ctx: Context) -> None:
    workers(ctx)
    web_processes(ctx)


def workers(ctx: Context) -> None:
    """Auto-approved orders/s with 1, 2 and 4 `runworker` processes sharing one task queue each."""
    s, t = ctx.sizes, ctx.table
    fx = ctx.fx()
    section = "Scale out: worker processes (auto-approved, same database and Temporal)"
    me = os.getpid()
    # Smoke: 1 and 2 only (every runworker takes seconds to start).
    counts = WORKER_COUNTS[:2] if ctx.smoke else WORKER_COUNTS
    running: list = []
    try:
        rounds = 1 if ctx.smoke else 2
        per_round = max(1, s.orders // rounds)
        seconds = dict.fromkeys(counts, 0.0)
        core_seconds: dict[int, dict[str, float]] = {n: {} for n in counts}
        connections = dict.fromkeys(counts, 0)
        failures = 0
        for r in range(rounds):
            for n in counts[r % len(counts):] + counts[:r % len(counts)]:
                # Each group runs alone, started afresh (not measured): 7 idle workers would hold their
                # connections (DB_CONN_MAX_AGE) and a shared server's max_connections runs out.
                queue = ctx.use_task_queue(f"bench-scale{n}-{uuid.uuid4().hex[:6]}")
                running = [ctx.procs.runworker(f"worker-scale{n}-{i}", address=ctx.address, task_queue=queue, concurrency=SLOTS)
                           for i in range(n)]
                pids = [p.pid for p in running]
                with meters({"workers": lambda pids=pids: pids, "Temporal": lambda: [ctx.temporal_pid], "submitter": lambda: [me],
                             "PostgreSQL": pg_backend_pids}) as used:
                    rate, failed = lifecycle.real_throughput(fx, per_round, requires_approval=False, timeout=s.timeout)
                connections[n] = max(connections[n], len(pg_backend_pids()))
                for process in running:
                    ctx.procs.stop(process)
                running = []
                failures += failed
                took = per_round / rate
                seconds[n] += took
                for name, value in used.items():
                    core_seconds[n][name] = core_seconds[n].get(name, 0.0) + value * took
        rate = {n: per_round * rounds / seconds[n] for n in counts}
        for n in counts:
            used = {name: value / seconds[n] for name, value in core_seconds[n].items()}
            per_process = used["workers"] / n
            # Whether adding processes costs efficiency: on a machine with spare cores the rate follows the cores.
            ours = sum(value for name, value in used.items() if name != "other")
            ctx.figures[f"scale workers {n}"] = rate[n]
            ctx.figures[f"scale workers {n} cores"] = used["workers"]
            ctx.figures[f"scale workers {n} other"] = used.get("other", 0.0)
            ctx.figures[f"scale workers {n} per core"] = rate[n] / max(ours, 1e-9)
            t.add(section, f"{n} runworker process{'es' if n > 1 else ''} × {SLOTS} slots, {per_round * rounds} orders in {rounds} "
                  "alternating rounds", f"{rate[n]:.1f} orders/s", "",
                  f"ratio to 1 process {rate[n] / rate[1]:.2f}; cores: {cores(used)}; {per_process:.2f} cores per worker process; "
                  f"{rate[n] / max(ours, 1e-9):.1f} orders/s per core our processes used; "
                  f"{connections[n]} PostgreSQL connections to the bench database at the end of the load")
            ctx.figures[f"scale workers {n} connections"] = connections[n]
        if failures:
            t.errors.append(f"scale: {failures} orders did not end fulfilled")
    finally:
        for process in running:
            ctx.procs.stop(process)


def web_processes(ctx: Context) -> None:
    """Polls served per second with 1 and 2 gunicorn worker processes (make serve's config), every page polling every 1.5 s.

    The served rate against what the pages ask for, the latency, and each process group's CPU per answered poll
    (the sizing figure when the machine has no core to spare)."""
    s, t = ctx.sizes, ctx.table
    section = f"Scale out: web processes (polling, {s.pages} pages every {POLL_EVERY:g} s, {s.http_connections} connections)"
    if shutil.which("gunicorn", path=os.path.dirname(sys.executable)) is None:
        t.add(section, "gunicorn (make serve)", "skipped: gunicorn not installed")
        return
    ctx.app_worker()
    ids = lifecycle.submit(ctx.fx(), s.pages, requires_approval=True)
    web.wait_awaiting_decision(ids, s.timeout)
    servers = {}
    try:
        for n in WEB_COUNTS:
            address, process = ctx.procs.gunicorn(f"web-scale{n}", {"WEB_CONCURRENCY": str(n)})
            servers[n] = (address, process)
        browser = Browser(web.session_for(ctx.fx().manager))
        # --profile: where the one web process's threads spend the polls' wall time (waiting included).
        worker_pids = with_children(servers[1][1].pid)[1:]
        recording = ctx.recording("web-polling", worker_pids[0], section, wall=True) if worker_pids else None
        rounds = 1 if ctx.smoke else 2
        results: dict[int, list] = {n: [] for n in WEB_COUNTS}
        used_by: dict[int, list] = {n: [] for n in WEB_COUNTS}
        me = os.getpid()
        for r in range(rounds):
            for n in (WEB_COUNTS if r % 2 == 0 else tuple(reversed(WEB_COUNTS))):
                address, process = servers[n]
                pages = web.open_pages(ids, s.pages, POLL_EVERY)
                # One period unmeasured: every page gets its panel, the processes connect and load their templates.
                asyncio.run(web.poll_load(address, browser, pages, seconds=POLL_EVERY * 1.5, connections=s.http_connections,
                                          conditional=True))
                groups = {"web": lambda pid=process.pid: with_children(pid), "driver": lambda: [me], "Temporal": lambda: [ctx.temporal_pid],
                          "worker": lambda: list(ctx.worker_pids), "PostgreSQL": pg_backend_pids}
                if recording and n == 1:
                    # gunicorn recycles a worker after GUNICORN_MAX_REQUESTS (2000 ± 10%): sample the one serving now.
                    recording.pid = (with_children(process.pid)[1:] or [process.pid])[0]
                sampled = recording.window() if recording and n == 1 else nullcontext()
                with sampled, meters(groups) as used:
                    result = asyncio.run(web.poll_load(address, browser, pages, seconds=s.poll_seconds, connections=s.http_connections,
                                                       conditional=True))
                results[n].append(result)
                used_by[n].append(used)
        served = {n: sum(len(r.latencies) for r in results[n]) / sum(r.seconds for r in results[n]) for n in WEB_COUNTS}
        if recording:
            polls = sum(len(r.latencies) for r in results[1])
            files = recording.write()
            t.add(section, f"profile (py-spy --idle, {recording.samples} samples): where the web process's threads are",
                  "; ".join(f"{where} {share:.0%}" for where, share in recording.top_waits(6)), "",
                  f"{polls} polls answered while sampled; {files['md']}")
            t.notes.append(f"Web profile: {files['svg']} (flame graph), {files['collapsed']}, {files['md']}.")
        # What the pages ask for: each polls every 1.5 s (a page whose answer is late asks again only after it, as htmx does).
        offered = dict.fromkeys(WEB_COUNTS, s.pages / POLL_EVERY)
        for n in WEB_COUNTS:
            latencies = [x for r in results[n] for x in r.latencies]
            p50, p95 = web.p50_p95(latencies)
            used = {name: sum(u[name] for u in used_by[n]) / len(used_by[n]) for name in used_by[n][0]}
            ctx.figures.update({f"scale web {n}": served[n], f"scale web {n} offered": offered[n], f"scale web {n} p95": p95,
                                f"scale web {n} cores": used["web"], f"scale web {n} driver": used["driver"],
                                f"scale web {n} other": used.get("other", 0.0)})
            statuses: dict[int, int] = {}
            for r in results[n]:
                for code, count in r.statuses.items():
                    statuses[code] = statuses.get(code, 0) + count
            t.add(section, f"gunicorn, {n} worker process{'es' if n > 1 else ''} (WEB_CONCURRENCY={n}) × 8 threads",
                  f"{served[n]:.1f} of {offered[n]:.1f} req/s served, p50 {ms(p50)}, p95 {ms(p95)}", "",
                  f"ratio to 1 process {served[n] / served[1]:.2f}; cores: {cores(used)}; CPU per answered poll: "
                  + ", ".join(f"{name} {value / max(served[n], 1e-9) * 1000:.1f} ms" for name, value in used.items() if name != "other")
                  + f"; HTTP {statuses}")
            if set(statuses) - {200, 204}:
                t.errors.append(f"scale, {n} web processes: unexpected statuses {statuses}")
    finally:
        for _, process in servers.values():
            ctx.procs.stop(process)

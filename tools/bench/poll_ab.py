"""Polling load A/B: the same open pages against gunicorn processes that differ in their environment, in one run.

    ORDER_DESK_BENCH_DB=orderdesk_bench_ab python -m tools.bench.poll_ab \\
        --variant "recycle=GUNICORN_MAX_REQUESTS=150" --variant "norecycle=GUNICORN_MAX_REQUESTS=100000" \\
        --paces 1.5,20 --seconds 30

One Temporal dev server, one worker, `--orders` orders awaiting approval and
`--pages` simulated pages, then per variant a fresh gunicorn (as `make serve`
runs it, with the variant's environment on top) polled at each pace (20 s:
the pages follow the panel's own pace; anything else: every page at that
period). On a shared machine, compare variants of the same run, not runs.
Prints per variant and pace: the polls' latency, the time they spent inside
gunicorn (its access log), and the CPU of each process group.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import uuid

from tools.bench import env
from tools.bench.procs import BASE_DIR, processes


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.poll_ab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", default=[], help='"name=ENV=value;ENV=value" (repeatable)')
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--paces", default="20", help="comma-separated poll periods in seconds; 20 follows the panel's pace")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    variants = [(v.split("=", 1)[0], v.split("=", 1)[1] if "=" in v else "") for v in args.variant] or [("default", "")]

    var_dir = BASE_DIR / "var" / "poll_ab"
    var_dir.mkdir(parents=True, exist_ok=True)
    db = env.choose_database()
    env.create_database(db, var_dir)
    env.configure(db, var_dir, steps=1, step_seconds=0.0)
    with processes(var_dir / "logs") as procs:
        address, temporal = procs.dev_server()
        os.environ["TEMPORAL_ADDRESS"] = address
        os.environ["TEMPORAL_TASK_QUEUE"] = queue = f"poll-ab-{uuid.uuid4().hex[:6]}"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        from django.conf import settings

        from tools.bench import lifecycle, web
        from tools.bench.context import cores, meters, pg_backend_pids
        from tools.bench.http import Browser
        from tools.bench.procs import with_children
        from tools.bench.stats import ms

        settings.TEMPORAL_TASK_QUEUE = queue
        worker = procs.runworker("worker", address=address, task_queue=queue, concurrency=20)
        fx = lifecycle.seed()
        ids = lifecycle.submit(fx, args.orders, requires_approval=True)
        web.wait_awaiting_decision(ids, 600)
        browser = Browser(web.session_for(fx.manager))
        for name, assignments in variants:
            extra = dict(kv.split("=", 1) for kv in assignments.split(";") if kv)
            log_name = f"gunicorn-{name}"
            server, process = procs.gunicorn(log_name, extra)
            groups = {"web": lambda pid=process.pid: with_children(pid), "worker": lambda: [worker.pid], "Temporal": lambda: [temporal.pid],
                      "PostgreSQL": pg_backend_pids}
            for pace in (float(p) for p in args.paces.split(",")):
                follow = pace == 20
                pages = web.open_pages(ids, args.pages, 1.5 if follow else pace)
                asyncio.run(web.poll_load(server, browser, pages, seconds=3, connections=args.connections, conditional=True,
                                          follow=follow))
                access_log = procs.log_dir / f"{log_name}.log"
                start = access_log.stat().st_size
                with meters(groups) as used:
                    result = asyncio.run(web.poll_load(server, browser, pages, seconds=args.seconds, connections=args.connections,
                                                       conditional=True, follow=follow))
                p50, p95 = web.p50_p95(result.latencies)
                in50, in95 = web.p50_p95(web.server_seconds(access_log, start) or [float("nan")])
                offered = sum(1 / page.every for page in pages)
                print(f"{name}, every {pace:g} s: {result.rps:.1f} of {offered:.1f} req/s, p50 {ms(p50)}, p95 {ms(p95)} "
                      f"(in gunicorn {ms(in50)} / {ms(in95)}), HTTP {dict(sorted(result.statuses.items()))}; "
                      f"cores: {cores(used)}, browsers {result.driver_cpu / result.seconds:.2f}", flush=True)
            procs.stop(process)
    env.drop_database(db)


if __name__ == "__main__":
    main()

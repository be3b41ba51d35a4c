"""`python -m tools.bench [--smoke]`: run every bench section and print one table.

See docs/benchmarks.md for what each figure means and what limits it.
"""
from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
import traceback
import uuid
from dataclasses import dataclass

from tools.bench import env
from tools.bench.procs import BASE_DIR, processes
from tools.bench.report import Table


@dataclass
class Sizes:
    orders: int  # per throughput run
    throughput_rounds: int  # real and baseline alternate this many times
    tuning_orders: int  # per tuning variant
    approvals: int  # approve-to-visible samples
    panel_samples: int
    list_rows: int
    list_samples: int
    list_rows_large: int  # the order list measured again at this many orders
    pages: int  # simulated open detail pages (each on its own order)
    many_pages: int  # the same orders watched by more pages
    poll_seconds: float
    http_connections: int
    timeout: float
    export_rows: int  # audit trail rows (timeline entries and decisions) exported


FULL = Sizes(orders=200, throughput_rounds=4, tuning_orders=120, approvals=40, panel_samples=200, list_rows=100_000, list_samples=40,
             pages=200, many_pages=1000, list_rows_large=1_000_000,
             poll_seconds=20, http_connections=16, timeout=600,
             export_rows=1_000_000)
SMOKE = Sizes(orders=6, throughput_rounds=1, tuning_orders=4, approvals=3, panel_samples=10, list_rows=2_000, list_samples=3, pages=10,
              many_pages=20, list_rows_large=4_000,
              poll_seconds=2, http_connections=4, timeout=60,
              export_rows=2_000)

# Fulfilment as short as it goes, so the ceiling is the engine and not the
# simulated warehouse: one step, no sleep (still one heartbeat, one progress
# signal and one progress write per order).
FULFILMENT_STEPS = 1
FULFILMENT_STEP_SECONDS = 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI: fails on errors, never on timings")
    parser.add_argument("--only", default="",
                        help="comma-separated sections: throughput,split,tuning,approve,panel,polling,stream,lists,export,scale")
    parser.add_argument("--profile", action="store_true",
                        help="sample the worker with py-spy during the auto-approved throughput rounds (var/bench/profiles/)")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the bench database at the end")
    args = parser.parse_args(argv)
    # A stopped bench still stops what it started (see procs.processes).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = SMOKE if args.smoke else FULL
    only = {s.strip() for s in args.only.split(",") if s.strip()}

    var_dir = BASE_DIR / "var" / "bench"
    var_dir.mkdir(parents=True, exist_ok=True)
    db = env.choose_database()
    if db.engine != "postgresql":
        print(f"[bench] No PostgreSQL reachable ({db.why_not_pg}): falling back to SQLite under var/bench/; "
              "the list pages at 100k orders need PostgreSQL and are skipped (the table says so).", file=sys.stderr, flush=True)
    env.create_database(db, var_dir)
    env.configure(db, var_dir, steps=FULFILMENT_STEPS, step_seconds=FULFILMENT_STEP_SECONDS)

    table = Table(_title(args.smoke, db))
    started = time.monotonic()
    with processes(var_dir / "logs") as procs:
        address, temporal_process = procs.dev_server()
        os.environ["TEMPORAL_ADDRESS"] = address
        os.environ["TEMPORAL_TASK_QUEUE"] = f"bench-{uuid.uuid4().hex[:6]}"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        from django.conf import settings

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the in-process test client's host
        from django.db import OperationalError, connections

        from tools.bench import goals, sections

        ctx = sections.Context(table=table, procs=procs, sizes=sizes, db=db, address=address, temporal_pid=temporal_process.pid,
                               steps=FULFILMENT_STEPS, step_seconds=FULFILMENT_STEP_SECONDS, smoke=args.smoke,
                               profile=args.profile)
        for name, run in sections.ALL:
            if only and name not in only:
                continue
            if args.smoke and name == "tuning" and not only:
                continue
            t0 = time.monotonic()
            for attempt in (1, 2):
                rows = len(table.rows)
                try:
                    run(ctx)
                    break
                except OperationalError as err:
                    # The database went away under us (the machine's PostgreSQL is
                    # shared, and restarted by other tools): reconnect, run the
                    # section once more from scratch, and say so.
                    traceback.print_exc()
                    connections.close_all()
                    del table.rows[rows:]
                    if attempt == 2:
                        table.errors.append(f"{name}: {type(err).__name__}: {err}")
                    else:
                        table.notes.append(f"Section {name} was run twice: the database connection was lost the first time ({err}).")
                except Exception as err:  # noqa: BLE001 - reported in the table, and fails the run
                    traceback.print_exc()
                    table.errors.append(f"{name}: {type(err).__name__}: {err}")
                    connections.close_all()
                    break
            print(f"[bench] {name} done in {time.monotonic() - t0:.0f}s", file=sys.stderr, flush=True)
        # Last: every goal in one place, each with what this run measured (or that it did not).
        goals.summary(ctx)
        ctx.close()
    from django.db import connections

    connections.close_all()
    if not args.keep_db:
        env.drop_database(db)
    table.notes.append(f"Whole run: {time.monotonic() - started:.0f}s. Logs of the processes: {var_dir / 'logs'}.")
    print(table.render())
    return 1 if table.errors else 0


def _title(smoke: bool, db: env.BenchDatabase) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        model = cpu
    kind = "SMOKE (tiny sizes: proves the bench runs; timings mean nothing)" if smoke else "full"
    return (f"Order Desk bench, {kind} — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores ({model}), "
            f"Python {platform.python_version()}, database: {db.label}, Temporal CLI dev server (in memory), "
            f"fulfilment {FULFILMENT_STEPS} step × {FULFILMENT_STEP_SECONDS:g} s")


if __name__ == "__main__":
    sys.exit(main())

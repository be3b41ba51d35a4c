"""manage.py devstack: the whole development stack in one terminal (what `make run` runs).

Migrates, starts the Temporal dev server (persisted under var/), the workers
(one by default; `--workers N` or `make run WORKERS=N` for more), ensures the
Temporal Schedules (the daily approvals digest), seeds demo data on an empty database, and serves the web app. Ctrl-C stops all.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from temporal_bridge import devserver, versioning


class Command(BaseCommand):
    help = "Run Temporal dev server + worker + web server for development. Ctrl-C stops all."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--temporal-port", type=int, default=int(os.environ.get("TEMPORAL_PORT", 7233)))
        parser.add_argument("--temporal-ui-port", type=int, default=int(os.environ.get("TEMPORAL_UI_PORT", 8233)))
        parser.add_argument("--seed-orders", type=int, default=12)
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", 1)),
                            help="Worker processes on the task queue (default: %(default)s); they share the load, and any may die.")
        parser.add_argument("--no-versioning", action="store_true",
                            help="Unversioned workers. By default they announce this code's version and make it current (DEPLOYMENT.md).")

    def handle(self, *args, **options):
        if options["workers"] < 0:
            self.stderr.write("--workers must be 0 or more")
            raise SystemExit(2)
        self.children: list[tuple[str, subprocess.Popen]] = []
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        started = time.monotonic()
        try:
            call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write("Database migrated.")
            self._start_temporal(options)
            env = {**os.environ, "TEMPORAL_ADDRESS": settings.TEMPORAL_ADDRESS}
            # Versioned as a real deployment would be, but each start makes its
            # version current at once (runworker allows that with DEBUG only):
            # edit a workflow, restart, and new runs take the new code.
            versioned = settings.DEBUG and not options["no_versioning"]
            worker_args = ["--versioning", "--make-current"] if versioned else ["--no-versioning"]
            for n in range(1, options["workers"] + 1):
                self._spawn(f"worker-{n}", [sys.executable, "manage.py", "runworker", *worker_args], env)
            self._ensure_schedules()
            call_command("seed_demo", orders=options["seed_orders"], if_empty=True)
            # Its own process group: runserver's autoreloader runs the server in a
            # child process, and only a signal to the group is sure to reach both.
            self._spawn("web", [sys.executable, "manage.py", "runserver", f"127.0.0.1:{options['port']}"], env, own_group=True)
            devserver.wait_for_port("127.0.0.1", options["port"], timeout=60)
            self.stdout.write(self.style.SUCCESS(
                f"\nOrder Desk is up after {time.monotonic() - started:.1f}s\n"
                f"  Web:         http://127.0.0.1:{options['port']}/  (users clerk, manager, manager2, senior, admin; password 'demo')\n"
                f"  Temporal UI: {settings.TEMPORAL_UI_URL}\n"
                f"  Workers:     {options['workers']} process(es) on task queue '{settings.TEMPORAL_TASK_QUEUE}'"
                f"{f', version {settings.TEMPORAL_DEPLOYMENT_NAME}.{versioning.build_id()}' if versioned else ', unversioned'}\n"
                f"Ctrl-C stops everything.\n"
            ))
            self._watch()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            self._stop_all()

    def _start_temporal(self, options) -> None:
        host, port = "127.0.0.1", options["temporal_port"]
        if not settings.TEMPORAL_ADDRESS.startswith(("127.0.0.1:", "localhost:")):
            self.stdout.write(f"Using the Temporal cluster at {settings.TEMPORAL_ADDRESS}.")
            return
        if devserver.port_open(host, port):
            self.stdout.write(f"A Temporal server already listens on {host}:{port}; using it.")
            return
        process = devserver.start_dev_server(
            host=host, port=port, ui_port=options["temporal_ui_port"],
            db_file=settings.VAR_DIR / "temporal.db", log_file=settings.VAR_DIR / "temporal.log",
        )
        self.children.append(("temporal", process))
        devserver.wait_for_port(host, port, timeout=60, process=process)
        self.stdout.write(f"Temporal dev server on {host}:{port} (UI :{options['temporal_ui_port']}, data in var/temporal.db).")

    def _ensure_schedules(self) -> None:
        # The daily approvals digest; a failure here must not keep the desk down.
        try:
            call_command("ensure_schedules", stdout=self.stdout)
        except CommandError as err:
            self.stderr.write(f"Schedules not ensured ({err}); run `manage.py ensure_schedules` later.")

    def _spawn(self, name: str, args: list[str], env: dict, *, own_group: bool = False) -> None:
        process = subprocess.Popen(args, env=env, cwd=settings.BASE_DIR, process_group=0 if own_group else None)
        self.children.append((name, process))

    def _watch(self) -> None:
        # A worker may die (try `kill -9` on one of several): the others take
        # over its work, so the stack goes on while any worker is left.
        workers = [process for name, process in self.children if name.startswith("worker-")]
        reported: set[str] = set()
        while True:
            for name, process in self.children:
                if process.poll() is None or name in reported:
                    continue
                if name.startswith("worker-") and any(w.poll() is None for w in workers):
                    reported.add(name)
                    self.stderr.write(f"{name} exited with code {process.returncode}; the other workers carry on.")
                    continue
                self.stderr.write(f"{name} exited with code {process.returncode}; stopping the stack.")
                return
            time.sleep(0.5)

    def _stop_all(self) -> None:
        for name, process in reversed(self.children):
            if process.poll() is not None:
                continue
            if name == "web":
                # SIGTERM, not SIGINT: a stack started where SIGINT is ignored (a
                # background job of a script) passes that on, and the server's
                # child would then outlive the stack. It has nothing to drain.
                os.killpg(process.pid, signal.SIGTERM)
            else:
                process.send_signal(signal.SIGINT if name != "temporal" else signal.SIGTERM)
        deadline = time.monotonic() + 25
        for _name, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
        self.stdout.write("Stopped.")

"""manage.py devstack: the whole development stack in one terminal (what `make run` runs).

Migrates, starts the Temporal dev server (persisted under var/), the workers
(one by default; `--workers N` or `make run WORKERS=N` for more), ensures the
Temporal Schedules (the daily approvals digest), seeds demo data on an empty
database, serves the web app and runs the provider simulator (`--no-simulator`
to skip). Every process is supervised (temporal_bridge.runtime.supervisor): one that
dies is restarted with backoff; Ctrl-C or SIGTERM stops all.
"""
from __future__ import annotations

import os
import signal
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from orders.management.commands.seed_demo import USERS as DEMO_USERS
from temporal_bridge.runtime import devserver, versioning
from temporal_bridge.runtime.supervisor import ChildSpec, Supervisor

# Development secrets for the simulated providers' webhooks, used only when the
# environment sets none: the web app and the simulator must agree on them.
DEV_WEBHOOK_SECRETS = {"WEBHOOK_SECRET_PAYMENTS": "dev-payments-secret", "WEBHOOK_SECRET_CARRIER": "dev-carrier-secret",
                       "WEBHOOK_SECRET_INVENTORY": "dev-inventory-secret"}
# Layers stop highest first: what uses Temporal drains before the server goes.
LAYER_SERVER, LAYER_WORKERS, LAYER_CLIENTS = 0, 1, 2


def _interrupt(*_):
    raise KeyboardInterrupt


def codec_endpoint(port: int) -> str:
    return f"http://127.0.0.1:{port}/temporal-codec"


class Command(BaseCommand):
    help = "Run Temporal dev server + workers + web server + provider simulator, supervised. Ctrl-C stops all."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--temporal-port", type=int, default=int(os.environ.get("TEMPORAL_PORT", 7233)))
        parser.add_argument("--temporal-ui-port", type=int, default=int(os.environ.get("TEMPORAL_UI_PORT", 8233)))
        parser.add_argument("--seed-orders", type=int, default=12)
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", 1)),
                            help="Worker processes on the task queue (default: %(default)s); they share the load, and any may die.")
        parser.add_argument("--no-simulator", action="store_true", help="Do not run the payment provider and carrier simulator.")
        parser.add_argument("--no-versioning", action="store_true",
                            help="Unversioned workers. By default they announce this code's version and make it current "
                                 "(docs/deployment.md).")

    def handle(self, *args, **options):
        if options["workers"] < 0:
            self.stderr.write("--workers must be 0 or more")
            raise SystemExit(2)
        self.supervisor = Supervisor(self._say)
        # SIGTERM (a process manager, `kill`) and SIGHUP (the terminal closed) stop the stack as Ctrl-C does.
        # SIGINT too, explicitly: started as a script's background job it arrives ignored, and Ctrl-C would do nothing.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _interrupt)
        started = time.monotonic()
        try:
            call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write("Database migrated.")
            self._start_temporal(options)
            env = self._child_env()
            manage = [sys.executable, "manage.py"]
            # Versioned as a real deployment would be, but each start makes its
            # version current at once (runworker allows that with DEBUG only):
            # edit a workflow, restart, and new runs take the new code.
            versioned = settings.DEBUG and not options["no_versioning"]
            worker_args = ["--versioning", "--make-current"] if versioned else ["--no-versioning"]
            for n in range(1, options["workers"] + 1):
                self._start(f"worker-{n}", [*manage, "runworker", *worker_args], env, layer=LAYER_WORKERS)
            self._ensure_schedules()
            # Seeded here, in this process: its orders are tracked like those the web app submits.
            settings.ORDER_DESK_TRACK_DELIVERY = env.get("ORDER_DESK_TRACK_DELIVERY") == "1"
            call_command("seed_demo", orders=options["seed_orders"], if_empty=True)
            port = options["port"]
            self._start("web", web_server_command(port), env, layer=LAYER_CLIENTS,
                        ready=lambda: devserver.port_open("127.0.0.1", port))
            self.supervisor.wait_ready("web", timeout=60)
            if not options["no_simulator"]:
                self._start("simulator", [*manage, "simulate_providers", "--base-url", f"http://127.0.0.1:{port}"], env,
                            layer=LAYER_CLIENTS)
            demo_users = ", ".join(username for username, *_ in DEMO_USERS)
            self.stdout.write(self.style.SUCCESS(
                f"\nOrder Desk is up after {time.monotonic() - started:.1f}s\n"
                f"  Web:         http://127.0.0.1:{port}/  (users {demo_users}; password 'demo')\n"
                f"  Temporal UI: {settings.TEMPORAL_UI_URL}  (decoded for staff: docs/operations.md, 'The Temporal UI')\n"
                f"  Workers:     {options['workers']} process(es) on task queue '{settings.TEMPORAL_TASK_QUEUE}'"
                f"{f', version {settings.TEMPORAL_DEPLOYMENT_NAME}.{versioning.build_id()}' if versioned else ', unversioned'}\n"
                f"  Simulator:   {'off' if options['no_simulator'] else 'payment provider and carrier webhooks'}\n"
                f"A process that dies is restarted. Ctrl-C stops everything.\n"
            ))
            self.supervisor.run()
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            # A second Ctrl-C must not leave the stack half-stopped: stopping takes seconds at most.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.supervisor.stop()
            self.stdout.write("Stopped.")

    def _say(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    def _child_env(self) -> dict[str, str]:
        env = {**os.environ, "TEMPORAL_ADDRESS": settings.TEMPORAL_ADDRESS}
        # The simulator is the carrier: parcels are followed to `delivered` (ORDER_DESK_TRACK_DELIVERY=0 turns it off).
        env.setdefault("ORDER_DESK_TRACK_DELIVERY", "1")
        for name, value in DEV_WEBHOOK_SECRETS.items():
            env.setdefault(name, value)
        return env

    def _start(self, name: str, args: list[str], env: dict, *, layer: int, ready=None) -> None:
        self.supervisor.start(ChildSpec(name=name, args=args, env=env, cwd=settings.BASE_DIR, layer=layer, ready=ready))

    def _start_temporal(self, options) -> None:
        host, port = "127.0.0.1", options["temporal_port"]
        if not settings.TEMPORAL_ADDRESS.startswith(("127.0.0.1:", "localhost:")):
            self.stdout.write(f"Using the Temporal cluster at {settings.TEMPORAL_ADDRESS}.")
            return
        if devserver.port_open(host, port):
            self.stdout.write(f"A Temporal server already listens on {host}:{port}; using it (not supervised).")
            return
        ui_port = options["temporal_ui_port"]
        # The UI decodes payloads through the web app, for staff only; its host matches the
        # web address (127.0.0.1) so the session cookie may travel (codec_server.py).
        args = devserver.dev_server_args(host=host, port=port, ui_port=ui_port, db_file=settings.VAR_DIR / "temporal.db",
                                         ui_codec_endpoint=codec_endpoint(options["port"]))
        self.supervisor.start(ChildSpec(name="temporal", args=args, layer=LAYER_SERVER, log_file=settings.VAR_DIR / "temporal.log",
                                        ready=lambda: devserver.port_open(host, port)))
        self.supervisor.wait_ready("temporal", timeout=60)
        self.stdout.write(f"Temporal dev server on {host}:{port} (UI :{options['temporal_ui_port']}, data in var/temporal.db).")

    def _ensure_schedules(self) -> None:
        # The orders' search attributes (a server started elsewhere, or before they
        # existed, may lack them: orders could not start) and the daily approvals
        # digest; a failure here must not keep the desk down.
        for command in ("register_search_attributes", "ensure_schedules"):
            try:
                call_command(command, stdout=self.stdout)
            except CommandError as err:
                self.stderr.write(f"{command} failed ({err}); run `manage.py {command}` later.")


def web_server_command(port: int) -> list[str]:
    """The web app under ASGI, as `make serve` runs it, so the live panel's event streams work here too.

    uvicorn rather than runserver: runserver is WSGI, where a stream would
    hold a thread for good (the endpoint answers 204 there, and pages poll).
    It reloads on code changes like runserver; a stop ends the open streams
    after a few seconds.
    """
    reload_dirs = [arg for package in ("config", "orders", "approvals", "temporal_bridge") for arg in ("--reload-dir", package)]
    return [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
            "--lifespan", "off", "--loop", "asyncio", "--http", "h11", "--timeout-graceful-shutdown", "3", "--reload", *reload_dirs]

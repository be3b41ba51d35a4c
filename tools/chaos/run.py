"""Fault injection: 100+ orders in flight while workers, Temporal and the
database are killed under them. Nothing may be lost, charged twice or drift.

    make chaos                                  # full: 120 orders, every fault
    .venv/bin/python -m tools.chaos.run --orders 30   # CI size

Real components only: a Temporal CLI dev server persisted to a file, real
`manage.py runworker` processes, Django on PostgreSQL (DATABASE_URL; the
database restart fault needs a local Debian cluster and root) or SQLite.
Faults, in order, while orders move:
  1. SIGKILL a worker at a random moment, three times, restarting it each time;
  2. stop the Temporal dev server (SIGKILL) and start it again on the same file;
  3. kill a submitting process between the database commit and the workflow
     start (reconcile_orders must start those orders);
  4. restart PostgreSQL, dropping every worker's connections.
Then it waits for every order to finish and checks the invariants, printing
the counts. Exit 1 if any invariant is broken.
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from temporal_bridge.runtime import devserver
from tools.chaos.invariants import INITIAL_STOCK, verify

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Plan:
    """What the chaos run does to each order and what it expects."""

    kind: str  # auto, approve, reject, cancel_pending, cancel_fulfilment, declined, scarce, orphan
    order_id: int = 0
    number: str = ""
    approval_sent: bool = False
    driven: bool = False  # every decision or cancel the plan calls for is sent


class Stack:
    """Temporal dev server (persisted) and worker processes, restartable."""

    def __init__(self, workdir: Path, env: dict, workers: int) -> None:
        self.workdir, self.env = workdir, env
        self.port, self.ui_port = devserver.free_port(), devserver.free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env["TEMPORAL_ADDRESS"] = self.address
        self.server: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen | None] = [None] * workers
        self.log = open(workdir / "stack.log", "ab")

    def start_server(self) -> None:
        self.server = devserver.start_dev_server(
            host="127.0.0.1", port=self.port, ui_port=self.ui_port,
            db_file=self.workdir / "temporal.db", log_file=self.workdir / "temporal.log",
        )
        devserver.wait_for_port("127.0.0.1", self.port, timeout=60, process=self.server)

    def kill_server(self) -> None:
        assert self.server is not None
        self.server.send_signal(signal.SIGKILL)
        self.server.wait(30)

    def start_worker(self, index: int) -> None:
        self.workers[index] = subprocess.Popen(
            [sys.executable, "manage.py", "runworker", "--concurrency", "10"],
            cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log,
        )

    def kill_worker(self, index: int) -> None:
        worker = self.workers[index]
        assert worker is not None
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)

    def stop(self) -> None:
        for worker in self.workers:
            if worker and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            if worker:
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    worker.kill()
        if self.server and self.server.poll() is None:
            self.server.terminate()
            self.server.wait(30)


def setup_django(database_url: str, workdir: Path) -> dict:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "ORDER_DESK_VAR_DIR": str(workdir),
        "ORDER_FULFILMENT_STEPS": "5",
        "ORDER_FULFILMENT_STEP_SECONDS": "0.4",
        "TEMPORAL_TASK_QUEUE": "chaos",
        "LOG_LEVEL": "WARNING",
    }
    if database_url:
        env["DATABASE_URL"] = database_url
    else:
        env.pop("DATABASE_URL", None)
    os.environ.update({k: v for k, v in env.items() if k != "DATABASE_URL"})
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    else:
        os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.conf import settings

    # config.settings_test pins fast fulfilment; the chaos run wants it slow
    # enough that faults land mid-fulfilment.
    settings.ORDER_FULFILMENT_STEPS = 5
    settings.ORDER_FULFILMENT_STEP_SECONDS = 0.4
    return env


def prepare_database(database_url: str) -> None:
    """A fresh database for the run: PostgreSQL's is dropped and created, SQLite's file removed."""
    from django.core.management import call_command
    from django.db import connection

    if database_url:
        import psycopg

        name = connection.settings_dict["NAME"]
        admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", interactive=False, verbosity=0)


def seed(n_orders: int, rng: random.Random) -> list[Plan]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from orders import roles
    from orders.inventory import services as inventory
    from orders.models import Customer, Product, Warehouse

    User = get_user_model()
    clerk = User.objects.create_user("clerk", password="x")
    clerk.groups.set(Group.objects.filter(name=roles.CLERKS))
    manager = User.objects.create_user("manager", password="x")
    manager.groups.set(Group.objects.filter(name=roles.MANAGERS))
    Product.objects.create(sku="CHEAP", name="Cheap thing", price=Decimal("10.00"), stock_on_hand=INITIAL_STOCK["CHEAP"])
    Product.objects.create(sku="DEAR", name="Dear thing", price=Decimal("800.00"), stock_on_hand=INITIAL_STOCK["DEAR"])
    # Scarce: fewer units than the orders that want them; some must fail.
    Product.objects.create(sku="SCARCE", name="Scarce thing", price=Decimal("5.00"), stock_on_hand=INITIAL_STOCK["SCARCE"])
    # Held only in a second warehouse: an order with it and anything else splits across two.
    far = Product.objects.create(sku="FAR", name="Far thing", price=Decimal("20.00"))
    east = Warehouse.objects.create(code="EAST", name="East")
    inventory.stock_set_on_hand(warehouse_id=east.pk, product_id=far.pk, on_hand=INITIAL_STOCK["FAR"])
    Customer.objects.create(name="Solvent Ltd", email="solvent@example.com", credit_limit=Decimal("1000000"))
    Customer.objects.create(name="Broke Ltd", email="broke@example.com", credit_limit=Decimal("1.00"))

    kinds = ["auto"] * 5 + ["approve"] * 4 + ["reject", "cancel_pending", "cancel_fulfilment", "cancel_fulfilment", "declined"]
    kinds += ["scarce", "scarce", "split", "split"]
    plans = [Plan(kinds[i % len(kinds)]) for i in range(n_orders)]
    rng.shuffle(plans)
    return plans


def submit(plan: Plan) -> None:
    from django.contrib.auth import get_user_model

    from orders import services
    from orders.models import Customer, Product

    clerk = get_user_model().objects.get(username="clerk")
    product = {"scarce": "SCARCE", "auto": "CHEAP", "declined": "CHEAP"}.get(plan.kind, "DEAR")
    product = "CHEAP" if plan.kind == "split" else product
    quantity = {"scarce": 4, "auto": 2, "declined": 3}.get(plan.kind, 1)
    customer = "Broke Ltd" if plan.kind == "declined" else "Solvent Ltd"
    lines = [services.LineRequest(Product.objects.get(sku=product), quantity)]
    if plan.kind in ("split", "cancel_fulfilment"):
        # Split across MAIN and EAST: shipped, or released on cancel, from both.
        lines.append(services.LineRequest(Product.objects.get(sku="FAR"), 1))
    order = services.order_submit(
        customer=Customer.objects.get(name=customer), created_by=clerk, shipping_address="1 Chaos Street", lines=lines)
    plan.order_id, plan.number = order.pk, order.number


def submit_and_die_before_start(env: dict) -> None:
    """A submitting process killed between the commit and the workflow start."""
    script = (
        "import os, signal, django; django.setup()\n"
        "from temporal_bridge.order import calls as order_calls\n"
        "order_calls.start_order_workflow = lambda inp, **options: os.kill(os.getpid(), signal.SIGKILL)\n"
        "from django.contrib.auth import get_user_model\n"
        "from orders import services\n"
        "from orders.models import Customer, Product\n"
        "services.order_submit(customer=Customer.objects.get(name='Solvent Ltd'),"
        " created_by=get_user_model().objects.get(username='clerk'), shipping_address='1 Crash Lane',"
        " lines=[services.LineRequest(Product.objects.get(sku='CHEAP'), 1)])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()[-500:]


def drive(plans: list[Plan], deadline: float) -> None:
    """Send each order's decisions and cancels when its workflow is ready for them."""
    from django.contrib.auth import get_user_model

    from approvals.services import APPROVE, REJECT, approval_decide
    from orders import services
    from orders.exceptions import OrderError
    from orders.models import Order
    from temporal_bridge.client.bridge import TemporalUnavailable
    from temporal_bridge.order import states

    manager = get_user_model().objects.get(username="manager")
    driven_kinds = ("approve", "reject", "cancel_pending", "cancel_fulfilment", "declined", "scarce")
    pending = [p for p in plans if p.kind in driven_kinds and not p.driven]
    done: set[int] = set()
    while pending and time.monotonic() < deadline:
        for plan in pending:
            order = Order.objects.get(pk=plan.order_id)
            try:
                if order.status == states.PENDING_APPROVAL and order.requires_approval and order.workflow_started_at:
                    if plan.kind == "reject":
                        approval_decide(order=order, user=manager, decision=REJECT, comment="chaos says no",
                                        request_id=f"rej-{plan.order_id}")
                        done.add(plan.order_id)
                    elif plan.kind == "cancel_pending":
                        services.order_request_cancel(order=order, user=manager, reason="chaos cancel", request_id=f"can-{plan.order_id}")
                        done.add(plan.order_id)
                    elif plan.kind in ("approve", "cancel_fulfilment", "declined", "scarce") and not plan.approval_sent:
                        approval_decide(order=order, user=manager, decision=APPROVE, comment="", request_id=f"app-{plan.order_id}")
                        plan.approval_sent = True  # the mirror may not show it yet
                        if plan.kind not in ("cancel_fulfilment", "declined", "scarce"):
                            done.add(plan.order_id)
                elif plan.kind == "declined" and order.status == states.ON_HOLD and order.hold_stage == "credit":
                    # Over its credit limit: finance cancels it (nothing was reserved or charged).
                    services.order_request_cancel(order=order, user=manager, reason="chaos: over the credit limit",
                                                  request_id=f"can-{plan.order_id}")
                    done.add(plan.order_id)
                elif plan.kind == "scarce" and order.awaiting_stock:
                    # Its one line is in no warehouse: dropping it leaves nothing, so the order ends cancelled, compensated.
                    line = order.lines.get()
                    services.order_request_stock_decision(order=order, user=manager, choices={line.product_id: "drop"},
                                                          request_id=f"stock-{plan.order_id}")
                    done.add(plan.order_id)
                elif (plan.kind == "cancel_fulfilment" and order.status in (states.FULFILLING, states.PARTIALLY_SHIPPED)
                      and order.progress >= 20):
                    # A split order's next part packs while it reads partially shipped: a cancel then stops only that part.
                    services.order_request_cancel(order=order, user=manager, reason="chaos cancel mid-fulfilment",
                                                  request_id=f"can-{plan.order_id}")
                    done.add(plan.order_id)
                elif order.status in states.TERMINAL:
                    done.add(plan.order_id)
            except (OrderError, TemporalUnavailable):
                pass  # the stack is being hurt; try again on the next pass
        for plan in pending:
            plan.driven = plan.driven or plan.order_id in done
        pending = [p for p in pending if not p.driven]
        time.sleep(0.3)


def wait_until_finished(deadline: float, reconcile_every: float = 5.0) -> None:
    from datetime import timedelta

    from orders.models import Order
    from orders.operations.reconcile import reconcile
    from temporal_bridge.order import states

    last_reconcile = 0.0
    while time.monotonic() < deadline:
        if not Order.objects.exclude(status__in=states.TERMINAL).exists():
            return
        if time.monotonic() - last_reconcile > reconcile_every:
            try:
                reconcile(min_age=timedelta(seconds=2))
            except Exception as err:  # noqa: BLE001 - reported, the run goes on
                print(f"  reconcile failed (will retry): {err}")
            last_reconcile = time.monotonic()
        time.sleep(1)


def restart_postgres() -> str:
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True)
    if clusters.returncode != 0 or not clusters.stdout.strip():
        return "skipped: no local Debian PostgreSQL cluster"
    version, name = clusters.stdout.split()[:2]
    subprocess.run(["pg_ctlcluster", version, name, "restart", "-m", "fast"], check=True, timeout=120)
    return f"restarted cluster {version}/{name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    base_url = os.environ.get("DATABASE_URL", "")
    database_url = base_url.rsplit("/", 1)[0] + "/orderdesk_chaos" if base_url else ""
    workdir = Path(tempfile.mkdtemp(prefix="chaos-"))
    env = setup_django(database_url, workdir)
    prepare_database(database_url)
    plans = seed(args.orders, rng)

    stack = Stack(workdir, env, args.workers)
    os.environ["TEMPORAL_ADDRESS"] = stack.address
    from django.conf import settings

    settings.TEMPORAL_ADDRESS = stack.address
    started = time.monotonic()
    faults: list[str] = []
    try:
        stack.start_server()
        for index in range(args.workers):
            stack.start_worker(index)
        from temporal_bridge.client.bridge import bridge

        bridge.reset()
        deadline = time.monotonic() + args.timeout

        half = len(plans) // 2
        for plan in plans[:half]:
            submit(plan)
        for round_ in range(3):
            time.sleep(rng.uniform(0.5, 2.0))
            victim = rng.randrange(args.workers)
            stack.kill_worker(victim)
            faults.append(f"SIGKILL worker {victim} (round {round_ + 1}), restarted")
            drive(plans[:half], time.monotonic() + 1.0)
            stack.start_worker(victim)

        stack.kill_server()
        time.sleep(1)
        stack.start_server()
        bridge.reset()
        faults.append("SIGKILL Temporal dev server, restarted on the same file")

        for plan in plans[half:]:
            submit(plan)
        for _ in range(3):
            submit_and_die_before_start(env)
        faults.append("3 submitting processes SIGKILLed between commit and workflow start")

        drive(plans, time.monotonic() + 3.0)
        if database_url:
            faults.append(f"PostgreSQL {restart_postgres()}")
        else:
            faults.append("PostgreSQL restart skipped: running on SQLite")
        from django.db import connections

        connections.close_all()
        drive(plans, deadline)
        wait_until_finished(deadline)
        results = verify({plan.number: plan.kind for plan in plans})
    finally:
        stack.stop()

    elapsed = time.monotonic() - started
    print(f"\nChaos run: {args.orders} planned orders (+3 orphaned submissions), {args.workers} workers, "
          f"{'PostgreSQL' if database_url else 'SQLite'}, {elapsed:.0f}s")
    print("Faults:")
    for fault in faults:
        print(f"  - {fault}")
    print("Counts:")
    states_seen = sorted(k for k in results.counts if k.startswith("state "))
    for key in ["orders", "LOST", "DRIFT", "duplicated events", "captures", "refunds", "split orders"] + states_seen:
        print(f"  {key:<24} {results.counts.get(key, 0)}")
    if results.problems:
        print(f"\n{len(results.problems)} invariant(s) broken:")
        for problem in results.problems[:50]:
            print(f"  ✗ {problem}")
        print(f"Logs: {workdir}")
        return 1
    print("\nAll invariants hold: 0 lost, 0 duplicated, 0 drift; one capture per paid order, "
          "a refund for each paid-then-cancelled/failed one, stock consistent.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Lifecycle throughput through the real path, and the bare-SDK baseline beside it."""
from __future__ import annotations

import asyncio
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connections
from django.db.models import Q

from approvals.services import APPROVE, approval_decide
from orders import roles, services
from orders.models import Customer, Order, Product
from temporal_bridge.client.bridge import bridge
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from tools.bench import baseline, baseline_db

CLERK = "bench-clerk"
CUSTOMER = "Bench Buyer"


@dataclass
class Fixtures:
    clerk: object
    manager: object
    customer: Customer
    cheap: Product  # below the auto-approval threshold
    dear: Product  # needs a manager


def seed() -> Fixtures:
    User = get_user_model()

    def user(name: str, group: str, **extra):
        u, _ = User.objects.get_or_create(username=name, defaults=extra)
        u.set_password("bench")
        u.save()
        u.groups.set([Group.objects.get(name=group)])
        return User.objects.get(pk=u.pk)  # fresh, without cached permissions

    def product(sku: str, name: str, price: str) -> Product:
        return Product.objects.get_or_create(sku=sku, defaults={"name": name, "price": Decimal(price), "stock_on_hand": 2_000_000_000})[0]

    return Fixtures(
        clerk=user(CLERK, roles.CLERKS),
        manager=user("bench-manager", roles.MANAGERS, is_staff=True),
        customer=Customer.objects.get_or_create(name=CUSTOMER,
                                                defaults={"email": "bench@example.com", "credit_limit": Decimal("1e9")})[0],
        cheap=product("BENCH-10", "Bench widget", "10.00"),
        dear=product("BENCH-1000", "Bench server", "1000.00"),
    )


def submit(fx: Fixtures, count: int, *, requires_approval: bool) -> list[int]:
    product = fx.dear if requires_approval else fx.cheap
    ids = []
    for _ in range(count):
        order = services.order_submit(customer=fx.customer, lines=[services.LineRequest(product, 1)], created_by=fx.clerk,
                                      shipping_address="1 Bench Street")
        ids.append(order.pk)
    return ids


# Managers approving at once. Each approval waits for the workflow's verdict,
# as the approving browser's POST does (~0.1 s): one after another, those
# waits alone capped the manager-approved rate (about 10 orders/s), which the
# bare-SDK baselines' drivers, signalling without a verdict, never paid.
APPROVERS = 8


def approve_all(fx: Fixtures, ids: list[int]) -> None:
    def approve(order: Order) -> None:
        try:
            approval_decide(order=order, user=fx.manager, decision=APPROVE, comment="", request_id=uuid.uuid4().hex)
        finally:
            connections.close_all()  # this thread's own connection

    orders = list(Order.objects.filter(pk__in=ids).order_by("id"))
    with ThreadPoolExecutor(APPROVERS, thread_name_prefix="bench-approver") as pool:
        list(pool.map(approve, orders))


def wait_terminal(ids: list[int], timeout: float) -> tuple[float, int]:
    """Wait until every order is terminal in the DB mirror; (when, how many did not end fulfilled)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        open_left = Order.objects.filter(pk__in=ids).exclude(status__in=states.TERMINAL).count()
        if open_left == 0:
            done = time.monotonic()
            return done, Order.objects.filter(pk__in=ids).filter(~Q(status=states.FULFILLED)).count()
        time.sleep(0.05)
    raise TimeoutError(f"{open_left} of {len(ids)} orders still open after {timeout:g}s")


def real_throughput(fx: Fixtures, count: int, *, requires_approval: bool, timeout: float, ids_out: list | None = None) -> tuple[float, int]:
    """Orders per second, submit → fulfilled in the mirror; and failures. The orders' ids are appended to `ids_out`."""
    t0 = time.monotonic()
    ids = submit(fx, count, requires_approval=requires_approval)
    if ids_out is not None:
        ids_out.extend(ids)
    if requires_approval:
        approve_all(fx, ids)
    done, failures = wait_terminal(ids, timeout)
    return count / (done - t0), failures


def baseline_throughput(address: str, task_queue: str, count: int, *, requires_approval: bool, steps: int, step_seconds: float,
                        timeout: float, shape: str = baseline.SAME_SHAPE.key, ids_out: list | None = None) -> tuple[float, int]:
    """Orders per second of a baseline shape (tools/bench/baseline.py); and failures. Workflow ids are appended to `ids_out`."""
    prefix = f"base-{shape}-{uuid.uuid4().hex[:6]}"
    if ids_out is not None:
        ids_out.extend(f"{prefix}-{i}" for i in range(count))

    async def go(orders: baseline.Orders | None):
        from temporalio.client import Client

        client = await Client.connect(address)
        return await baseline.drive(client, task_queue=task_queue, count=count, requires_approval=requires_approval, steps=steps,
                                    step_seconds=step_seconds, prefix=prefix, timeout=timeout, shape=shape, orders=orders)

    if baseline.WORKFLOWS[shape].SHAPE.db:
        with psycopg.connect(baseline_db.libpq(os.environ["DATABASE_URL"]), autocommit=True) as conn:
            orders = PsycopgOrders(conn, requires_approval=requires_approval)
            seconds, failures = asyncio.run(go(orders))
            # Its orders end as the real ones do in the mirror, or they count as failed.
            failures = max(failures, orders.not_fulfilled())
    else:
        seconds, failures = asyncio.run(go(None))
    return count / seconds, failures


class PsycopgOrders:
    """The psycopg shape's orders, written as order_submit writes them, on the bench's fixtures (seed)."""

    def __init__(self, conn, *, requires_approval: bool) -> None:
        self.conn, self.requires_approval = conn, requires_approval
        self.buyer = baseline_db.buyer(conn, sku="BENCH-1000" if requires_approval else "BENCH-10", clerk=CLERK, customer=CUSTOMER)
        self.ids: list[int] = []

    def submit(self, index: int, workflow_id: str) -> int:
        order_id = baseline_db.submit(self.conn, self.buyer, workflow_id=workflow_id, requires_approval=self.requires_approval,
                                      clerk=CLERK)
        self.ids.append(order_id)
        return order_id

    def not_fulfilled(self) -> int:
        query = "SELECT count(*) FROM orders_order WHERE id = ANY(%s) AND status <> 'fulfilled'"
        return self.conn.execute(query, (self.ids,)).fetchone()[0]

    def started(self, order_id: int) -> None:
        baseline_db.started(self.conn, order_id)


@contextmanager
def starting_as(workflow_name: str | None):
    """order_submit starts `workflow_name` (same input, same id) instead of OrderWorkflow; None changes nothing."""
    if workflow_name is None:
        yield
        return
    original = order_calls.start_order_workflow

    def start(inp: m.OrderWorkflowInput, **_options) -> bool:
        async def go(client) -> bool:
            await client.start_workflow(workflow_name, inp, id=m.workflow_id_for(inp.order_id), task_queue=settings.TEMPORAL_TASK_QUEUE)
            return True

        return bridge.call(go)

    order_calls.start_order_workflow = start
    try:
        yield
    finally:
        order_calls.start_order_workflow = original

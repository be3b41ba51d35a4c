"""Scale-out on one machine: three `manage.py runworker` processes poll one task
queue and share a batch of orders; one of them is SIGKILLed in the middle of a
fulfilment, and nothing is lost, charged twice or left stuck: its fulfilment
resumes on another worker, and the orders that arrive afterwards go to the two
survivors.

CI runs a small batch; `make scale-demo` runs 60 orders and prints the figures:

    SCALE_OUT_ORDERS=60 .venv/bin/python -m pytest tests/integration/test_scale_out.py -s -q

Who did the work is read from Temporal itself: each workflow's history names
the worker identity (`order-desk@host:pid`) that ran every activity and
workflow task, so a worker's share is counted, not assumed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import Count
from temporalio.api.enums.v1 import PendingActivityState

from orders import services
from orders.models import Order, Product
from orders.payments.models import PaymentTransaction
from temporal_bridge.client import queue_health
from temporal_bridge.client.bridge import bridge
from temporal_bridge.order import fulfilment, states
from temporal_bridge.order import messages as m

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ORDERS = int(os.environ.get("SCALE_OUT_ORDERS", "12"))
WORKERS = 3
# Activity slots per worker: few enough that no single worker could take the whole batch at once.
SLOTS = 4
# Two seconds in the warehouse per order: long enough to kill a worker mid-fulfilment.
FULFILMENT_STEPS, FULFILMENT_STEP_SECONDS = 4, 0.5
FULFILMENT_SECONDS = FULFILMENT_STEPS * FULFILMENT_STEP_SECONDS
# Orders arrive one at a time, as from a shop; the kill comes once this many are done.
ARRIVAL_INTERVAL = float(os.environ.get("SCALE_OUT_INTERVAL", "0.4"))
KILL_AFTER_FULFILLED = max(1, ORDERS // 6)


def start_worker(address: str, task_queue: str, log_path) -> subprocess.Popen:
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test", "TEMPORAL_ADDRESS": address,
        # The workers write to this test's database, whichever engine it is.
        "ORDER_DESK_TEST_DATABASE": str(connection.settings_dict["NAME"]),
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "--task-queue", task_queue, "--concurrency", str(SLOTS)],
        cwd=django_settings.BASE_DIR, env=env, stdout=open(log_path, "wb"), stderr=subprocess.STDOUT,
    )


def identity_pid(identity: str) -> int | None:
    tail = identity.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def work_by_identity(order_ids: list[int], *, finished_before: float = float("inf")) -> tuple[Counter, Counter, int, Counter]:
    """From the histories, per worker identity: activity executions and workflow
    tasks completed, how many activities were retries, and the activities
    completed before `finished_before` (a Unix time)."""

    async def read(client):
        activities, workflow_tasks, retried, early = Counter(), Counter(), 0, Counter()
        for order_id in order_ids:
            history = await client.get_workflow_handle(m.workflow_id_for(order_id)).fetch_history()
            for event in history.events:
                if event.HasField("activity_task_started_event_attributes"):
                    started = event.activity_task_started_event_attributes
                    activities[started.identity] += 1
                    retried += started.attempt > 1
                elif event.HasField("activity_task_completed_event_attributes"):
                    if event.event_time.ToSeconds() < finished_before:
                        early[event.activity_task_completed_event_attributes.identity] += 1
                elif event.HasField("workflow_task_started_event_attributes"):
                    workflow_tasks[event.workflow_task_started_event_attributes.identity] += 1
        return activities, workflow_tasks, retried, early

    return bridge.call(read, timeout=60)


def fulfilment_attempts(workflow_id: str) -> list[tuple[str, int]]:
    """(worker identity, attempt) of the recorded start of the order's fulfilment activity."""

    async def read(client):
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        fulfil_scheduled = {
            e.event_id for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
            and e.activity_task_scheduled_event_attributes.activity_type.name == fulfilment.ACT_FULFIL
        }
        return [
            (e.activity_task_started_event_attributes.identity, e.activity_task_started_event_attributes.attempt) for e in history.events
            if e.HasField("activity_task_started_event_attributes")
            and e.activity_task_started_event_attributes.scheduled_event_id in fulfil_scheduled
        ]

    return bridge.call(read, timeout=30)


def fulfilled_count(order_ids: list[int]) -> int:
    return Order.objects.filter(pk__in=order_ids, status=states.FULFILLED).count()


def a_fulfilment_in_progress(order_ids: list[int]) -> tuple[str, int] | None:
    """(workflow id, worker pid) of a fulfilment a worker is running now, with at least ~0.75 s still to go."""
    unfinished = list(Order.objects.filter(pk__in=order_ids).exclude(status=states.FULFILLED).values_list("pk", flat=True))

    async def find(client):
        for order_id in unfinished:
            workflow_id = m.workflow_id_for(order_id)
            description = (await client.get_workflow_handle(workflow_id).describe()).raw_description
            for pending in description.pending_activities:
                started = pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                if (pending.activity_type.name == fulfilment.ACT_FULFIL and started
                        and time.time() - pending.last_started_time.ToSeconds() < FULFILMENT_SECONDS - 0.75):
                    return workflow_id, identity_pid(pending.last_worker_identity)
        return None

    return bridge.call(find, timeout=30)


@pytest.fixture
def workers(temporal_address, settings, tmp_path):
    """Three worker processes on a fresh task queue, Django pointed at the same server; all stopped afterwards."""
    settings.TEMPORAL_ADDRESS = temporal_address
    settings.TEMPORAL_TASK_QUEUE = f"scale-{uuid.uuid4().hex[:8]}"
    bridge.reset()
    processes = {f"worker-{n}": start_worker(temporal_address, settings.TEMPORAL_TASK_QUEUE, tmp_path / f"worker-{n}.log")
                 for n in range(1, WORKERS + 1)}
    try:
        wanted = {p.pid for p in processes.values()}
        deadline = time.monotonic() + 60
        while {identity_pid(i) for i in queue_health.task_queue_pollers().identities} < wanted:
            dead = [name for name, p in processes.items() if p.poll() is not None]
            assert not dead, f"{dead} exited: {(tmp_path / f'{dead[0]}.log').read_text()}"
            assert time.monotonic() < deadline, "the three workers never all polled the task queue"
            time.sleep(0.2)
        yield processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        bridge.reset()


def test_three_workers_share_the_orders_and_killing_one_loses_nothing(workers, settings, clerk, customer):
    settings.ORDER_FULFILMENT_STEPS, settings.ORDER_FULFILMENT_STEP_SECONDS = FULFILMENT_STEPS, FULFILMENT_STEP_SECONDS
    stock = ORDERS + 10
    product = Product.objects.create(sku="SCALE-1", name="Scale widget", price=Decimal("10.00"), stock_on_hand=stock)
    names = {p.pid: name for name, p in workers.items()}

    def submit() -> int:
        return services.order_submit(
            customer=customer, lines=[services.LineRequest(product, 1)], created_by=clerk, shipping_address="1 Main Street",
        ).pk

    # Orders arrive as a steady stream. Once a few are fulfilled, the worker
    # running a fulfilment (found in Temporal's own description of the
    # workflows) is killed in the middle of it. The last third of the orders
    # arrives only after the kill, so only the survivors can take them.
    order_ids: list[int] = []
    late_ids: list[int] = []
    interrupted = victim_name = None
    started = time.monotonic()
    next_arrival = started
    while len(order_ids) < ORDERS or interrupted is None:
        now = time.monotonic()
        if now - started > 120:
            statuses = Counter(Order.objects.filter(pk__in=order_ids).values_list("status", flat=True))
            pytest.fail(f"no fulfilment to interrupt; orders {dict(statuses)}; exits { {n: p.poll() for n, p in workers.items()} }")
        done = fulfilled_count(order_ids)
        holding_back = interrupted is None and len(order_ids) >= ORDERS - ORDERS // 3
        # While holding back, let one more order in only when nothing is left in flight to interrupt.
        if now >= next_arrival and len(order_ids) < ORDERS and (not holding_back or done == len(order_ids)):
            order_ids.append(submit())
            if interrupted:
                late_ids.append(order_ids[-1])
            next_arrival = max(next_arrival + ARRIVAL_INTERVAL, now)
        if interrupted is None and (done >= KILL_AFTER_FULFILLED or holding_back) and (found := a_fulfilment_in_progress(order_ids)):
            interrupted, victim_pid = found
            victim_name = names[victim_pid]
            workers[victim_name].send_signal(signal.SIGKILL)
            killed_at, killed_wall = time.monotonic() - started, time.time()
            submitted_at_kill, done_at_kill = len(order_ids), fulfilled_count(order_ids)
            workers[victim_name].wait(10)
        time.sleep(0.02)
    assert not Order.objects.filter(pk__in=order_ids, requires_approval=True).exists(), "the batch must be auto-approved"

    deadline = time.monotonic() + 150
    while fulfilled_count(order_ids) < ORDERS:
        stuck = Order.objects.filter(pk__in=order_ids).exclude(status=states.FULFILLED).values_list("status", flat=True)
        assert time.monotonic() < deadline, f"orders left unfinished after the kill: {Counter(stuck)}"
        time.sleep(0.1)
    elapsed = time.monotonic() - started

    # Nothing lost: every order fulfilled, each charged exactly once, stock exact.
    orders = Order.objects.filter(pk__in=order_ids)
    assert orders.count() == ORDERS and all(o.status == states.FULFILLED and o.tracking_number for o in orders)
    captures = PaymentTransaction.objects.filter(order__in=order_ids, kind="capture").values("order").annotate(n=Count("id"))
    assert sorted(c["n"] for c in captures) == [1] * ORDERS, "an order was charged twice, or not at all"
    assert not PaymentTransaction.objects.filter(order__in=order_ids, kind="refund").exists()
    product.refresh_from_db()
    assert (product.stock_on_hand, product.stock_reserved) == (stock - ORDERS, 0)

    # Shared load: every worker, the killed one included, ran part of the batch.
    activities, workflow_tasks, retried, before_kill = work_by_identity(order_ids, finished_before=killed_wall)
    interrupted_attempts = [(names.get(identity_pid(i), i), attempt) for i, attempt in fulfilment_attempts(interrupted)]
    by_worker = Counter({names.get(identity_pid(i), i): n for i, n in activities.items()})
    tasks_by_worker = Counter({names.get(identity_pid(i), i): n for i, n in workflow_tasks.items()})
    before_kill = Counter({names.get(identity_pid(i), i): n for i, n in before_kill.items()})
    assert set(by_worker) == set(workers), f"activities ran outside the three workers: {by_worker}"
    assert all(before_kill[name] > 0 for name in workers), f"a worker took no share while all three ran: {before_kill}"
    late = Counter({names.get(identity_pid(i), i): n for i, n in work_by_identity(late_ids)[0].items()})
    assert late and victim_name not in late, f"orders submitted after the kill ran on {late}"
    # The fulfilment the victim was running finished on a survivor, as its second attempt.
    assert interrupted_attempts[-1][0] != victim_name and interrupted_attempts[-1][1] >= 2, interrupted_attempts

    total = sum(by_worker.values())
    lines = [
        "",
        f"Scale-out: {ORDERS} auto-approved orders, {WORKERS} `manage.py runworker` processes ({SLOTS} activity slots each), "
        f"one task queue, {connection.vendor}",
        f"  orders arrive every {ARRIVAL_INTERVAL:g}s; {victim_name} SIGKILLed mid-fulfilment of {interrupted} at {killed_at:.1f}s, "
        f"with {submitted_at_kill} submitted and {done_at_kill} fulfilled; {len(late_ids)} submitted after the kill",
        f"  orders submitted after the kill ran on: {', '.join(f'{k} {v} activities' for k, v in sorted(late.items()))}",
        f"  {interrupted}'s fulfilment finished on {interrupted_attempts[-1][0]} (attempt {interrupted_attempts[-1][1]})",
        f"  all {ORDERS} fulfilled after {elapsed:.1f}s; lost=0, charged twice=0, captures={ORDERS}, stock exact",
        f"  activity executions {total} (retried after the kill: {retried}); workflow tasks {sum(tasks_by_worker.values())}",
    ]
    early_total = sum(before_kill.values())
    lines.append(f"    {'activities by':18} {'before the kill':>18}  {'whole run':>18}  {'workflow tasks':>14}")
    for name in sorted(workers):
        label = f"{name}{' (killed)' if name == victim_name else ''}"
        lines.append(f"    {label:18} {before_kill[name]:5d} act. ({100 * before_kill[name] / early_total:4.1f}%)  "
                     f"{by_worker[name]:5d} act. ({100 * by_worker[name] / total:4.1f}%)  {tasks_by_worker[name]:14d}")
    print("\n".join(lines))

"""The bare-SDK ceilings: minimal order workflows without Django, one per shape.

Same server and worker settings as the real path, the same timeouts and retry
policies, the same signals (the fulfilment activity's progress report, the
manager's approval with its deadline timer), but every activity is a no-op:
what is left is the cost of the engine (server, SDK, worker) for that shape.
The real path's throughput is divided by each one.

A shape is data (`Shape`): the activities in order, where the approval wait
goes, and what the approval handler runs:

- SAME_SHAPE ("BaselineOrder"): OrderWorkflow as it was before the lean
  engine (15 activities per auto-approved order, 10 of them mirror writes,
  16 workflow tasks). Kept as the record of that shape; when the real
  workflow's shape changes, a shape with its new steps can be added beside it.
- BUSINESS_SHAPE ("BusinessShapeOrder"): what an order needs and nothing
  more: reserve stock, charge, fulfil (one heartbeat and one progress signal
  to its workflow), ship, notify; a manager-approved order also waits for the
  approval signal (with its deadline timer) and runs one activity to check
  and record the decision.
- PSYCOPG_SHAPE ("PsycopgShapeOrder"): the business shape whose activities
  do the real path's database writes through psycopg, without Django
  (tools/bench/baseline_db.py): what the work itself costs. PostgreSQL only.
- CHECKED_SHAPE ("CheckedShapeOrder"), manager-approved rounds only: the
  business shape whose run checks the decision before it reserves, as the
  real path must, where BUSINESS_SHAPE's signal handler checks it beside the
  reservation.

Run as a worker process: python -m tools.bench.baseline --address HOST:PORT --task-queue Q
Imports no Django (the workflow sandbox re-imports this module).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=30))
STEP = timedelta(seconds=30)

# Step names in a Shape with a meaning of their own; any other name is a no-op activity.
FULFIL = "fulfil"  # the fulfilment activity: heartbeats and signals progress to its workflow
WAIT = "wait"  # manager-approved orders only: wait for the approval signal (48 h deadline timer)
IF_APPROVAL = "?"  # prefix: a step that manager-approved orders only run


@dataclass(frozen=True)
class Shape:
    key: str  # as the bench names it
    workflow: str  # the workflow type name
    summary: str  # for the table
    steps: tuple[str, ...]
    decision: tuple[str, ...]  # the activities the approval signal's handler runs
    db: bool = False  # the steps are baseline_db's activities ("db " + step), writing the order's rows
    approval_only: bool = False  # measured in the manager-approved rounds only (auto-approved, it is another shape's twin)


SAME_SHAPE = Shape(
    "same", "BaselineOrder", "same shape as OrderWorkflow before the lean engine (15 activities, 16 workflow tasks)",
    steps=(
        "submitted", "?awaiting decision", WAIT, "approved", "processing", "reserve stock", "mirror", "charge payment", "mirror",
        "fulfilling", FULFIL, "fulfilment complete", "ship", "mirror", "notify", "mirror: customer emailed", "mirror: fulfilled",
    ),
    decision=("record decision",),
)
BUSINESS_SHAPE = Shape(
    "business", "BusinessShapeOrder", "business shape (reserve, charge, fulfil + 1 progress signal, ship, notify)",
    steps=(WAIT, "reserve stock", "charge payment", FULFIL, "ship", "notify"),
    decision=("check and record decision",),
)
PSYCOPG_SHAPE = Shape(
    "psycopg", "PsycopgShapeOrder", "business shape doing the real path's database writes through psycopg (no Django)",
    steps=BUSINESS_SHAPE.steps, decision=("check and record decision",), db=True,
)
# The business shape as the desk must run it: the decision is checked before anything acts on it (the real
# path counts an approval only once the desk's record confirms it). BUSINESS_SHAPE's handler runs its check
# beside the reservation, one workflow task fewer; this says what checking first costs on its own.
CHECKED_SHAPE = Shape(
    "checked", "CheckedShapeOrder", "business shape checking the decision before the reservation",
    steps=(WAIT, "?check and record decision", "reserve stock", "charge payment", FULFIL, "ship", "notify"),
    decision=(), approval_only=True,
)
SHAPES = (SAME_SHAPE, BUSINESS_SHAPE, PSYCOPG_SHAPE, CHECKED_SHAPE)


@dataclass
class BaselineInput:
    order_id: int
    requires_approval: bool
    fulfilment_steps: int = 1
    fulfilment_step_seconds: float = 0.0


@dataclass
class Entry:
    order_id: int
    key: str


@dataclass
class DecisionRecord:
    order_id: int
    actor: str
    request_id: str


@dataclass
class Progress:
    percent: int


@dataclass
class Decision:
    actor: str
    request_id: str


@activity.defn(name="noop")
def noop(entry: Entry) -> None:
    """Stands for a mirror write or a business step (sync, on the thread pool, like the real ones)."""


@activity.defn(name="fulfil")
async def fulfil(job: BaselineInput) -> int:
    """Heartbeats and signals progress to its workflow once per step, like fulfil_order."""
    info = activity.info()
    for step in range(job.fulfilment_steps):
        await asyncio.sleep(job.fulfilment_step_seconds)
        activity.heartbeat(step + 1)
        percent = round(100 * (step + 1) / job.fulfilment_steps)
        await activity.client().get_workflow_handle(info.workflow_id).signal("progress", Progress(percent))
    return job.fulfilment_steps


class _ShapedOrder:
    """Runs its class's SHAPE; the subclasses below only name it. The SDK wants `run` on each workflow class and
    refuses it on a class made inside a function, so each shape's class is written out."""

    SHAPE: Shape

    def __init__(self, inp: BaselineInput) -> None:
        self._decision: Decision | None = None
        self._progress = 0
        self._n = 0
        self._order_id = inp.order_id

    async def _noop(self, name: str) -> None:
        self._n += 1
        if self.SHAPE.db:
            await workflow.execute_activity(f"db {name}", Entry(self._order_id, f"{self._n:04d}"), start_to_close_timeout=STEP,
                                            retry_policy=RETRY)
            return
        # The step's name stays out of the payload, so the same shape costs what it did before shapes were data.
        await workflow.execute_activity("noop", Entry(0, f"{self._n:04d}"), start_to_close_timeout=STEP, retry_policy=RETRY)

    async def _run(self, inp: BaselineInput) -> int:
        for step in self.SHAPE.steps:
            if step == WAIT:
                if inp.requires_approval:
                    await workflow.wait_condition(lambda: self._decision is not None, timeout=timedelta(hours=48))
            elif step == FULFIL:
                self._n += 1
                name = "db fulfil" if self.SHAPE.db else "fulfil"
                await workflow.execute_activity(name, inp, start_to_close_timeout=timedelta(seconds=60),
                                                heartbeat_timeout=timedelta(seconds=5), retry_policy=RETRY)
            elif step.startswith(IF_APPROVAL):
                if inp.requires_approval:
                    await self._noop(step[1:])
            else:
                await self._noop(step)
        return self._n

    @workflow.signal(name="approve")
    async def approve(self, decision: Decision) -> None:
        self._decision = decision
        for step in self.SHAPE.decision:
            if self.SHAPE.db:
                await workflow.execute_activity(f"db {step}", DecisionRecord(self._order_id, decision.actor, decision.request_id),
                                                start_to_close_timeout=STEP, retry_policy=RETRY)
            else:
                await self._noop(step)

    @workflow.signal(name="progress")
    def progress(self, progress: Progress) -> None:
        self._progress = progress.percent

    @workflow.query(name="snapshot")
    def snapshot(self) -> int:
        return self._progress


@workflow.defn(name=SAME_SHAPE.workflow)
class BaselineOrderWorkflow(_ShapedOrder):
    SHAPE = SAME_SHAPE

    @workflow.init
    def __init__(self, inp: BaselineInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: BaselineInput) -> int:
        return await self._run(inp)


@workflow.defn(name=BUSINESS_SHAPE.workflow)
class BusinessShapeOrderWorkflow(_ShapedOrder):
    SHAPE = BUSINESS_SHAPE

    @workflow.init
    def __init__(self, inp: BaselineInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: BaselineInput) -> int:
        return await self._run(inp)


@workflow.defn(name=PSYCOPG_SHAPE.workflow)
class PsycopgShapeOrderWorkflow(_ShapedOrder):
    SHAPE = PSYCOPG_SHAPE

    @workflow.init
    def __init__(self, inp: BaselineInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: BaselineInput) -> int:
        return await self._run(inp)


@workflow.defn(name=CHECKED_SHAPE.workflow)
class CheckedShapeOrderWorkflow(_ShapedOrder):
    SHAPE = CHECKED_SHAPE

    @workflow.init
    def __init__(self, inp: BaselineInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: BaselineInput) -> int:
        return await self._run(inp)


WORKFLOWS = {cls.SHAPE.key: cls for cls in (BaselineOrderWorkflow, BusinessShapeOrderWorkflow, PsycopgShapeOrderWorkflow,
                                            CheckedShapeOrderWorkflow)}


class Orders(Protocol):
    """Where a shape's orders come from: the psycopg shape writes each one (as order_submit) before starting it."""

    def submit(self, index: int, workflow_id: str) -> int: ...  # the order's id

    def started(self, order_id: int) -> None: ...


async def drive(client, *, task_queue: str, count: int, requires_approval: bool, steps: int, step_seconds: float,
                prefix: str, timeout: float, shape: str = SAME_SHAPE.key, orders: Orders | None = None) -> tuple[float, int]:
    """Start `count` workflows of `shape` one after another (approving each if needed); (seconds until all done, failures).

    Their ids are f"{prefix}-{i}"; with `orders`, each order is written first and its id is the workflow's."""
    cls = WORKFLOWS[shape]
    t0 = time.monotonic()
    handles = []
    for i in range(count):
        workflow_id = f"{prefix}-{i}"
        order_id = orders.submit(i, workflow_id) if orders else i
        handles.append(await client.start_workflow(
            cls.run, BaselineInput(order_id, requires_approval, steps, step_seconds), id=workflow_id, task_queue=task_queue,
        ))
        if orders:
            orders.started(order_id)
    if requires_approval:
        for i, handle in enumerate(handles):
            await handle.signal(cls.approve, Decision("manager", f"{prefix}-r{i}"))
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles), return_exceptions=True), timeout)
    failures = sum(1 for r in results if isinstance(r, BaseException))
    return time.monotonic() - t0, failures


async def run_worker(address: str, task_queue: str, concurrency: int) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    client = await Client.connect(address)
    executor = ThreadPoolExecutor(max_workers=concurrency)
    activities = [noop, fulfil]
    db = None
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        # Here and not at the top: the workflow sandbox loads this module for every workflow, and psycopg must stay out of it.
        from tools.bench import baseline_db as db

        activities += db.ACTIVITIES
    worker = Worker(
        client, task_queue=task_queue, workflows=list(WORKFLOWS.values()), activities=activities, activity_executor=executor,
        max_concurrent_activities=concurrency, max_concurrent_workflow_tasks=20, graceful_shutdown_timeout=timedelta(seconds=2),
    )
    # The same stop handling as temporal_bridge.runtime.worker.run_until_stopped, kept
    # here because the baseline must not import Django (that module does).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        print("baseline worker polling", flush=True)
        await stop.wait()
    executor.shutdown(wait=True)
    if db is not None:
        db.close_connections()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run_worker(args.address, args.task_queue, args.concurrency))


if __name__ == "__main__":
    main()

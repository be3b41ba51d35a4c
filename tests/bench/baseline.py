"""The bare-SDK ceiling: a minimal workflow shaped like OrderWorkflow, without Django.

Same server, same number of activities (sequential, same timeouts and retry
policies), the same signals (the fulfilment activity's progress reports, and
the manager's approval with its deadline timer), but every activity is a
no-op: what is left is the cost of the engine (server, SDK, worker). The real
path's throughput is divided by this one.

Run as a worker process: python -m tests.bench.baseline --address HOST:PORT --task-queue Q
Imports no Django (the workflow sandbox re-imports this module).
"""
from __future__ import annotations

import argparse
import asyncio
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=30))
STEP = timedelta(seconds=30)


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
        await activity.client().get_workflow_handle(info.workflow_id).signal("progress", Progress(round(100 * (step + 1) / job.fulfilment_steps)))
    return job.fulfilment_steps


@workflow.defn(name="BaselineOrder")
class BaselineOrderWorkflow:
    @workflow.init
    def __init__(self, inp: BaselineInput) -> None:
        self._decision: Decision | None = None
        self._progress = 0
        self._n = 0

    async def _step(self) -> None:
        self._n += 1
        await workflow.execute_activity("noop", Entry(0, f"{self._n:04d}"), start_to_close_timeout=STEP, retry_policy=RETRY)

    @workflow.run
    async def run(self, inp: BaselineInput) -> int:
        await self._step()  # submitted
        if inp.requires_approval:
            await self._step()  # awaiting a decision, with its deadline
            await workflow.wait_condition(lambda: self._decision is not None, timeout=timedelta(hours=48))
        await self._step()  # approved (or auto-approved)
        await self._step()  # processing
        await self._step()  # reserve stock
        await self._step()  # mirror
        await self._step()  # charge payment
        await self._step()  # mirror
        await self._step()  # fulfilling
        await workflow.execute_activity("fulfil", inp, start_to_close_timeout=timedelta(seconds=60), heartbeat_timeout=timedelta(seconds=5), retry_policy=RETRY)
        await self._step()  # fulfilment complete
        await self._step()  # ship
        await self._step()  # mirror
        await self._step()  # notify
        await self._step()  # mirror: customer emailed
        await self._step()  # mirror: fulfilled
        return self._n + 1

    @workflow.signal(name="approve")
    async def approve(self, decision: Decision) -> None:
        self._decision = decision
        self._n += 1
        # The real handler records the decision with an activity.
        await workflow.execute_activity("noop", Entry(0, "decision"), start_to_close_timeout=STEP, retry_policy=RETRY)

    @workflow.signal(name="progress")
    def progress(self, progress: Progress) -> None:
        self._progress = progress.percent

    @workflow.query(name="snapshot")
    def snapshot(self) -> int:
        return self._progress


# Activities per order, counted as in OrderWorkflow (see the module docstring).
ACTIVITIES_AUTO = 15
ACTIVITIES_MANAGER = 17


async def drive(client, *, task_queue: str, count: int, requires_approval: bool, steps: int, step_seconds: float,
                prefix: str, timeout: float) -> tuple[float, int]:
    """Start `count` workflows one after another (approving each if needed); (seconds until all done, failures)."""
    t0 = time.monotonic()
    handles = []
    for i in range(count):
        handles.append(await client.start_workflow(
            BaselineOrderWorkflow.run, BaselineInput(i, requires_approval, steps, step_seconds), id=f"{prefix}-{i}", task_queue=task_queue,
        ))
    if requires_approval:
        for i, handle in enumerate(handles):
            await handle.signal(BaselineOrderWorkflow.approve, Decision("manager", f"{prefix}-r{i}"))
    results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles), return_exceptions=True), timeout)
    failures = sum(1 for r in results if isinstance(r, BaseException))
    return time.monotonic() - t0, failures


async def run_worker(address: str, task_queue: str, concurrency: int) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    client = await Client.connect(address)
    executor = ThreadPoolExecutor(max_workers=concurrency)
    worker = Worker(
        client, task_queue=task_queue, workflows=[BaselineOrderWorkflow], activities=[noop, fulfil], activity_executor=executor,
        max_concurrent_activities=concurrency, max_concurrent_workflow_tasks=20, graceful_shutdown_timeout=timedelta(seconds=2),
    )
    # The same stop handling as temporal_bridge.worker.run_until_stopped, kept
    # here because the baseline must not import Django (that module does).
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        print("baseline worker polling", flush=True)
        await stop.wait()
    executor.shutdown(wait=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(run_worker(args.address, args.task_queue, args.concurrency))


if __name__ == "__main__":
    main()

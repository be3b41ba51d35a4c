"""A worker like `manage.py runworker`, with the knobs the bench tunes exposed.

python -m tools.bench.tuning_worker --address A --task-queue Q [--concurrency N]
    [--max-cached-workflows N] [--sandbox as-runworker|reimport|all]
Everything not named here is as temporal_bridge.runtime.worker.build_worker sets it.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from temporal_bridge.runtime.sandbox import workflow_runner


async def run(args) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker

    from temporal_bridge.client.connection import connect_kwargs
    from temporal_bridge.runtime.worker import ACTIVITIES, WORKFLOWS, run_until_stopped

    # As runworker connects: the web app's payloads are encrypted with the desk's keys.
    client = await Client.connect(args.address, **connect_kwargs())
    executor = ThreadPoolExecutor(max_workers=args.concurrency, thread_name_prefix="activity")
    options = {"workflow_runner": runner(args.sandbox)}
    if args.max_cached_workflows is not None:
        options["max_cached_workflows"] = args.max_cached_workflows
    worker = Worker(
        client, task_queue=args.task_queue, workflows=WORKFLOWS, activities=ACTIVITIES,
        activity_executor=executor, max_concurrent_activities=args.concurrency, max_concurrent_local_activities=args.concurrency,
        max_concurrent_workflow_tasks=args.workflow_concurrency, graceful_shutdown_timeout=timedelta(seconds=5), **options,
    )
    print("tuning worker polling", flush=True)
    await run_until_stopped(worker, executor)


def runner(which: str) -> SandboxedWorkflowRunner:
    """The workflow sandbox: runworker's ("as-runworker": the message modules passed through,
    temporal_bridge/runtime/sandbox.py), the SDK's default ("reimport": every module the workflows import is
    loaded again for each new workflow, as before that change), or all of temporal_bridge passed through
    ("all": the workflows' own module state is no longer isolated per instance)."""
    if which == "reimport":
        return SandboxedWorkflowRunner()
    if which == "all":
        return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("temporal_bridge"))
    return workflow_runner()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--workflow-concurrency", type=int, default=20)
    parser.add_argument("--max-cached-workflows", type=int, default=None)
    parser.add_argument("--sandbox", choices=("as-runworker", "reimport", "all"), default="as-runworker",
                        help="what the workflow sandbox takes from the worker instead of loading it again per workflow")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    asyncio.run(run(args))
    sys.stdout.flush()
    os._exit(0)  # as runworker: skip finalization, the SDK's runtime threads may still call in


if __name__ == "__main__":
    main()

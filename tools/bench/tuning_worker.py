"""A worker like `manage.py runworker`, with the knobs the bench tunes exposed.

python -m tools.bench.tuning_worker --address A --task-queue Q [--concurrency N]
    [--max-cached-workflows N] [--passthrough messages|all]
Everything not named here is as temporal_bridge.runtime.worker.build_worker sets it.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta


async def run(args) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

    from temporal_bridge.client.connection import connect_kwargs
    from temporal_bridge.runtime.worker import ACTIVITIES, WORKFLOWS, run_until_stopped

    # As runworker connects: the web app's payloads are encrypted with the desk's keys.
    client = await Client.connect(args.address, **connect_kwargs())
    executor = ThreadPoolExecutor(max_workers=args.concurrency, thread_name_prefix="activity")
    options = {}
    if args.passthrough:
        options["workflow_runner"] = SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*passthrough_modules(args.passthrough)))
    if args.max_cached_workflows is not None:
        options["max_cached_workflows"] = args.max_cached_workflows
    worker = Worker(
        client, task_queue=args.task_queue, workflows=WORKFLOWS, activities=ACTIVITIES,
        activity_executor=executor, max_concurrent_activities=args.concurrency, max_concurrent_local_activities=args.concurrency,
        max_concurrent_workflow_tasks=args.workflow_concurrency, graceful_shutdown_timeout=timedelta(seconds=5), **options,
    )
    print("tuning worker polling", flush=True)
    await run_until_stopped(worker, executor)


# The workflows' own packages: the sandbox loads these afresh for every new workflow instance, by design.
WORKFLOW_PACKAGES = ("temporal_bridge.order.workflow", "temporal_bridge.shipment.workflow", "temporal_bridge.approvals.workflows")


def passthrough_modules(which: str) -> list[str]:
    """The modules the sandbox should take from the worker instead of loading them per workflow instance.

    "messages": every Django-free temporal_bridge module the workflows import (messages, states, records...),
    each by its full name (a configured name also passes through what `from package import module` loads,
    which `imports_passed_through()` does not once the sandbox holds its own copy of the package), but not the
    workflows' own packages nor their parents (a configured parent would pass those through too).
    "all": the whole temporal_bridge package, the workflows too: the sandbox no longer isolates their module state.
    """
    if which == "all":
        return ["temporal_bridge"]
    parents = {name.rsplit(".", i)[0] for name in WORKFLOW_PACKAGES for i in range(1, name.count(".") + 1)}
    return sorted(name for name in sys.modules
                  if name.startswith("temporal_bridge.") and name not in parents
                  and not any(name == pkg or name.startswith(pkg + ".") for pkg in WORKFLOW_PACKAGES))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--workflow-concurrency", type=int, default=20)
    parser.add_argument("--max-cached-workflows", type=int, default=None)
    parser.add_argument("--passthrough", choices=("messages", "all"), default=None,
                        help="modules the workflow sandbox takes from the worker instead of re-importing per workflow")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    asyncio.run(run(args))
    sys.stdout.flush()
    os._exit(0)  # as runworker: skip finalization, the SDK's runtime threads may still call in


if __name__ == "__main__":
    main()

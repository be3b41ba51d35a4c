"""manage.py check_replay: replay recent workflow histories against this code.

Run it before deploying a new version of the workflows: it fetches the
histories of recent (and running) workflows from the server and replays each
against the code on disk. A non-determinism error means the new code would
break workflows already in flight; put the change behind workflow.patched().

The histories of erased customers' orders are left out by design: their
payloads decode to a tombstone (orders/privacy/), so they can no longer be
replayed, and none of them runs (a customer with a running order cannot be
erased), so no code change can break them. So are histories under a customer
key this database does not hold (another desk's workflows in the namespace,
or a database restored from before they started): they cannot be read here,
which is no non-determinism; they are counted apart.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.management.base import BaseCommand
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from orders.privacy.selectors import customer_keys_held, erased_workflow_ids
from temporal_bridge.client.connection import connect_kwargs
from temporal_bridge.client.subject_keys import SUBJECT_KEY_ID
from temporal_bridge.runtime.sandbox import workflow_runner
from temporal_bridge.runtime.worker import WORKFLOWS


class Command(BaseCommand):
    help = "Replay recent workflow histories from the server against the current workflow code."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=200, help="How many recent workflows to replay (default: %(default)s).")
        parser.add_argument(
            "--query", default="", help="A visibility query to pick workflows (default: all workflow types this worker runs).",
        )
        parser.add_argument("--address", default=settings.TEMPORAL_ADDRESS)
        parser.add_argument("--namespace", default=settings.TEMPORAL_NAMESPACE)

    def handle(self, *args, **options):
        if options["limit"] < 1:
            self.stderr.write("--limit must be at least 1")
            raise SystemExit(2)
        replayed, failures, erased, unreadable = asyncio.run(self._replay(options))
        for workflow_id, error in failures:
            self.stderr.write(f"  NON-DETERMINISTIC {workflow_id}: {error}")
        self.stdout.write(f"Replayed {replayed} histories: {replayed - len(failures)} ok, {len(failures)} failed.")
        if erased:
            self.stdout.write(f"Left out {erased} histories of erased customers (their data is shredded; none of them runs).")
        if unreadable:
            self.stderr.write(f"Could not read {len(unreadable)} histories: their customer key is not in this database "
                              f"(another desk's workflows, or a database older than them): {', '.join(unreadable[:10])}")
        if failures:
            raise SystemExit(1)

    async def _replay(self, options) -> tuple[int, list[tuple[str, str]], int, list[str]]:
        client = await Client.connect(options["address"], **connect_kwargs(namespace=options["namespace"]))
        names = [getattr(w, "__temporal_workflow_definition").name for w in WORKFLOWS]
        types = " OR ".join(f"WorkflowType = '{name}'" for name in names)
        query = options["query"] or f"({types})"
        executions = [execution async for execution in client.list_workflows(query, limit=options["limit"])]
        erased = await sync_to_async(erased_workflow_ids)([execution.id for execution in executions])
        unreadable: list[str] = []

        async def histories() -> AsyncIterator[WorkflowHistory]:
            for execution in executions:
                if execution.id in erased:
                    continue
                history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
                named = _customer_key_ids(history)
                if named - await sync_to_async(customer_keys_held)(named):
                    unreadable.append(execution.id)
                    continue
                yield history

        # The client's converter: encrypted histories decode with the desk's keys, older plain ones pass through.
        replayer = Replayer(workflows=WORKFLOWS, data_converter=client.data_converter, workflow_runner=workflow_runner())
        replayed, failures = 0, []
        async with replayer.workflow_replay_iterator(histories()) as results:
            async for result in results:
                replayed += 1
                if result.replay_failure is not None:
                    failures.append((result.history.workflow_id, str(result.replay_failure)))
        return replayed, failures, sum(1 for execution in executions if execution.id in erased), unreadable


def _customer_key_ids(history: WorkflowHistory) -> set[str]:
    """The customer keys the run's input is under: an order's runs put all their payloads under that one key."""
    if not history.events:
        return set()
    started = history.events[0].workflow_execution_started_event_attributes
    return {p.metadata[SUBJECT_KEY_ID].decode("utf-8", "replace") for p in started.input.payloads if SUBJECT_KEY_ID in p.metadata}

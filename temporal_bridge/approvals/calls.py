"""The calls the approvals app makes to Temporal, through the
process's one client (temporal_bridge.client.bridge): start a bulk decision and
follow its progress, and keep the daily-digest schedule in place.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError

from temporal_bridge.approvals import messages as approval
from temporal_bridge.approvals.messages import BulkDecisionInput, BulkDecisionProgress, DigestInput
from temporal_bridge.client.bridge import TemporalUnavailable, bridge, mapped_errors, start_once


def start_bulk_decision(inp: BulkDecisionInput) -> bool:
    """Start the batch's workflow; False when a batch with this id exists (a repeated submit)."""
    return start_once(approval.BULK_WORKFLOW_NAME, inp, workflow_id=approval.bulk_workflow_id(inp.batch_id))


def bulk_decision_progress(batch_id: str, *, timeout: float | None = None) -> BulkDecisionProgress:
    """Where a batch stands: its result once finished (no worker needed), else its live query."""
    timeout = timeout if timeout is not None else settings.TEMPORAL_QUERY_TIMEOUT

    async def progress(client: Client) -> BulkDecisionProgress:
        handle = client.get_workflow_handle(approval.bulk_workflow_id(batch_id), result_type=BulkDecisionProgress)
        description = await handle.describe(rpc_timeout=timedelta(seconds=timeout))
        if description.status and description.status.name == "COMPLETED":
            return await handle.result(rpc_timeout=timedelta(seconds=timeout))
        try:
            return await handle.query(approval.QUERY_BULK_PROGRESS, result_type=BulkDecisionProgress,
                                      rpc_timeout=timedelta(seconds=timeout))
        except WorkflowQueryFailedError as err:
            raise TemporalUnavailable(f"The batch could not answer: {err}") from err
        except RPCError:
            raise  # mapped_errors names it
        except Exception as err:  # noqa: BLE001 - an answer we cannot read: the page retries, it does not fail
            raise TemporalUnavailable(f"the batch's answer could not be read ({type(err).__name__}: {str(err)[:200]})") from err

    return bridge.call(mapped_errors(progress), timeout=timeout * 2)


def ensure_digest_schedule(*, cron: str, time_zone: str, task_queue: str | None = None) -> str:
    """Create the daily-digest schedule, or bring an existing one up to date. Returns "created" or "updated"."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            approval.DIGEST_WORKFLOW_NAME, DigestInput(), id=approval.DIGEST_SCHEDULE_ID,
            task_queue=task_queue or settings.TEMPORAL_TASK_QUEUE, execution_timeout=timedelta(hours=6),
        ),
        spec=ScheduleSpec(cron_expressions=[cron], time_zone_name=time_zone),
        # One digest a day: a digest still running when the next is due is
        # not doubled, and a server down at digest time catches up the same day.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=6)),
    )

    async def ensure(client: Client) -> str:
        try:
            await client.create_schedule(approval.DIGEST_SCHEDULE_ID, schedule)
            return "created"
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(approval.DIGEST_SCHEDULE_ID).update(lambda _: ScheduleUpdate(schedule=schedule))
            return "updated"

    return bridge.call(ensure)

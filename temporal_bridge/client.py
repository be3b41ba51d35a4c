"""The calls Django makes to Temporal, through the process's one client
(temporal_bridge.bridge): starting, signalling and querying order workflows,
the verdict on a request, task-queue pollers, bulk decisions and schedules.

The names of temporal_bridge.bridge and temporal_bridge.workflow_status are
re-exported here, so callers (and the test doubles that replace these
functions) deal with one module.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from temporalio.api.enums.v1 import TaskQueueType, WorkerStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, ListWorkersRequest
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.common import QueryRejectCondition, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from temporal_bridge import messages as m
from temporal_bridge.bridge import TemporalUnavailable, WorkflowNotFound, bridge, mapped_errors  # noqa: F401
from temporal_bridge.workflow_status import (  # noqa: F401
    STOP_STATUSES,
    PendingActivity,
    StopCause,
    WorkflowClosed,
    WorkflowStatus,
    WorkflowTask,
    describe_order,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


# --- The calls the application makes --------------------------------------------------


def start_order_workflow(inp: m.OrderWorkflowInput) -> bool:
    """Start the order's workflow; False when it already exists (nothing to do)."""

    async def start(client: Client) -> bool:
        try:
            await client.start_workflow(
                m.WORKFLOW_NAME,
                inp,
                id=m.workflow_id_for(inp.order_id),
                task_queue=settings.TEMPORAL_TASK_QUEUE,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
        except WorkflowAlreadyStartedError:
            return False
        return True

    return bridge.call(mapped_errors(start))


def signal_order(order_id: int, signal: str, payload: Any) -> None:
    async def send(client: Client) -> None:
        await client.get_workflow_handle(m.workflow_id_for(order_id)).signal(signal, payload, rpc_timeout=timedelta(seconds=5))

    bridge.call(mapped_errors(send))


def query_order(order_id: int, *, timeout: float | None = None, open_only: bool = False) -> m.OrderSnapshot:
    """The workflow's live snapshot.

    Raises WorkflowNotFound when the workflow does not exist and
    TemporalUnavailable, with a message for the page, for every other way the
    query can fail: no worker answering, a workflow task that keeps failing,
    a rejected or failed query, an RPC error, an answer that does not decode.
    Pages call this, and a page must never answer 500 because a workflow
    cannot answer.

    `open_only`: a closed workflow (terminated, timed out, completed...) is
    not asked at all: the server refuses at once with its close status
    (WorkflowClosed) instead of a worker replaying the history to answer with
    the state it was in when it closed, which would look live.
    """
    timeout = timeout if timeout is not None else settings.TEMPORAL_QUERY_TIMEOUT

    async def query(client: Client) -> m.OrderSnapshot:
        handle = client.get_workflow_handle(m.workflow_id_for(order_id))
        try:
            return await handle.query(
                m.QUERY_SNAPSHOT, result_type=m.OrderSnapshot, rpc_timeout=timedelta(seconds=timeout),
                reject_condition=QueryRejectCondition.NOT_OPEN if open_only else None,
            )
        except WorkflowQueryRejectedError as err:
            status = err.status.name if err.status is not None else "UNKNOWN"
            raise WorkflowClosed(status, f"the workflow is no longer running ({status.lower()})") from err
        except WorkflowQueryFailedError as err:
            raise TemporalUnavailable(f"The workflow could not answer: {err}") from err
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise WorkflowNotFound(err.message) from err
            if err.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
                # What a query waiting on a worker that never answers ends with.
                raise TemporalUnavailable(f"no answer from the workflow within {timeout:g}s") from err
            raise TemporalUnavailable(f"Temporal refused the query ({err.status.name if err.status else 'error'}: {err.message})") from err
        except Exception as err:  # noqa: BLE001 - an answer we cannot read: the page falls back, it does not fail
            raise TemporalUnavailable(f"the workflow's answer could not be read ({type(err).__name__}: {str(err)[:200]})") from err

    return bridge.call(query, timeout=timeout)


@dataclass
class PollerInfo:
    """A poller as the task-queue description lists it.

    The server lists a poller for minutes after its last poll, and an idle
    worker's long poll refreshes `last_access` only about once a minute, so a
    poller's presence alone cannot tell a stopped worker within seconds.
    """

    identity: str
    queue_type: str  # "workflow" or "activity"
    last_access: datetime | None
    rate_per_second: float = 0.0


@dataclass
class BacklogStats:
    queue_type: str
    approximate_count: int
    approximate_age_seconds: float
    add_rate: float
    dispatch_rate: float


@dataclass
class WorkerHeartbeat:
    """A worker's own report to the server (worker heartbeats, ListWorkers)."""

    identity: str
    status: str  # running, shutting_down, shutdown
    heartbeat_age_seconds: float
    interval_seconds: float
    host: str = ""
    started_at: datetime | None = None

    def alive(self, *, min_interval: float) -> bool:
        # Silent for three heartbeats: gone (killed, or its host lost).
        return self.status == "running" and self.heartbeat_age_seconds <= 3 * max(self.interval_seconds, min_interval)


# A poller seen within this long may still be alive: idle long polls last about a minute.
POLLER_FRESH_SECONDS = 75.0


@dataclass
class PollerStatus:
    workflow_pollers: int
    activity_pollers: int
    identities: list[str]
    pollers: list[PollerInfo] = field(default_factory=list)
    # None: the server does not report it (older servers).
    backlog: list[BacklogStats] | None = None
    heartbeats: list[WorkerHeartbeat] | None = None

    def workers_running(self, *, min_heartbeat_interval: float = 5.0, now: datetime | None = None) -> bool:
        """Whether a worker is processing this task queue now.

        Worker heartbeats when the server has them: a worker that stopped says
        so at once, one that died goes quiet within three intervals. Without
        them, a fresh workflow poller and a fresh activity poller.
        """
        if self.heartbeats:
            return any(h.alive(min_interval=min_heartbeat_interval) for h in self.heartbeats)
        if self.pollers:
            now = now or datetime.now(UTC)
            fresh = {p.queue_type for p in self.pollers if p.last_access and (now - p.last_access).total_seconds() <= POLLER_FRESH_SECONDS}
            return fresh >= {"workflow", "activity"}
        return self.workflow_pollers > 0 and self.activity_pollers > 0


_QUEUE_TYPES = {TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW: "workflow", TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY: "activity"}
_WORKER_STATUS = {WorkerStatus.WORKER_STATUS_RUNNING: "running", WorkerStatus.WORKER_STATUS_SHUTTING_DOWN: "shutting_down",
                  WorkerStatus.WORKER_STATUS_SHUTDOWN: "shutdown"}


def task_queue_pollers(task_queue: str | None = None, *, timeout: float = 2.0) -> PollerStatus:
    """Who is polling the task queue, its backlog, and the workers' own heartbeats."""
    task_queue = task_queue or settings.TEMPORAL_TASK_QUEUE

    async def describe(client: Client) -> PollerStatus:
        counts, identities, pollers, backlog = [], set(), [], []
        for queue_type, name in _QUEUE_TYPES.items():
            response = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=queue_type, report_stats=True,
                ),
                timeout=timedelta(seconds=timeout),
            )
            counts.append(len(response.pollers))
            identities.update(p.identity for p in response.pollers)
            pollers += [
                PollerInfo(p.identity, name, p.last_access_time.ToDatetime(tzinfo=UTC) if p.HasField("last_access_time") else None,
                           p.rate_per_second)
                for p in response.pollers
            ]
            if response.HasField("stats") and backlog is not None:
                stats = response.stats
                backlog.append(BacklogStats(
                    name, stats.approximate_backlog_count, stats.approximate_backlog_age.ToTimedelta().total_seconds(),
                    stats.tasks_add_rate, stats.tasks_dispatch_rate,
                ))
            else:
                backlog = None
        return PollerStatus(counts[0], counts[1], sorted(identities), pollers, backlog, await _heartbeats(client, task_queue, timeout))

    return bridge.call(mapped_errors(describe), timeout=timeout)


async def _heartbeats(client: Client, task_queue: str, timeout: float) -> list[WorkerHeartbeat] | None:
    try:
        response = await client.workflow_service.list_workers(
            ListWorkersRequest(namespace=client.namespace, page_size=200, query=f"TaskQueue='{task_queue}'"),
            timeout=timedelta(seconds=timeout),
        )
    except RPCError as err:
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise
        return None  # not supported or not allowed here: judge by the pollers
    now = datetime.now(UTC)
    beats = []
    for info in response.workers_info:
        beat = info.worker_heartbeat
        beats.append(WorkerHeartbeat(
            identity=beat.worker_identity,
            status=_WORKER_STATUS.get(beat.status, "unknown"),
            heartbeat_age_seconds=(now - beat.heartbeat_time.ToDatetime(tzinfo=UTC)).total_seconds(),
            interval_seconds=beat.elapsed_since_last_heartbeat.ToTimedelta().total_seconds(),
            host=beat.host_info.host_name,
            started_at=beat.start_time.ToDatetime(tzinfo=UTC) if beat.HasField("start_time") else None,
        ))
    return beats


def workflow_ui_url(workflow_id: str) -> str:
    return f"{settings.TEMPORAL_UI_URL.rstrip('/')}/namespaces/{settings.TEMPORAL_NAMESPACE}/workflows/{workflow_id}"


# --- Approvals: bulk decisions and the digest schedule (issue 3) ---------------------------


def start_bulk_decision(inp: m.BulkDecisionInput) -> bool:
    """Start the batch's workflow; False when a batch with this id exists (a repeated submit)."""

    async def start(client: Client) -> bool:
        try:
            await client.start_workflow(
                m.BULK_WORKFLOW_NAME, inp, id=m.bulk_workflow_id(inp.batch_id), task_queue=settings.TEMPORAL_TASK_QUEUE,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
        except WorkflowAlreadyStartedError:
            return False
        return True

    return bridge.call(mapped_errors(start))


def bulk_decision_progress(batch_id: str, *, timeout: float | None = None) -> m.BulkDecisionProgress:
    """Where a batch stands: its result once finished (no worker needed), else its live query."""
    timeout = timeout if timeout is not None else settings.TEMPORAL_QUERY_TIMEOUT

    async def progress(client: Client) -> m.BulkDecisionProgress:
        handle = client.get_workflow_handle(m.bulk_workflow_id(batch_id), result_type=m.BulkDecisionProgress)
        description = await handle.describe(rpc_timeout=timedelta(seconds=timeout))
        if description.status and description.status.name == "COMPLETED":
            return await handle.result(rpc_timeout=timedelta(seconds=timeout))
        try:
            return await handle.query(m.QUERY_BULK_PROGRESS, result_type=m.BulkDecisionProgress, rpc_timeout=timedelta(seconds=timeout))
        except WorkflowQueryFailedError as err:
            raise TemporalUnavailable(f"The batch could not answer: {err}") from err
        except RPCError:
            raise  # mapped_errors names it
        except Exception as err:  # noqa: BLE001 - an answer we cannot read: the page retries, it does not fail
            raise TemporalUnavailable(f"the batch's answer could not be read ({type(err).__name__}: {str(err)[:200]})") from err

    return bridge.call(mapped_errors(progress), timeout=timeout * 2)


def ensure_digest_schedule(*, cron: str, time_zone: str, task_queue: str | None = None) -> str:
    """Create the daily-digest schedule, or bring an existing one up to date. Returns "created" or "updated"."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleOverlapPolicy,
        SchedulePolicy,
        ScheduleSpec,
        ScheduleUpdate,
    )

    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            m.DIGEST_WORKFLOW_NAME, m.DigestInput(), id=m.DIGEST_SCHEDULE_ID, task_queue=task_queue or settings.TEMPORAL_TASK_QUEUE,
            execution_timeout=timedelta(hours=6),
        ),
        spec=ScheduleSpec(cron_expressions=[cron], time_zone_name=time_zone),
        # One digest a day: a digest still running when the next is due is
        # not doubled, and a server down at digest time catches up the same day.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=6)),
    )

    async def ensure(client: Client) -> str:
        try:
            await client.create_schedule(m.DIGEST_SCHEDULE_ID, schedule)
            return "created"
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(m.DIGEST_SCHEDULE_ID).update(lambda _: ScheduleUpdate(schedule=schedule))
            return "updated"

    return bridge.call(ensure)


def request_verdict(order_id: int, request_id: str, *, wait: float) -> m.RequestVerdict:
    """The workflow's verdict on a request just sent, waiting up to `wait` seconds
    for it to become final (accepted or refused).

    Never raises: a workflow that cannot answer (no worker polling, a run from
    before verdicts existed, Temporal unreachable) gives an `unknown` verdict,
    which the page shows as queued.
    """
    unknown = m.RequestVerdict(request_id, m.VERDICT_UNKNOWN)

    async def ask(client: Client) -> m.RequestVerdict:
        handle = client.get_workflow_handle(m.workflow_id_for(order_id))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        verdict = unknown
        while True:
            remaining = deadline - loop.time()
            try:
                verdict = await handle.query(
                    m.QUERY_VERDICT, request_id, result_type=m.RequestVerdict,
                    rpc_timeout=timedelta(seconds=max(0.2, remaining)),
                )
            except (WorkflowQueryFailedError, RPCError):
                return verdict
            if verdict.status in (m.VERDICT_ACCEPTED, m.VERDICT_REFUSED) or loop.time() >= deadline:
                return verdict
            await asyncio.sleep(0.05)

    try:
        return bridge.call(ask, timeout=wait + 1)
    except (TemporalUnavailable, WorkflowNotFound, RPCError):
        return unknown

"""The one Temporal client of a process, and the calls Django makes through it.

The SDK client is bound to the event loop that created it and is not
thread-safe (sdk-python#147), while Django's views, admin and commands are
synchronous and run on many threads. So each process owns one client on one
background event-loop thread; callers hand it coroutines and wait on the
result. Nothing connects per request. After a fork (e.g. a preloading app
server) the child builds its own loop and client.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from django.conf import settings
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import HistoryEventFilterType, PendingWorkflowTaskState, TaskQueueType, WorkerStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest, GetWorkflowExecutionHistoryRequest, GetWorkflowExecutionHistoryReverseRequest, ListWorkersRequest,
)
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.common import QueryRejectCondition, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from temporal_bridge import messages as m
from temporal_bridge.connection import connect_kwargs

log = logging.getLogger(__name__)
T = TypeVar("T")


class TemporalUnavailable(Exception):
    """Temporal did not answer (server down, no worker for a query, timeout)."""


class WorkflowNotFound(Exception):
    """The order has no running workflow (never started, or already finished)."""


class _LoopThread:
    """An asyncio loop on a daemon thread, holding the process's client."""

    def __init__(self, address: str, namespace: str) -> None:
        self.address, self.namespace = address, namespace
        self.loop = asyncio.new_event_loop()
        self._client: Client | None = None
        self._connect_lock: asyncio.Lock | None = None
        self.thread = threading.Thread(target=self.loop.run_forever, name="temporal-bridge", daemon=True)
        self.thread.start()

    async def client(self) -> Client:
        if self._client is None:
            if self._connect_lock is None:
                self._connect_lock = asyncio.Lock()
            async with self._connect_lock:
                if self._client is None:
                    self._client = await Client.connect(self.address, **connect_kwargs(namespace=self.namespace))
        return self._client


class TemporalBridge:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop_thread: _LoopThread | None = None
        self._pid: int | None = None

    def _ensure_loop(self) -> _LoopThread:
        with self._lock:
            if self._loop_thread is None or self._pid != os.getpid():
                self._loop_thread = _LoopThread(settings.TEMPORAL_ADDRESS, settings.TEMPORAL_NAMESPACE)
                self._pid = os.getpid()
            return self._loop_thread

    def call(self, operation: Callable[[Client], Awaitable[T]], *, timeout: float = 10.0) -> T:
        """Run `operation(client)` on the bridge's loop and wait for its result."""
        loop_thread = self._ensure_loop()

        async def run() -> T:
            client = await asyncio.wait_for(loop_thread.client(), timeout)
            return await operation(client)

        future = asyncio.run_coroutine_threadsafe(run(), loop_thread.loop)
        try:
            return future.result(timeout + 1)
        except (TimeoutError, asyncio.TimeoutError) as err:
            future.cancel()
            raise TemporalUnavailable(f"Temporal did not answer within {timeout:g}s") from err
        except RuntimeError as err:  # connection refused surfaces as RuntimeError from the core SDK
            raise TemporalUnavailable(f"Cannot reach Temporal at {loop_thread.address}: {err}") from err
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise WorkflowNotFound(err.message) from err
            if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise TemporalUnavailable(err.message) from err
            raise

    def reset(self) -> None:
        """Drop the client and its loop; the next call connects anew from settings.

        For tests and tools that point the process at another server.
        """
        with self._lock:
            old, self._loop_thread = self._loop_thread, None
        if old is not None:
            old.loop.call_soon_threadsafe(old.loop.stop)

    async def acall(self, operation: Callable[[Client], Awaitable[T]], *, timeout: float = 10.0) -> T:
        """The same, for async callers: the work still runs on the bridge's loop."""
        return await asyncio.to_thread(self.call, operation, timeout=timeout)


bridge = TemporalBridge()


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

    return bridge.call(_mapped(start))


def signal_order(order_id: int, signal: str, payload: Any) -> None:
    async def send(client: Client) -> None:
        await client.get_workflow_handle(m.workflow_id_for(order_id)).signal(signal, payload, rpc_timeout=timedelta(seconds=5))

    bridge.call(_mapped(send))


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


# Close statuses that are not the workflow's own business ending: somebody
# (or a timeout, or a bug) closed it from outside. CONTINUED_AS_NEW is not
# one: the next run goes on under the same workflow id.
STOP_STATUSES = frozenset({"TERMINATED", "TIMED_OUT", "FAILED", "CANCELED"})


class WorkflowClosed(TemporalUnavailable):
    """The workflow is closed, so there is no live state to ask for (see `status`)."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class PendingActivity:
    name: str
    attempt: int
    last_failure: str


@dataclass
class StopCause:
    """Why a workflow was closed from outside, as Temporal recorded it."""

    status: str  # one of STOP_STATUSES
    run_id: str
    identity: str = ""  # who terminated or cancelled it (the client's identity)
    reason: str = ""  # the terminate reason, the failure's message

    @property
    def summary(self) -> str:
        """One line for people: "terminated by ops@host: customer called"."""
        if self.status == "TERMINATED":
            text = "terminated" + (f" by {self.identity}" if self.identity else "")
        elif self.status == "CANCELED":
            text = "cancelled as a workflow execution" + (f" by {self.identity}" if self.identity else "")
        elif self.status == "TIMED_OUT":
            text = "timed out (its run or execution timeout passed)"
        else:
            text = "failed"
        return f"{text}: {self.reason}" if self.reason else text


@dataclass
class WorkflowTask:
    """The workflow task the server waits on, when there is one (describe's pending_workflow_task)."""

    attempt: int
    started: bool  # a worker picked it up (and has not answered yet)
    waiting_seconds: float  # since it was first scheduled
    last_failure: str = ""  # the last WorkflowTaskFailed's message, when it keeps failing

    @property
    def failing(self) -> bool:
        return self.attempt > 1


@dataclass
class WorkflowStatus:
    """What the desk needs to know about one order's workflow (its latest run)."""

    running: bool
    status: str
    pending_activities: list[PendingActivity]
    result: m.OrderSnapshot | None  # the final snapshot, once completed
    run_id: str = ""
    stop: StopCause | None = None  # set when closed with one of STOP_STATUSES
    workflow_task: WorkflowTask | None = None
    task_queue: str = ""


def describe_order(order_id: int, *, timeout: float = 5.0) -> WorkflowStatus:
    """Describe the order's workflow from the server (no worker needed).

    Without a run id, so the latest run is described: after a reset or a
    continue-as-new that is the run that goes on, not the one that ended.
    A closed run's cause (who terminated it and why, the failure) is read
    from its close event; a failing workflow task's message from the last
    WorkflowTaskFailed event. Both read one short page of history.
    """

    async def describe(client: Client) -> WorkflowStatus:
        handle = client.get_workflow_handle(m.workflow_id_for(order_id), result_type=m.OrderSnapshot)
        rpc_timeout = timedelta(seconds=timeout)
        description = await handle.describe(rpc_timeout=rpc_timeout)
        raw = description.raw_description
        status = description.status.name if description.status else "UNKNOWN"
        pending = [
            PendingActivity(p.activity_type.name, p.attempt, p.last_failure.message)
            for p in raw.pending_activities
        ]
        info = WorkflowStatus(
            running=status == "RUNNING", status=status, pending_activities=pending, result=None,
            run_id=description.run_id, task_queue=description.task_queue,
        )
        if status == "COMPLETED":
            info.result = await handle.result(rpc_timeout=rpc_timeout)
        elif status in STOP_STATUSES:
            info.stop = await _stop_cause(client, handle.id, description.run_id, status, rpc_timeout)
        if status == "RUNNING" and raw.HasField("pending_workflow_task"):
            task = raw.pending_workflow_task
            first = task.original_scheduled_time if task.HasField("original_scheduled_time") else task.scheduled_time
            info.workflow_task = WorkflowTask(
                attempt=task.attempt,
                started=task.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED,
                waiting_seconds=max(0.0, (datetime.now(timezone.utc) - first.ToDatetime(tzinfo=timezone.utc)).total_seconds()),
            )
            if info.workflow_task.failing:
                info.workflow_task.last_failure = await _last_task_failure(client, handle.id, description.run_id, rpc_timeout)
        return info

    return bridge.call(_mapped(describe), timeout=timeout * 3)


def _mapped(operation: Callable[[Client], Awaitable[T]]) -> Callable[[Client], Awaitable[T]]:
    """Any RPC error but a missing workflow becomes TemporalUnavailable: callers show it, they do not fail on it."""

    async def run(client: Client) -> T:
        try:
            return await operation(client)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise WorkflowNotFound(err.message) from err
            raise TemporalUnavailable(f"Temporal refused ({err.status.name if err.status else 'error'}: {err.message})") from err

    return run


async def _stop_cause(client: Client, workflow_id: str, run_id: str, status: str, rpc_timeout: timedelta) -> StopCause:
    cause = StopCause(status=status, run_id=run_id)
    response = await client.workflow_service.get_workflow_execution_history(
        GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            history_event_filter_type=HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
        ),
        timeout=rpc_timeout,
    )
    for event in response.history.events:
        if event.HasField("workflow_execution_terminated_event_attributes"):
            attributes = event.workflow_execution_terminated_event_attributes
            cause.identity, cause.reason = attributes.identity, attributes.reason
        elif event.HasField("workflow_execution_failed_event_attributes"):
            cause.reason = event.workflow_execution_failed_event_attributes.failure.message
    if status == "CANCELED":
        # The cancel request, not the close event, names who asked: a few events before the end.
        for event in await _last_events(client, workflow_id, run_id, rpc_timeout):
            if event.HasField("workflow_execution_cancel_requested_event_attributes"):
                attributes = event.workflow_execution_cancel_requested_event_attributes
                cause.identity, cause.reason = attributes.identity, attributes.cause
                break
    cause.identity, cause.reason = cause.identity[:100], cause.reason[:200]
    return cause


async def _last_task_failure(client: Client, workflow_id: str, run_id: str, rpc_timeout: timedelta) -> str:
    # A failing task is retried without new history events, so the last
    # WorkflowTaskFailed is near the end: one page read backwards finds it.
    for event in await _last_events(client, workflow_id, run_id, rpc_timeout):
        if event.HasField("workflow_task_failed_event_attributes"):
            return event.workflow_task_failed_event_attributes.failure.message[:300]
    return ""


async def _last_events(client: Client, workflow_id: str, run_id: str, rpc_timeout: timedelta) -> list:
    """The run's last 50 history events, newest first."""
    response = await client.workflow_service.get_workflow_execution_history_reverse(
        GetWorkflowExecutionHistoryReverseRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id), maximum_page_size=50,
        ),
        timeout=rpc_timeout,
    )
    return list(response.history.events)


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
            now = now or datetime.now(timezone.utc)
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
                PollerInfo(p.identity, name, p.last_access_time.ToDatetime(tzinfo=timezone.utc) if p.HasField("last_access_time") else None,
                           p.rate_per_second)
                for p in response.pollers
            ]
            if response.HasField("stats") and backlog is not None:
                stats = response.stats
                backlog.append(BacklogStats(name, stats.approximate_backlog_count, stats.approximate_backlog_age.ToTimedelta().total_seconds(),
                                            stats.tasks_add_rate, stats.tasks_dispatch_rate))
            else:
                backlog = None
        return PollerStatus(counts[0], counts[1], sorted(identities), pollers, backlog, await _heartbeats(client, task_queue, timeout))

    return bridge.call(_mapped(describe), timeout=timeout)


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
    now = datetime.now(timezone.utc)
    beats = []
    for info in response.workers_info:
        beat = info.worker_heartbeat
        beats.append(WorkerHeartbeat(
            identity=beat.worker_identity,
            status=_WORKER_STATUS.get(beat.status, "unknown"),
            heartbeat_age_seconds=(now - beat.heartbeat_time.ToDatetime(tzinfo=timezone.utc)).total_seconds(),
            interval_seconds=beat.elapsed_since_last_heartbeat.ToTimedelta().total_seconds(),
            host=beat.host_info.host_name,
            started_at=beat.start_time.ToDatetime(tzinfo=timezone.utc) if beat.HasField("start_time") else None,
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

    return bridge.call(_mapped(start))


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
            raise  # _mapped names it
        except Exception as err:  # noqa: BLE001 - an answer we cannot read: the page retries, it does not fail
            raise TemporalUnavailable(f"the batch's answer could not be read ({type(err).__name__}: {str(err)[:200]})") from err

    return bridge.call(_mapped(progress), timeout=timeout * 2)


def ensure_digest_schedule(*, cron: str, time_zone: str, task_queue: str | None = None) -> str:
    """Create the daily-digest schedule, or bring an existing one up to date. Returns "created" or "updated"."""
    from temporalio.client import (
        Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleOverlapPolicy, SchedulePolicy,
        ScheduleSpec, ScheduleUpdate,
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

"""Who serves the task queue, as Temporal's server sees it: the pollers, the
backlog, and the workers' own heartbeats, in one call through the process's
one client (temporal_bridge.client.bridge).

/healthz shows the raw counts, the operations page the details, and
temporal_bridge.client.worker_status turns them into the cached "is a worker
running?" that the banner and /readyz use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from temporalio.api.enums.v1 import TaskQueueType, WorkerStatus
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, ListWorkersRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from temporal_bridge.client.bridge import bridge, mapped_errors


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
    # When the server last heard from it (None: not reported).
    last_heartbeat_at: datetime | None = None

    def alive(self, *, min_interval: float) -> bool:
        # Silent for two heartbeats: missing (killed, frozen, or its host lost),
        # whatever status it last reported.
        return self.status == "running" and not self.missing(min_interval=min_interval)

    def missing(self, *, min_interval: float) -> bool:
        """It last said it runs, and has been silent for more than twice its interval."""
        return self.status == "running" and self.heartbeat_age_seconds > MISSED_HEARTBEATS * max(self.interval_seconds, min_interval)

    def state(self, *, min_interval: float) -> str:
        """What the operations page says of it: "running", "missing since 06:21:03 UTC (45 s without a heartbeat)"..."""
        if self.missing(min_interval=min_interval):
            since = f" since {self.last_heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if self.last_heartbeat_at else ""
            return f"missing{since} ({self.heartbeat_age_seconds:.0f} s without a heartbeat)"
        return self.status.replace("_", " ")


# A worker silent for more than this many heartbeat intervals is missing.
MISSED_HEARTBEATS = 2


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
        so at once, one that died is missing after two silent intervals. Without
        them, a fresh workflow poller and a fresh activity poller.
        """
        if self.heartbeats:
            return any(h.alive(min_interval=min_heartbeat_interval) for h in self.heartbeats)
        if self.pollers:
            now = now or datetime.now(UTC)
            fresh = {p.queue_type for p in self.pollers if p.last_access and (now - p.last_access).total_seconds() <= POLLER_FRESH_SECONDS}
            return fresh >= {"workflow", "activity"}
        return self.workflow_pollers > 0 and self.activity_pollers > 0


    def worker_states(self, *, min_heartbeat_interval: float) -> list[tuple[WorkerHeartbeat, str, bool]]:
        """(heartbeat, what the page says of it, alive) per worker, by the rule workers_running applies."""
        return [(h, h.state(min_interval=min_heartbeat_interval), h.alive(min_interval=min_heartbeat_interval))
                for h in self.heartbeats or []]


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
                age = stats.approximate_backlog_age.ToTimedelta().total_seconds()
                backlog.append(BacklogStats(name, stats.approximate_backlog_count, age, stats.tasks_add_rate, stats.tasks_dispatch_rate))
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
            last_heartbeat_at=beat.heartbeat_time.ToDatetime(tzinfo=UTC) if beat.HasField("heartbeat_time") else None,
        ))
    return beats

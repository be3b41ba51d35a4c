"""What Temporal's server says about an order's workflow, without a worker:
whether it runs, why it was closed from outside (terminated, timed out,
failed, cancelled, with who and why), and whether its workflow task is
failing. Pages, reconciliation and the operations page rely on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import HistoryEventFilterType, PendingWorkflowTaskState
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest, GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import Client

from temporal_bridge.client.bridge import TemporalUnavailable, bridge, mapped_errors
from temporal_bridge.order import messages as m

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
                waiting_seconds=max(0.0, (datetime.now(UTC) - first.ToDatetime(tzinfo=UTC)).total_seconds()),
            )
            if info.workflow_task.failing:
                info.workflow_task.last_failure = await _last_task_failure(client, handle.id, description.run_id, rpc_timeout)
        return info

    return bridge.call(mapped_errors(describe), timeout=timeout * 3)


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

"""query_order, the live panel's question to an order's workflow: nothing but
TemporalUnavailable (with a message for the page) or WorkflowNotFound escapes,
whatever the server, the worker or the answer does wrong. The client is a
stand-in handle on the real bridge's call path (no server is needed to make
an RPC fail a given way)."""
from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError, RPCStatusCode

from temporal_bridge.client.bridge import TemporalUnavailable, WorkflowNotFound, bridge
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order.status import WorkflowClosed

# No database here: CI runs it once.
pytestmark = pytest.mark.database_agnostic


class _Handle:
    def __init__(self, error: BaseException | None, answer=None) -> None:
        self.error, self.answer, self.kwargs = error, answer, {}

    async def query(self, *args, **kwargs):
        self.kwargs = kwargs
        if self.error:
            raise self.error
        return self.answer


class _Client:
    def __init__(self, handle: _Handle) -> None:
        self.handle = handle

    def get_workflow_handle(self, workflow_id, **kwargs):
        return self.handle


def _query_with(monkeypatch, error: BaseException, **kwargs):
    handle = _Handle(error)
    monkeypatch.setattr(bridge, "call", lambda operation, timeout=10.0: asyncio.run(operation(_Client(handle))))
    return order_calls.query_order(1, timeout=1.0, **kwargs)


@pytest.mark.parametrize("error, message", [
    (RPCError("no poller seen for task queue recently", RPCStatusCode.FAILED_PRECONDITION, b""),
     "Temporal refused the query (FAILED_PRECONDITION"),
    (RPCError("Timeout expired", RPCStatusCode.CANCELLED, b""), "no answer from the workflow within 1s"),
    (RPCError("boom", RPCStatusCode.INTERNAL, b""), "Temporal refused the query (INTERNAL: boom)"),
    (WorkflowQueryFailedError("unknown query type"), "The workflow could not answer: unknown query type"),
    (TypeError("Failed converting field state on dataclass"), "answer could not be read (TypeError: Failed converting field"),
])
def test_query_order_turns_every_failure_into_temporal_unavailable(monkeypatch, error, message):
    with pytest.raises(TemporalUnavailable) as raised:
        _query_with(monkeypatch, error)
    assert message in str(raised.value)


def test_query_order_open_only_reports_the_close_status(monkeypatch):
    with pytest.raises(WorkflowClosed) as raised:
        _query_with(monkeypatch, WorkflowQueryRejectedError(WorkflowExecutionStatus.TERMINATED), open_only=True)
    assert raised.value.status == "TERMINATED"
    with pytest.raises(WorkflowNotFound):
        _query_with(monkeypatch, RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b""))

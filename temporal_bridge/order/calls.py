"""The calls Django makes to an order's workflow, through the process's one
client (temporal_bridge.client.bridge): start it, signal it, ask for its live
snapshot and for its verdict on a request, and link to it in the Temporal UI.

What the server says of the workflow without a worker (running, stopped from
outside, a failing task) is temporal_bridge.order.status.
"""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.common import QueryRejectCondition
from temporalio.service import RPCError, RPCStatusCode

from temporal_bridge.client.bridge import TemporalUnavailable, WorkflowNotFound, bridge, mapped_errors, start_once
from temporal_bridge.order import discussion, payments, search_attributes, states
from temporal_bridge.order import messages as m
from temporal_bridge.order.discussion import AnswerSignal, CommentSignal, QuestionSignal
from temporal_bridge.order.payments import PaymentEvent
from temporal_bridge.order.status import WorkflowClosed
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment.messages import CarrierEvent


def start_order_workflow(inp: m.OrderWorkflowInput, *, summary: str = "", customer_id: int | None = None) -> bool:
    """Start the order's workflow; False when it already exists (nothing to do).

    `summary` is what the Temporal UI shows for the run (an encrypted payload,
    like the input); the search attributes are set when this deployment has
    registered them (TEMPORAL_SEARCH_ATTRIBUTES), and the workflow keeps them current.
    """
    options: dict[str, Any] = {"static_summary": summary} if summary else {}
    if settings.TEMPORAL_SEARCH_ATTRIBUTES:
        options["search_attributes"] = search_attributes.at_start(
            state=states.PENDING_APPROVAL, number=inp.order_number, customer_id=customer_id, total=inp.total,
            entered_at=datetime.fromisoformat(inp.submitted_at) if inp.submitted_at else datetime.now(UTC))
    return start_once(m.WORKFLOW_NAME, inp, workflow_id=m.workflow_id_for(inp.order_id), **options)


def signal_order(order_id: int, signal: str, payload: Any) -> None:
    async def send(client: Client) -> None:
        await client.get_workflow_handle(m.workflow_id_for(order_id)).signal(signal, payload, rpc_timeout=timedelta(seconds=5))

    bridge.call(mapped_errors(send))


# Questions before deciding: a comment, a question to the requester, the
# requester's answer. Through signal_order, so one fake replaces them all in tests.
def comment_on_order(order_id: int, comment: CommentSignal) -> None:
    signal_order(order_id, discussion.SIGNAL_COMMENT, comment)


def ask_requester(order_id: int, question: QuestionSignal) -> None:
    signal_order(order_id, discussion.SIGNAL_ASK_REQUESTER, question)


def answer_question(order_id: int, answer: AnswerSignal) -> None:
    signal_order(order_id, discussion.SIGNAL_ANSWER, answer)


def _signal_workflow(workflow_id: str, signal: str, payload: Any, *, timeout: float) -> None:
    async def send(client: Client) -> None:
        await client.get_workflow_handle(workflow_id).signal(signal, payload, rpc_timeout=timedelta(seconds=timeout))

    bridge.call(mapped_errors(send), timeout=timeout)


def signal_payment_event(order_id: int, event: PaymentEvent) -> None:
    """A payment provider's event, to the order's workflow (WorkflowNotFound, TemporalUnavailable)."""
    _signal_workflow(m.workflow_id_for(order_id), payments.SIGNAL_PAYMENT_EVENT, event, timeout=settings.WEBHOOK_SIGNAL_TIMEOUT_SECONDS)


def signal_carrier_event(order_id: int, event: CarrierEvent, *, warehouse: str = "") -> None:
    """A carrier's event, to its parcel's shipment workflow (a child of the order's, once shipped;
    one per warehouse of a split order)."""
    _signal_workflow(shipment.shipment_workflow_id(order_id, warehouse), shipment.SIGNAL_CARRIER_EVENT, event,
                     timeout=settings.WEBHOOK_SIGNAL_TIMEOUT_SECONDS)


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


# A verdict takes a workflow task, the desk's confirmation (an activity) and
# another workflow task: never there the moment the signal is accepted. The
# first question waits that long, then they come every 40 ms at most.
VERDICT_POLL_FIRST = 0.02
VERDICT_POLL_MAX = 0.04


def request_verdict(order_id: int, request_id: str, *, wait: float) -> m.RequestVerdict:
    """The workflow's verdict on a request just sent, waiting up to `wait` seconds
    for it to become final (accepted or refused).

    Never raises: a workflow that cannot answer (no worker polling, Temporal
    unreachable) gives an `unknown` verdict, which the page shows as queued.
    """
    unknown = m.RequestVerdict(request_id, m.VERDICT_UNKNOWN)

    async def ask(client: Client) -> m.RequestVerdict:
        handle = client.get_workflow_handle(m.workflow_id_for(order_id))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        verdict, pause = unknown, VERDICT_POLL_FIRST
        if wait > VERDICT_POLL_FIRST:
            # Asked at once, the workflow could only say it has not seen the request yet.
            await asyncio.sleep(VERDICT_POLL_FIRST)
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
            # About 100 ms in all on the dev server (make bench): ask again soon, then every 40 ms.
            pause = min(pause * 2, VERDICT_POLL_MAX)
            await asyncio.sleep(pause)

    try:
        return bridge.call(ask, timeout=wait + 1)
    except (TemporalUnavailable, WorkflowNotFound, RPCError):
        return unknown


def workflow_ui_url(workflow_id: str) -> str:
    """The workflow's page in the Temporal UI, for operators (admin, ops page, order panel)."""
    return f"{settings.TEMPORAL_UI_URL.rstrip('/')}/namespaces/{settings.TEMPORAL_NAMESPACE}/workflows/{workflow_id}"


def workflow_list_ui_url(query: str) -> str:
    """The Temporal UI's workflow list filtered by a visibility query (search_attributes.visibility_query)."""
    base = f"{settings.TEMPORAL_UI_URL.rstrip('/')}/namespaces/{settings.TEMPORAL_NAMESPACE}/workflows"
    return f"{base}?{urlencode({'query': query})}"


def running_order_ids(*, limit: int = 1000) -> list[int]:
    """The order ids of running order workflows, from the server's visibility store."""

    async def run(client: Client) -> list[int]:
        ids: list[int] = []
        query = f'WorkflowType="{m.WORKFLOW_NAME}" AND ExecutionStatus="Running"'
        async for execution in client.list_workflows(query, limit=limit):
            order_id = m.order_id_from_workflow_id(execution.id)
            if order_id is not None:
                ids.append(order_id)
        return ids

    return bridge.call(mapped_errors(run))

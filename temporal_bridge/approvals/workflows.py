"""Workflows around approvals: bulk decisions and the daily digest.

Deterministic and free of Django, like OrderWorkflow: activities by name,
dataclass arguments, time from workflow.now().
"""
from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # Sending one order's decision is a database read and a signal. Temporal being
    from temporal_bridge.approvals import messages as approval
    from temporal_bridge.approvals.messages import (
        BulkDecisionInput,
        BulkDecisionProgress,
        BulkOrderRequest,
        BulkOrderResult,
        DigestInput,
        DigestResult,
    )

# Sending one order's decision is a database read and a signal. Temporal being
# briefly unreachable is retried for about two minutes; after that the order
# is reported as failed and the batch goes on with the next one.
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=30), maximum_attempts=8,
)
SEND_CONCURRENCY = 5
DIGEST_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=5), maximum_attempts=20,
)


@workflow.defn(name=approval.BULK_WORKFLOW_NAME)
class BulkDecisionWorkflow:
    """Send one manager's decision to each selected order, a few at a time.

    The batch is durable: whatever happens to the web process that started
    it, every order gets its decision sent (or a reason why not), and the
    query shows the results so far.
    """

    @workflow.init
    def __init__(self, inp: BulkDecisionInput) -> None:
        self._input = inp
        self._results: list[BulkOrderResult] = []
        self._finished = False

    @workflow.run
    async def run(self, inp: BulkDecisionInput) -> BulkDecisionProgress:
        # A few orders at a time: quick for 20 or 200 orders, gentle on the
        # database and on Temporal. Results keep the order of the selection.
        ids = inp.order_ids
        for start in range(0, len(ids), SEND_CONCURRENCY):
            window = ids[start:start + SEND_CONCURRENCY]
            self._results.extend(await asyncio.gather(*(self._send(inp, order_id) for order_id in window)))
        self._finished = True
        return self.progress()

    async def _send(self, inp: BulkDecisionInput, order_id: int) -> BulkOrderResult:
        request = BulkOrderRequest(
            batch_id=inp.batch_id, order_id=order_id, actor=inp.actor, decision=inp.decision, comment=inp.comment,
            request_id=bulk_request_id(inp.batch_id, order_id),
        )
        try:
            return await workflow.execute_activity(
                approval.ACT_SEND_BULK_DECISION, request, result_type=BulkOrderResult,
                start_to_close_timeout=timedelta(seconds=30), retry_policy=SEND_RETRY,
            )
        except ActivityError as err:
            cause = err.cause.message if isinstance(err.cause, ApplicationError) else str(err.cause or err)
            return BulkOrderResult(order_id, f"#{order_id}", approval.BULK_FAILED, f"Not sent after several attempts: {cause}")

    @workflow.query(name=approval.QUERY_BULK_PROGRESS)
    def progress(self) -> BulkDecisionProgress:
        inp = self._input
        return BulkDecisionProgress(
            batch_id=inp.batch_id, actor=inp.actor, decision=inp.decision, total=len(inp.order_ids),
            results=list(self._results), finished=self._finished,
        )


def bulk_request_id(batch_id: str, order_id: int) -> str:
    """Stable per batch and order, so a retried send is the same decision to the
    order's workflow; a digest, never a truncation, so a long batch id cannot
    give two orders one id (43 characters, within the 64 a request id may have)."""
    digest = hashlib.sha256(f"{batch_id}\n{order_id}".encode()).hexdigest()[:32]
    return f"bulk-{digest}-{order_id}"


@workflow.defn(name=approval.DIGEST_WORKFLOW_NAME)
class ApprovalDigestWorkflow:
    """One day's digest of pending approvals, emailed to each approver (started by a Schedule)."""

    @workflow.run
    async def run(self, inp: DigestInput) -> DigestResult:
        digest_date = inp.digest_date or workflow.now().date().isoformat()
        return await workflow.execute_activity(
            approval.ACT_SEND_DIGESTS, DigestInput(digest_date), result_type=DigestResult,
            start_to_close_timeout=timedelta(minutes=10), retry_policy=DIGEST_RETRY,
        )


APPROVAL_WORKFLOWS: list[type] = [BulkDecisionWorkflow, ApprovalDigestWorkflow]

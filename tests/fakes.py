"""Test doubles for the Temporal boundary.

View and admin tests run without a Temporal server: the calls the services
make through temporal_bridge's order_calls, workflow_status, queue_health and
approval_calls are replaced by a FakeTemporal that records what was sent and
answers queries from a snapshot the test controls.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache

from orders.models import Order
from orders.selectors import LIVE_FAILURES_KEY
from orders.timeline.mirror import mirror_snapshot
from temporal_bridge.approvals import calls as approval_calls
from temporal_bridge.approvals.messages import BulkDecisionInput, BulkDecisionProgress
from temporal_bridge.client import queue_health
from temporal_bridge.client.bridge import TemporalUnavailable, WorkflowNotFound
from temporal_bridge.client.queue_health import PollerStatus
from temporal_bridge.client.worker_status import forget_worker_check
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import messages as m
from temporal_bridge.order import payments
from temporal_bridge.order import status as workflow_status
from temporal_bridge.order.payments import PaymentEvent
from temporal_bridge.order.status import StopCause, WorkflowClosed, WorkflowStatus, WorkflowTask
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment.messages import CarrierEvent

# The functions a FakeTemporal stands in for, by the module callers reach them through.
REPLACED = {
    order_calls: ("start_order_workflow", "signal_order", "query_order", "request_verdict", "running_order_ids", "signal_payment_event",
                  "signal_carrier_event"),
    workflow_status: ("describe_order",),
    queue_health: ("task_queue_pollers",),
    approval_calls: ("start_bulk_decision", "bulk_decision_progress"),
}


@dataclass
class SentSignal:
    order_id: int
    name: str
    payload: Any
    # A carrier event's parcel: the warehouse of a split order's shipment ("" for the order's only one).
    warehouse: str = ""


@dataclass
class FakeTemporal:
    """Records starts, signals and queries; answers like a running worker would.

    - `snapshot`: the query answer. None answers with the order's DB mirror
      (as if the workflow agreed with the database), a callable is called with
      the order id, an OrderSnapshot is returned as is.
    - `unavailable`: every call raises TemporalUnavailable (server or worker down).
    - `not_found`: signals and queries raise WorkflowNotFound (workflow finished).
    - `stop`: the workflow was closed from outside (e.g. terminated by an
      operator): signals raise WorkflowNotFound, queries that only ask open
      workflows are refused (WorkflowClosed), describe reports the cause.
    - `workflow_task`: what describe reports of a running workflow's pending
      task (e.g. one failing again and again); `query_error` makes queries
      raise it (a worker that cannot answer).
    """

    snapshot: Any = None
    unavailable: bool = False
    not_found: bool = False
    stop: StopCause | None = None
    workflow_task: WorkflowTask | None = None
    query_error: Exception | None = None
    describes: list[int] = field(default_factory=list)
    starts: list[m.OrderWorkflowInput] = field(default_factory=list)
    signals: list[SentSignal] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    poller_checks: int = 0
    # Bulk decisions: the batches started, and what their query answers
    # (None: the batch as started, nothing processed yet).
    batches: list[BulkDecisionInput] = field(default_factory=list)
    batch_progress: dict[str, BulkDecisionProgress] = field(default_factory=dict)
    pollers: PollerStatus = field(default_factory=lambda: PollerStatus(workflow_pollers=1, activity_pollers=1, identities=["fake-worker"]))
    # The workflow's verdict on each request sent: `verdict` for every request
    # id, unless `verdicts` names one (e.g. a refusal with its reason).
    verdict: str = m.VERDICT_ACCEPTED
    verdicts: dict[str, m.RequestVerdict] = field(default_factory=dict)
    # The order ids the visibility store lists as running order workflows.
    running: list[int] = field(default_factory=list)

    @property
    def calls(self) -> int:
        """Calls about orders (starts, signals, queries).

        The worker check behind the "no worker" banner is counted apart, in
        `poller_checks`: it is one cached call per few seconds, not per order.
        """
        return len(self.starts) + len(self.signals) + len(self.queries)

    def _check(self, *, may_be_missing: bool = True) -> None:
        if self.unavailable:
            raise TemporalUnavailable("fake: Temporal is not reachable")
        if may_be_missing and self.not_found:
            raise WorkflowNotFound("fake: workflow not found")

    # The functions named in REPLACED, same signatures.

    def start_order_workflow(self, inp: m.OrderWorkflowInput, *, summary: str = "", customer_id: int | None = None) -> bool:
        self._check(may_be_missing=False)
        self.starts.append(inp)
        return True

    def running_order_ids(self, *, limit: int = 1000) -> list[int]:
        self._check(may_be_missing=False)
        return self.running[:limit]

    def signal_order(self, order_id: int, signal: str, payload: Any) -> None:
        self._check()
        if self.stop is not None:
            raise WorkflowNotFound("fake: workflow execution already completed")
        self.signals.append(SentSignal(order_id, signal, payload))

    def signal_payment_event(self, order_id: int, event: PaymentEvent) -> None:
        self.signal_order(order_id, payments.SIGNAL_PAYMENT_EVENT, event)

    def signal_carrier_event(self, order_id: int, event: CarrierEvent, *, warehouse: str = "") -> None:
        # Sent to the parcel's shipment workflow; recorded under the order's id with the signal's name.
        self.signal_order(order_id, shipment.SIGNAL_CARRIER_EVENT, event)
        self.signals[-1].warehouse = warehouse

    def query_order(self, order_id: int, *, timeout: float | None = None, open_only: bool = False) -> m.OrderSnapshot:
        self.queries.append(order_id)
        self._check()
        if self.stop is not None and open_only:
            raise WorkflowClosed(self.stop.status, f"the workflow is no longer running ({self.stop.status.lower()})")
        if self.query_error is not None:
            raise self.query_error
        if self.snapshot is None:
            return mirror_snapshot(Order.objects.get(pk=order_id))
        if callable(self.snapshot):
            return self.snapshot(order_id)
        return self.snapshot

    def request_verdict(self, order_id: int, request_id: str, *, wait: float) -> m.RequestVerdict:
        if self.unavailable:
            return m.RequestVerdict(request_id, m.VERDICT_UNKNOWN)
        return self.verdicts.get(request_id) or m.RequestVerdict(request_id, self.verdict)

    def describe_order(self, order_id: int, *, timeout: float = 5.0) -> WorkflowStatus:
        self.describes.append(order_id)
        self._check()
        if self.stop is not None:
            return WorkflowStatus(running=False, status=self.stop.status, pending_activities=[], result=None,
                                  run_id=self.stop.run_id, stop=self.stop)
        return WorkflowStatus(running=True, status="RUNNING", pending_activities=[], result=None, run_id="fake-run",
                              workflow_task=self.workflow_task, task_queue="order-desk")

    def task_queue_pollers(self, task_queue: str | None = None, *, timeout: float = 2.0) -> PollerStatus:
        self.poller_checks += 1
        self._check(may_be_missing=False)
        return self.pollers

    def start_bulk_decision(self, inp: BulkDecisionInput) -> bool:
        self._check(may_be_missing=False)
        if any(batch.batch_id == inp.batch_id for batch in self.batches):
            return False
        self.batches.append(inp)
        return True

    def bulk_decision_progress(self, batch_id: str, *, timeout: float | None = None) -> BulkDecisionProgress:
        self._check(may_be_missing=False)
        if batch_id in self.batch_progress:
            return self.batch_progress[batch_id]
        for batch in self.batches:
            if batch.batch_id == batch_id:
                return BulkDecisionProgress(batch.batch_id, batch.actor, batch.decision, len(batch.order_ids))
        raise WorkflowNotFound(f"fake: no batch {batch_id}")

    def install(self, monkeypatch) -> FakeTemporal:
        for module, names in REPLACED.items():
            for name in names:
                monkeypatch.setattr(module, name, getattr(self, name))
        # A fresh fake starts without a worker check cached from an earlier test.
        forget_worker_check()
        # Nor with live failures recorded by an earlier test (SQLite reuses primary keys).
        cache.delete(LIVE_FAILURES_KEY)
        return self

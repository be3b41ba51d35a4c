"""The desk's workflows as a versioned worker registers them, each with its versioning behaviour.

Why subclasses and not `versioning_behavior=` on the workflows themselves: a
workflow that declares a behaviour cannot run on an *unversioned* worker; the
server refuses every workflow task it completes ("versioning behavior cannot
be specified without deployment options being set with versioned mode") and
the run is stuck. Versioning is a deployment choice (runworker --versioning,
on in `make run`), so the plain classes stay behaviour-free for unversioned
workers, the time-skipping tests and the replayer, and a versioned worker
registers these variants instead: the same code under the same workflow
names, with the behaviour added. Each variant only re-declares what the SDK
requires a subclass to re-declare (its run method); everything else,
including signal, query and update handlers, is inherited.

The behaviours:
- OrderWorkflow: AUTO_UPGRADE. An order lives for days (approval deadlines,
  fulfilment); pinning it would keep every old version up until the slowest
  order ends. It moves to the current version at its next workflow task, so
  its changes of course still go behind `workflow.patched()`, proven by the
  replay tests (tests/temporal_bridge/test_replay.py).
- ShipmentWorkflow: AUTO_UPGRADE, for the same reason: a parcel is followed
  for days (it continues as new daily, and its changes go behind patches,
  proven by tests/temporal_bridge/test_replay.py).
- BulkDecisionWorkflow and ApprovalDigestWorkflow: PINNED. They last seconds
  to minutes, so they finish on the code they started on and need no patches.

Deterministic and free of Django, like the workflows they extend.
"""
from __future__ import annotations

from temporalio import workflow
from temporalio.common import VersioningBehavior

# The workflow classes are imported as workflow code (re-imported in each
# sandbox, like the worker's own), only the messages are passed through.
from temporal_bridge.approvals.workflows import ApprovalDigestWorkflow, BulkDecisionWorkflow
from temporal_bridge.order.workflow import OrderWorkflow
from temporal_bridge.shipment.workflow import ShipmentWorkflow

with workflow.unsafe.imports_passed_through():
    from temporal_bridge.approvals import messages as approval
    from temporal_bridge.approvals.messages import BulkDecisionInput, BulkDecisionProgress, DigestInput, DigestResult
    from temporal_bridge.order import messages as m
    from temporal_bridge.shipment import messages as shipment
    from temporal_bridge.shipment.messages import ShipmentInput, ShipmentResult


@workflow.defn(name=m.WORKFLOW_NAME, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class AutoUpgradingOrderWorkflow(OrderWorkflow):
    @workflow.run
    async def run(self, inp: m.OrderWorkflowInput) -> m.OrderSnapshot:
        return await super().run(inp)


@workflow.defn(name=shipment.SHIPMENT_WORKFLOW_NAME, versioning_behavior=VersioningBehavior.AUTO_UPGRADE)
class AutoUpgradingShipmentWorkflow(ShipmentWorkflow):
    @workflow.run
    async def run(self, inp: ShipmentInput) -> ShipmentResult:  # `mo`: as the parent spells it (the SDK compares)
        return await super().run(inp)


@workflow.defn(name=approval.BULK_WORKFLOW_NAME, versioning_behavior=VersioningBehavior.PINNED)
class PinnedBulkDecisionWorkflow(BulkDecisionWorkflow):
    @workflow.run
    async def run(self, inp: BulkDecisionInput) -> BulkDecisionProgress:
        return await super().run(inp)


@workflow.defn(name=approval.DIGEST_WORKFLOW_NAME, versioning_behavior=VersioningBehavior.PINNED)
class PinnedApprovalDigestWorkflow(ApprovalDigestWorkflow):
    @workflow.run
    async def run(self, inp: DigestInput) -> DigestResult:
        return await super().run(inp)


# What a versioned worker registers instead of worker.WORKFLOWS (a test checks
# the two name the same workflows, so a new workflow cannot go unversioned).
VERSIONED_WORKFLOWS: list[type] = [AutoUpgradingOrderWorkflow, AutoUpgradingShipmentWorkflow, PinnedBulkDecisionWorkflow,
                                   PinnedApprovalDigestWorkflow]

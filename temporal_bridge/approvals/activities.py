"""Activities of the approval workflows: thin adapters to approvals.services.

Sync functions on the worker's thread pool, like the order activities, with
fresh database connections around each run.
"""
from __future__ import annotations

from datetime import date

from temporalio import activity
from temporalio.exceptions import ApplicationError

from approvals import approver_mail, services
from orders.exceptions import WorkflowUnavailable
from temporal_bridge.approvals import messages as approval
from temporal_bridge.approvals.messages import (
    ApproverNoticeInput,
    ApproverNoticeResult,
    BulkOrderRequest,
    BulkOrderResult,
    DigestInput,
    DigestResult,
)
from temporal_bridge.contract.db_activity import db_activity


@activity.defn(name=approval.ACT_NOTIFY_APPROVERS)
@db_activity
def notify_approvers(notice: ApproverNoticeInput) -> ApproverNoticeResult:
    return ApproverNoticeResult(recipients=approver_mail.approvers_notify(notice))


@activity.defn(name=approval.ACT_SEND_BULK_DECISION)
@db_activity
def send_bulk_decision(request: BulkOrderRequest) -> BulkOrderResult:
    try:
        return services.bulk_send_one(request)
    except WorkflowUnavailable as err:
        # Retryable: Temporal was unreachable, nothing was sent.
        raise ApplicationError(err.message, type="WorkflowUnavailable") from err


@activity.defn(name=approval.ACT_SEND_DIGESTS)
@db_activity
def send_approval_digests(inp: DigestInput) -> DigestResult:
    digest_date = date.fromisoformat(inp.digest_date)
    return DigestResult(digest_date=inp.digest_date, recipients=approver_mail.digests_send(digest_date=digest_date))


APPROVAL_ACTIVITIES = [notify_approvers, send_bulk_decision, send_approval_digests]

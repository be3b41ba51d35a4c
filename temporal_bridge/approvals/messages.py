"""Messages of approvals: the policy snapshot an order's workflow decides by and
its gate's progress, and the approval workflows around orders (approver
notices, bulk decisions, the daily digest).

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# Approvals: reminders/escalations, bulk decisions, the daily digest.
ACT_NOTIFY_APPROVERS = "notify_approvers"
ACT_SEND_BULK_DECISION = "send_bulk_decision"
ACT_SEND_DIGESTS = "send_approval_digests"
BULK_WORKFLOW_NAME = "BulkDecisionWorkflow"
DIGEST_WORKFLOW_NAME = "ApprovalDigestWorkflow"
QUERY_BULK_PROGRESS = "progress"
DIGEST_SCHEDULE_ID = "approval-digest"


@dataclass
class ApproverNoticeInput:
    """Remind the eligible approvers (T1) or escalate to the senior ones (T2)."""

    order_id: int
    kind: str  # "reminder" or "escalation"
    idempotency_key: str
    requested_by: str
    already_decided: list[str] = field(default_factory=list)
    senior_only: bool = False
    still_needed: str = ""
    due: str | None = None


@dataclass
class ApproverNoticeResult:
    recipients: list[str] = field(default_factory=list)


@dataclass
class BulkDecisionInput:
    batch_id: str
    actor: str
    decision: str  # "approved" or "rejected"
    comment: str
    order_ids: list[int] = field(default_factory=list)


@dataclass
class BulkOrderRequest:
    batch_id: str
    order_id: int
    actor: str
    decision: str
    comment: str
    request_id: str


@dataclass
class BulkOrderResult:
    order_id: int
    number: str
    outcome: str  # "sent", "refused", "queued" or "failed"
    message: str = ""


@dataclass
class BulkDecisionProgress:
    batch_id: str
    actor: str
    decision: str
    total: int
    results: list[BulkOrderResult] = field(default_factory=list)
    finished: bool = False


@dataclass
class DigestInput:
    # Empty: the day the digest runs (a scheduled start passes nothing).
    digest_date: str = ""


@dataclass
class DigestResult:
    digest_date: str
    recipients: list[str] = field(default_factory=list)


BULK_SENT = "sent"
BULK_REFUSED = "refused"
BULK_FAILED = "failed"

# Sent, but no worker has given the workflow's verdict yet.
BULK_QUEUED = "queued"


def bulk_workflow_id(batch_id: str) -> str:
    return f"bulk-decision-{batch_id}"


@dataclass
class ApprovalRule:
    """The approval policy in force when the order was submitted, frozen into
    the workflow input: editing the policy later changes no order in flight."""

    policy_id: int | None = None
    policy_name: str = ""
    auto_approve: bool = False
    # Approvals from distinct eligible people.
    approvals_required: int = 1
    # At least one of them must hold the senior-approver permission.
    requires_senior: bool = False
    # Counted from submission: T1 reminder, T2 escalation, T3 expiry.
    remind_after_seconds: float | None = None
    escalate_after_seconds: float | None = None
    expire_after_seconds: float = 48 * 3600


@dataclass
class ApprovalProgress:
    """The approval gate as the query shows it: "k of N", who, what is still needed."""

    rule: str
    required: int
    approved: int
    approved_by: list[str] = field(default_factory=list)
    requires_senior: bool = False
    senior_approved: bool = False
    still_needed: str = ""
    remind_at: str | None = None
    escalate_at: str | None = None
    expire_at: str | None = None
    reminded: bool = False
    escalated: bool = False
    auto_approve: bool = False

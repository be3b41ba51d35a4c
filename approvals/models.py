"""Approval policies, and the records of decisions and approver notices.

A policy says what an order needs before it is processed, by its total (and
optionally its customer). The policy in force at submission is frozen into
the order's workflow input; editing a policy changes only orders submitted
afterwards.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

# Django registers an app's models from this one module: a domain's tables
# live beside its code and are named here (as orders.models does).
from approvals.decision_links.models import DecisionLink
from approvals.delegation.models import Delegation
from temporal_bridge.approvals import rules as approval_rules
from temporal_bridge.approvals.messages import ApprovalRule

__all__ = ["ApprovalDecision", "ApprovalNotice", "ApprovalPolicy", "AuditExport", "Delegation", "DecisionLink"]

SENIOR_PERMISSION = "approvals.approve_senior"
# The code of the error refusing a policy whose range overlaps an active one's.
OVERLAP = "overlap"


class ApprovalPolicy(models.Model):
    name = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=True, help_text="Inactive policies match no new order.")
    min_total = models.DecimalField(
        "from total", max_digits=12, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(Decimal("0"))],
        help_text="Orders whose total is at least this…",
    )
    max_total = models.DecimalField(
        "below total", max_digits=12, decimal_places=2, null=True, blank=True,
        help_text="…and below this (empty: no upper limit).",
    )
    customer = models.ForeignKey(
        "orders.Customer", on_delete=models.CASCADE, null=True, blank=True, related_name="approval_policies",
        help_text="Only this customer's orders (empty: every customer). A customer's own policy wins over a general one.",
    )
    auto_approve = models.BooleanField(default=False, help_text="Approve without a manager; the fields below are then unused.")
    approvals_required = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text="Approvals from this many different people.",
    )
    requires_senior = models.BooleanField(
        "requires a senior approver", default=False,
        help_text="At least one approval must come from a holder of the senior-approver permission.",
    )
    remind_after_hours = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Email the eligible approvers this long after submission (empty: no reminder).",
    )
    escalate_after_hours = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Flag the order escalated and email the senior approvers (empty: no escalation).",
    )
    expire_after_hours = models.DecimalField(
        max_digits=7, decimal_places=2, default=Decimal("48"), validators=[MinValueValidator(Decimal("0.01"))],
        help_text="An order still undecided this long after submission expires.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["customer_id", "min_total"]
        verbose_name_plural = "approval policies"
        permissions = [("approve_senior", "Counts as a senior approver")]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_total__isnull=True) | Q(max_total__gt=models.F("min_total")), name="policy_range_not_empty",
            ),
            models.CheckConstraint(condition=Q(approvals_required__gte=1), name="policy_needs_an_approval"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def total_range(self) -> str:
        low = f"{self.min_total:,.2f}"
        return f"{low} and above" if self.max_total is None else f"{low} to below {self.max_total:,.2f}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.max_total is not None and self.min_total is not None and self.max_total <= self.min_total:
            errors["max_total"] = "Must be above “from total”."
        if not self.auto_approve:
            expire = self.expire_after_hours
            for field, label in (("remind_after_hours", "reminder"), ("escalate_after_hours", "escalation")):
                value = getattr(self, field)
                if value is not None and expire is not None and value >= expire:
                    errors[field] = f"The {label} must come before the expiry ({expire} h)."
            if self.remind_after_hours and self.escalate_after_hours and self.remind_after_hours >= self.escalate_after_hours:
                errors["escalate_after_hours"] = "The escalation must come after the reminder."
        if errors:
            raise ValidationError(errors)
        if self.active and self.min_total is not None:
            overlapping = self.overlapping().first()
            if overlapping is not None:
                raise ValidationError(
                    f"Its total range overlaps the active policy “{overlapping.name}” ({overlapping.total_range}) "
                    f"for {'this customer' if self.customer_id else 'all customers'}; an order must match one policy.",
                    code=OVERLAP,
                )

    def overlapping(self) -> models.QuerySet[ApprovalPolicy]:
        """Active policies of the same scope whose total range meets this one's."""
        others = ApprovalPolicy.objects.filter(active=True, customer_id=self.customer_id).exclude(pk=self.pk)
        others = others.filter(Q(max_total__isnull=True) | Q(max_total__gt=self.min_total))
        if self.max_total is not None:
            others = others.filter(min_total__lt=self.max_total)
        return others

    def as_rule(self) -> ApprovalRule:
        """The snapshot an order's workflow is started with."""
        return ApprovalRule(
            policy_id=self.pk, policy_name=self.name, auto_approve=self.auto_approve,
            approvals_required=self.approvals_required, requires_senior=self.requires_senior,
            remind_after_seconds=_seconds(self.remind_after_hours), escalate_after_seconds=_seconds(self.escalate_after_hours),
            expire_after_seconds=_seconds(self.expire_after_hours) or 48 * 3600.0,
        )

    @property
    def description(self) -> str:
        return approval_rules.describe_rule(self.as_rule())


def _seconds(hours: Decimal | None) -> float | None:
    return None if hours is None else timedelta(hours=float(hours)).total_seconds()


class ApprovalDecision(models.Model):
    """A decision the order's workflow accepted (mirrored by its activity)."""

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="decisions")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="approval_decisions",
    )
    # The username as the workflow recorded it, kept even if the user is renamed.
    approver_username = models.CharField(max_length=150)
    # The person the approver stood in for under a delegation ("" for themselves).
    on_behalf_of_username = models.CharField("on behalf of", max_length=150, blank=True, default="", db_default="")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    # Whether the approver held the senior permission when deciding.
    senior = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    # The request id the browser sent: a repeated POST is the same decision.
    # Unique per order only: an id sent to another order is another decision.
    request_id = models.CharField(max_length=64)
    # The shipping address changed after this approval: it no longer counts
    # (the order went back through its rule) but stays in the audit trail.
    superseded = models.BooleanField(default=False)
    # The approver took this approval back while the order still waited for
    # more: it no longer counts, and stays in the audit trail, marked.
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawal_reason = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["order", "created_at"], name="decision_order_time_idx"),
            # The audit export reads decisions by time range, in (time, id) order.
            models.Index(fields=["created_at", "id"], name="decision_time_id_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["order", "request_id"], name="decision_request_once_per_order")]

    def __str__(self) -> str:
        return f"{self.order} {self.decision} by {self.decided_by}"

    @property
    def decided_by(self) -> str:
        """"manager2", or "manager2 on behalf of manager" under a delegation."""
        if self.on_behalf_of_username:
            return f"{self.approver_username} on behalf of {self.on_behalf_of_username}"
        return self.approver_username


class ApprovalNotice(models.Model):
    """An email to approvers (reminder, escalation, daily digest), sent at most once per key."""

    class Kind(models.TextChoices):
        REMINDER = "reminder", "Reminder"
        ESCALATION = "escalation", "Escalation"
        DIGEST = "digest", "Daily digest"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, null=True, blank=True, related_name="approval_notices")
    idempotency_key = models.CharField(max_length=120, unique=True)
    recipients = models.TextField(help_text="Usernames, comma-separated.")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.recipients}"


class AuditExport(models.Model):
    """One download of the audit trail: who took it, when, and what it covered.

    Written before the first byte is sent, so an export that is interrupted
    is still on record; `row_count` and `completed_at` stay empty until the
    whole file has gone out.
    """

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON lines"

    class Records(models.TextChoices):
        ALL = "all", "Decisions and timeline entries"
        DECISIONS = "decisions", "Decisions"
        TIMELINE = "timeline", "Timeline entries"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="audit_exports")
    # Kept as written, so the record still reads right after a rename.
    username = models.CharField(max_length=150)
    records = models.CharField(max_length=10, choices=Records.choices)
    format = models.CharField(max_length=5, choices=Format.choices)
    # The validated filters, as text (dates ISO, empty ones left out).
    filters = models.JSONField(default=dict, blank=True)
    row_count = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("export_audit", "Can export the audit trail (decisions and timelines)")]

    def __str__(self) -> str:
        return f"{self.get_records_display()} as {self.get_format_display()} by {self.username}"

    @property
    def filters_text(self) -> str:
        return ", ".join(f"{key} {value}" for key, value in self.filters.items()) or "none"

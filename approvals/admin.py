from django.contrib import admin

from approvals.models import ApprovalDecision, ApprovalNotice, ApprovalPolicy, AuditExport
from orders.admin import ReadOnlyAdmin


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    """Edited by admins and senior managers. Orders already submitted keep the
    rule they were submitted under; edits apply to new orders only."""

    list_display = ["name", "active", "total_range", "customer", "description", "updated_at"]
    list_filter = ["active", "auto_approve", "requires_senior"]
    search_fields = ["name", "customer__name"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    fieldsets = [
        (None, {"fields": ["name", "active"]}),
        ("Which orders", {"fields": [("min_total", "max_total"), "customer"]}),
        ("What they need", {"fields": ["auto_approve", ("approvals_required", "requires_senior")]}),
        ("Deadlines, in hours from submission", {
            "fields": [("remind_after_hours", "escalate_after_hours", "expire_after_hours")],
            "description": "Reminder: the eligible approvers are emailed. Escalation: the order is flagged and the "
                           "senior approvers are emailed. Expiry: the order ends as expired and the customer is told.",
        }),
    ]

    @admin.display(description="Total")
    def total_range(self, obj: ApprovalPolicy) -> str:
        return obj.total_range

    @admin.display(description="Rule")
    def description(self, obj: ApprovalPolicy) -> str:
        return obj.description

    def has_delete_permission(self, request, obj=None):
        # Deactivate instead: the policy's name stays meaningful on past orders.
        return request.user.is_superuser


@admin.register(ApprovalDecision)
class ApprovalDecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "order", "decision", "approver_username", "senior", "comment", "request_id"]
    list_filter = ["decision", "senior"]
    search_fields = ["order__number", "approver_username", "comment", "request_id"]
    list_select_related = ["order"]


@admin.register(ApprovalNotice)
class ApprovalNoticeAdmin(ReadOnlyAdmin):
    list_display = ["sent_at", "kind", "order", "recipients"]
    list_filter = ["kind"]
    search_fields = ["order__number", "recipients"]
    list_select_related = ["order"]


@admin.register(AuditExport)
class AuditExportAdmin(ReadOnlyAdmin):
    """The record of who exported the audit trail: written by the export itself, never edited."""

    list_display = ["created_at", "username", "records", "format", "filters_text", "row_count", "completed_at"]
    list_filter = ["records", "format"]
    search_fields = ["username"]

    @admin.display(description="Filters")
    def filters_text(self, obj: AuditExport) -> str:
        return obj.filters_text

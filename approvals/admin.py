from django.contrib import admin

from approvals.models import ApprovalDecision
from orders.admin import ReadOnlyAdmin


@admin.register(ApprovalDecision)
class ApprovalDecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "order", "decision", "approver_username", "comment"]
    list_filter = ["decision"]
    search_fields = ["order__number", "approver_username", "comment"]
    list_select_related = ["order"]

"""The admin's side of data protection: the erase action on customers, and the erasure records."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied

from orders.admin_readonly import ReadOnlyAdmin
from orders.privacy.models import CustomerDataKey, CustomerErasure
from orders.privacy.services import MAX_REASON, PERMISSION, ErasureRefused, customer_erase


class ErasureActionForm(ActionForm):
    reason = forms.CharField(required=False, max_length=MAX_REASON, label="Reason",
                             help_text="Required to erase: the request's reference or the rule; no personal data.")


class CustomerErasureActions:
    """Mixed into the Customer admin: erase the selected customers, one transaction each."""

    action_form = ErasureActionForm
    actions = ["erase_personal_data"]

    def has_erase_permission(self, request) -> bool:
        return request.user.has_perm(PERMISSION)

    @admin.action(description="Erase personal data (destroys the customer's key; decisions and amounts stay)",
                  permissions=["erase"])
    def erase_personal_data(self, request, queryset) -> None:
        reason = request.POST.get("reason", "")
        for customer_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                outcome = customer_erase(customer_id=customer_id, actor=request.user, reason=reason)
            except (ErasureRefused, PermissionDenied) as err:
                self.message_user(request, f"Not erased: {getattr(err, 'message', err)}", messages.ERROR)  # type: ignore[attr-defined]
                continue
            level = messages.SUCCESS if outcome.erased_now else messages.INFO
            self.message_user(request, outcome.message, level)  # type: ignore[attr-defined]


@admin.register(CustomerErasure)
class CustomerErasureAdmin(ReadOnlyAdmin):
    list_display = ["erased_at", "customer_id", "erased_by", "orders_count", "by_retention", "reason"]
    list_filter = ["by_retention"]
    search_fields = ["customer__id", "erased_by"]


@admin.register(CustomerDataKey)
class CustomerDataKeyAdmin(ReadOnlyAdmin):
    """Which customers have a key and which are destroyed; never the key (the wrapped bytes are not shown)."""

    list_display = ["key_id", "customer_id", "wrapped_with", "created_at", "destroyed_at"]
    fields = ["key_id", "customer", "wrapped_with", "created_at", "destroyed_at"]
    search_fields = ["key_id", "customer__id"]

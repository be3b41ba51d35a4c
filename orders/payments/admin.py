"""The payment ledger in the admin, read-only: the workflow's steps write it."""
from __future__ import annotations

from django.contrib import admin

from orders.admin_readonly import ReadOnlyAdmin
from orders.payments.models import PaymentTransaction


@admin.register(PaymentTransaction)
class PaymentTransactionAdmin(ReadOnlyAdmin):
    list_display = ["order", "kind", "amount", "currency", "provider_reference", "created_at"]
    list_filter = ["kind"]
    search_fields = ["order__number", "provider_reference"]
    list_select_related = ["order"]

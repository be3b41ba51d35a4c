"""Timeline entries in the admin, read-only: they are the order's evidence."""
from __future__ import annotations

from django.contrib import admin

from orders.admin_readonly import ReadOnlyAdmin
from orders.pagination import EstimatedCountPaginator
from orders.timeline.models import OrderEvent


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "order", "kind", "message", "actor"]
    list_filter = ["kind"]
    search_fields = ["order__number", "message"]
    list_select_related = ["order"]
    show_full_result_count = False
    paginator = EstimatedCountPaginator

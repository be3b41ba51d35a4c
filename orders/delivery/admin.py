"""Admin for the parcel's mirror and the operations tasks (imported by orders.admin).

Parcels are written by the shipment workflow only, so they are read-only
here; a task is resolved through the same service as the operations page.
"""
from __future__ import annotations

from django.contrib import admin, messages

from orders.delivery import services as parcels
from orders.delivery.models import OperationsTask, Parcel, ParcelEvent
from orders.exceptions import OrderError


class ParcelEventInline(admin.TabularInline):
    model = ParcelEvent
    extra = 0
    can_delete = False
    fields = readonly_fields = ["at", "status", "location", "description", "counted", "event_id", "recorded_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Parcel)
class ParcelAdmin(admin.ModelAdmin):
    list_display = ["order", "carrier", "tracking_number", "status", "location", "last_event_at", "promised_by", "promise_missed"]
    list_filter = ["status", "promise_missed", "carrier"]
    search_fields = ["order__number", "tracking_number"]
    list_select_related = ["order"]
    inlines = [ParcelEventInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OpenFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open"), ("no", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(resolved_at__isnull=self.value() == "yes")
        return queryset


@admin.register(OperationsTask)
class OperationsTaskAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "order", "text", "resolved_at", "resolved_by"]
    list_filter = [OpenFilter, "kind"]
    search_fields = ["order__number", "text"]
    list_select_related = ["order", "resolved_by"]
    fields = readonly_fields = ["order", "kind", "text", "key", "created_at", "resolved_at", "resolved_by"]
    actions = ["resolve"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Resolve the selected tasks")
    def resolve(self, request, queryset):
        done = 0
        for task in queryset.filter(resolved_at__isnull=True):
            try:
                parcels.operations_task_resolve(task_id=task.pk, user=request.user)
                done += 1
            except OrderError as err:
                self.message_user(request, err.message, messages.WARNING)
        self.message_user(request, f"{done} task(s) resolved.", messages.SUCCESS)

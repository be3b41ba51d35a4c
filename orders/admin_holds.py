"""Holds in the admin, read-only: pausing and resuming belong to the operations
page, which signals the waiting orders; an edit here would not."""
from __future__ import annotations

from django.contrib import admin

from orders.models import CircuitBreaker, HoldEvent


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(ReadOnly):
    list_display = ["provider", "state", "consecutive_failures", "opened_at", "last_error"]


@admin.register(HoldEvent)
class HoldEventAdmin(ReadOnly):
    list_display = ["at", "kind", "subject", "by", "reason"]
    list_filter = ["kind", "subject"]

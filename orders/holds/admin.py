"""Holds in the admin, read-only: pausing and resuming belong to the operations
page, which signals the waiting orders; an edit here would not."""
from __future__ import annotations

from django.contrib import admin

from orders.admin_readonly import ReadOnlyAdmin
from orders.holds.models import CircuitBreaker, HoldEvent


@admin.register(CircuitBreaker)
class CircuitBreakerAdmin(ReadOnlyAdmin):
    list_display = ["provider", "state", "consecutive_failures", "opened_at", "last_error"]


@admin.register(HoldEvent)
class HoldEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "subject", "by", "reason"]
    list_filter = ["kind", "subject"]

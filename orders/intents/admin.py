"""Recorded intents in the admin, read-only: they are evidence of what the desk
authorised and sent, so nobody adds, edits or deletes one by hand. Staff with
the view permission (managers, auditors given staff access) can look up who
asked for what, and under which request id."""
from __future__ import annotations

from django.contrib import admin

from orders.admin_readonly import ReadOnlyAdmin
from orders.intents.models import RecordedIntent
from orders.pagination import EstimatedCountPaginator


@admin.register(RecordedIntent)
class RecordedIntentAdmin(ReadOnlyAdmin):
    list_display = ["recorded_at", "order", "signal", "actor", "on_behalf_of", "request_id"]
    list_filter = ["signal"]
    search_fields = ["=order__number", "=request_id", "=actor"]
    list_select_related = ["order"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    readonly_fields = [f.name for f in RecordedIntent._meta.fields]

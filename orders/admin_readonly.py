"""Admin pages for records that are evidence or mirrors (ledgers, timelines, inboxes).

The workflows and services write them; nobody edits them by hand.
"""
from __future__ import annotations

from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

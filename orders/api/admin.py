"""API keys in the admin: issue (the full key is shown once), revoke, see last use."""
from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from orders.api.models import KEY_PREFIX, ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "key_prefix", "user", "active", "created_by", "created_at", "last_used_at"]
    list_filter = ["active"]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user", "created_by"]
    fields = ["name", "user", "active", "key_prefix", "created_by", "created_at", "last_used_at"]
    readonly_fields = ["key_prefix", "created_by", "created_at", "last_used_at"]
    actions = ["revoke"]

    def has_delete_permission(self, request, obj=None):
        # Keep revoked keys: their idempotency records and audit trail point at them.
        return False

    @admin.display(description="Key")
    def key_prefix(self, obj: ApiKey) -> str:
        return f"{KEY_PREFIX}_{obj.prefix}_…" if obj.prefix else "shown once, when you save"

    def save_model(self, request, obj: ApiKey, form, change):
        if not change:
            prefix, secret, full_key = ApiKey.generate()
            obj.prefix = prefix
            obj.set_secret(secret)
            obj.created_by = request.user
            # Only for the response below; the secret itself is never stored.
            request._new_api_key = full_key
        super().save_model(request, obj, form, change)

    def response_add(self, request, obj, post_url_continue=None):
        full_key = getattr(request, "_new_api_key", None)
        if full_key is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": f"API key for {obj.name}",
            "opts": self.model._meta,
            "key": obj,
            "full_key": full_key,
        }
        response = TemplateResponse(request, "admin/orders/apikey/created.html", context)
        # The one page that shows the secret must not be kept by any cache.
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        count = queryset.filter(active=True).update(active=False)
        self.message_user(request, f"Revoked {count} key(s). Requests with them now get 401.", messages.SUCCESS)

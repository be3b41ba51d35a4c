"""The admin's view of the webhook inbox: what each provider sent and whether
it reached its workflow; "deliver again" goes through orders.webhooks.services like
the intake and reconcile_orders do."""
from __future__ import annotations

from django.contrib import admin, messages

from orders.pagination import EstimatedCountPaginator
from orders.webhooks import services as webhooks
from orders.webhooks.models import WebhookEvent


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "provider", "type", "event_id", "order_link", "status", "attempts", "last_error", "delivered_at"]
    list_filter = ["status", "provider", "type"]
    search_fields = ["=event_id", "=order_number"]
    list_select_related = ["order"]
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    actions = ["deliver_again"]
    # Events are what a provider said: nobody edits them.
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]

    @admin.display(description="Order", ordering="order_number")
    def order_link(self, event: WebhookEvent) -> str:
        return str(event.order) if event.order_id else f"{event.order_number} (unknown)"

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Deliver again to the workflow", permissions=["change"])
    def deliver_again(self, request, queryset) -> None:
        undelivered = queryset.exclude(status=WebhookEvent.Delivery.DELIVERED).values_list("pk", flat=True)
        skipped = queryset.filter(status=WebhookEvent.Delivery.DELIVERED).count()
        run = webhooks.webhook_deliver_again(list(undelivered))
        level = messages.SUCCESS if not (run.still_pending or run.failed) else messages.WARNING
        text = f"Delivered {run.delivered}; still waiting {run.still_pending}; failed {run.failed}."
        if run.temporal_unavailable:
            text += " Temporal could not be reached: the waiting events are delivered by reconcile_orders once it is back."
        if skipped:
            text += f" {skipped} already delivered, not sent again."
        self.message_user(request, text, level)

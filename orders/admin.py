"""The Django admin for orders: the same orders, the same rules.

Admin actions go through the same services as the pages (so the same
permission checks and the same workflow signals); the status and timeline
are read-only because only the workflow changes them.
"""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.utils.html import format_html, format_html_join
from django.utils.text import smart_split, unescape_string_literal

from approvals.models import ApprovalDecision
from approvals.services import APPROVE, REJECT, approval_decide, verdict_text
from orders import services
from orders.admin_readonly import ReadOnlyAdmin

# Each domain's admin pages live beside its code; importing them registers them here.
from orders.api import admin as api_admin  # noqa: F401
from orders.delivery import admin as delivery_admin  # noqa: F401
from orders.exceptions import OrderError
from orders.holds import admin as holds_admin  # noqa: F401
from orders.holds import services as holds
from orders.intents import admin as intents_admin  # noqa: F401
from orders.inventory import admin as inventory_admin
from orders.models import Customer, CustomerNotification, Order, OrderLine, Product, StockReservation
from orders.pagination import EstimatedCountPaginator
from orders.payments import admin as payments_admin  # noqa: F401
from orders.payments.models import PaymentTransaction
from orders.privacy import admin as privacy_admin
from orders.selectors import order_live_state, order_search
from orders.timeline import admin as timeline_admin  # noqa: F401
from orders.timeline.models import OrderEvent
from orders.webhooks import admin as webhooks_admin  # noqa: F401
from temporal_bridge.order import messages as m
from temporal_bridge.order.calls import workflow_ui_url


class ReasonActionForm(ActionForm):
    reason = forms.CharField(required=False, max_length=500, label="Reason / comment",
                             help_text="Required to reject or cancel.")


class ReadOnlyInline(admin.TabularInline):
    """Lines, ledgers and events are written by the order's services and workflow only."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False


class OrderLineInline(ReadOnlyInline):
    model = OrderLine
    fields = ["product", "quantity", "unit_price"]


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ["created_at", "kind", "message", "actor"]
    ordering = ["created_at", "id"]


class DecisionInline(ReadOnlyInline):
    """The decisions the workflow accepted, with who counted as senior."""

    model = ApprovalDecision
    fields = ["created_at", "decision", "approver_username", "on_behalf_of_username", "senior", "comment", "request_id"]
    ordering = ["created_at", "id"]
    verbose_name_plural = "approval decisions"


class PaymentInline(ReadOnlyInline):
    model = PaymentTransaction
    fields = ["created_at", "kind", "amount", "currency", "provider_reference"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["number", "customer", "status", "total", "currency", "priority", "created_by", "created_at"]
    list_filter = ["status", "priority", "requires_approval", "escalated"]
    # What the search box covers; get_search_results does the searching.
    search_fields = ["number", "customer__name", "customer__email"]
    list_select_related = ["customer", "created_by"]
    # A COUNT(*) over the whole table on every changelist page costs more than it tells.
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    ordering = ["-id"]
    inlines = [OrderLineInline, DecisionInline, PaymentInline, OrderEventInline]
    action_form = ReasonActionForm
    actions = ["approve_orders", "reject_orders", "cancel_orders"]
    readonly_fields = [
        "number", "customer", "created_by", "status", "total", "currency", "requires_approval", "approval_deadline",
        "rule_in_force", "escalated",
        "progress", "tracking_number", "failure_reason", "workflow_link", "workflow_started_at", "live_state",
        "created_at", "updated_at",
    ]
    fields = [
        ("number", "status"), ("customer", "created_by"), ("total", "currency"), "priority", "shipping_address", "note",
        ("requires_approval", "approval_deadline"), ("rule_in_force", "escalated"), ("progress", "tracking_number"), "failure_reason",
        ("workflow_link", "workflow_started_at"), "live_state", ("created_at", "updated_at"),
    ]

    def get_search_results(self, request, queryset, search_term):
        """Each word as the order list searches (selectors.order_search), all words required.

        Django's own search ORs icontains across the join to customers, which
        PostgreSQL can only check row by row; order_search is answered from
        indexes. No join that multiplies rows, so no DISTINCT either.
        """
        for term in search_terms(search_term):
            queryset = queryset.filter(order_search(term))
        return queryset, False

    def has_add_permission(self, request):
        # New orders go through the order form, which starts their workflow.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """Django runs a change form's POST in one transaction; an edit here is
        an update signal whose intent must be committed before the signal goes
        (orders.intents), which that transaction would hold back. The edit
        writes no order row (save_model), only its history entry: it runs
        without the wrapping transaction, in the intent's own."""
        if request.method == "POST" and object_id is not None:
            return self._changeform_view(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        """Edits to priority, address or note become an update signal, not a write."""
        changed = {name: form.cleaned_data[name] for name in form.changed_data if name in ("priority", "shipping_address", "note")}
        if not changed:
            return
        original = Order.objects.get(pk=obj.pk)
        try:
            verdict = services.order_request_update(order=original, user=request.user, request_id=services.new_request_id(), **changed)
        except (OrderError, PermissionDenied) as err:
            request._order_update_refused = True
            self.message_user(request, f"Not changed: {getattr(err, 'message', err)}", messages.ERROR)
        else:
            if verdict.status == m.VERDICT_REFUSED:
                request._order_update_refused = True
                self.message_user(request, f"Not changed: {verdict_text(verdict)}", messages.ERROR)
            else:
                self.message_user(request, f"The change was sent to the order's workflow: {verdict_text(verdict)}.")

    def log_change(self, request, obj, message):
        if getattr(request, "_order_update_refused", False):
            return None  # nothing changed: the history must not say otherwise
        return super().log_change(request, obj, message)

    def response_change(self, request, obj):
        # A refused edit stays on the page with its error, without Django's
        # "was changed successfully", which would contradict it.
        if getattr(request, "_order_update_refused", False):
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    @admin.display(description="Approval rule")
    def rule_in_force(self, obj: Order):
        return obj.approval_rule_text or ("A manager must approve" if obj.requires_approval else "Approved automatically")

    @admin.display(description="Workflow")
    def workflow_link(self, obj: Order):
        if not obj.workflow_id:
            return "—"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{} in the Temporal UI</a>',
            workflow_ui_url(obj.workflow_id), obj.workflow_id,
        )

    @admin.display(description="Live workflow state")
    def live_state(self, obj: Order):
        live = order_live_state(obj)
        snap = live.snapshot
        source = "live from the workflow" if live.source == "workflow" else "from the database mirror"
        rows = format_html_join("", "<li>{} — {}</li>", ((entry.at[:19], entry.message) for entry in snap.timeline[-8:]))
        return format_html(
            "<strong>{}</strong> · {} · {}% <small>({})</small>{}<ul>{}</ul>",
            live.state_label, snap.step, snap.progress, source,
            format_html("<br><em>{}</em>", live.notice) if live.notice else "", rows,
        )

    def _act(self, request, queryset, action: str) -> None:
        reason = request.POST.get("reason", "").strip()
        if action in ("reject", "cancel") and not reason:
            self.message_user(request, f"A reason is required to {action} orders. Nothing was sent.", messages.ERROR)
            return
        done, queued, refused = [], [], []
        for order in queryset.select_related("created_by"):
            request_id = services.new_request_id()
            try:
                if action == "cancel":
                    verdict = services.order_request_cancel(order=order, user=request.user, reason=reason, request_id=request_id)
                else:
                    decision = APPROVE if action == "approve" else REJECT
                    verdict = approval_decide(order=order, user=request.user, decision=decision, comment=reason, request_id=request_id)
            except (OrderError, PermissionDenied) as err:
                refused.append(f"{order.number}: {getattr(err, 'message', err)}")
                continue
            if verdict.status == m.VERDICT_ACCEPTED:
                done.append(order.number)
            elif verdict.status == m.VERDICT_REFUSED:
                refused.append(f"{order.number}: {verdict_text(verdict)}")
            else:
                queued.append(order.number)
        if done:
            self.message_user(request, f"{action.capitalize()} accepted by the workflow of {', '.join(done)}.", messages.SUCCESS)
        if queued:
            unknown = verdict_text(m.RequestVerdict("", m.VERDICT_UNKNOWN))
            self.message_user(request, f"{action.capitalize()} queued for {', '.join(queued)}: {unknown}.", messages.WARNING)
        for line in refused:
            self.message_user(request, f"Not done: {line}", messages.ERROR)

    @admin.action(description="Approve selected orders", permissions=["approve"])
    def approve_orders(self, request, queryset):
        self._act(request, queryset, "approve")

    @admin.action(description="Reject selected orders (reason required)", permissions=["approve"])
    def reject_orders(self, request, queryset):
        self._act(request, queryset, "reject")

    @admin.action(description="Cancel selected orders (reason required)", permissions=["cancel"])
    def cancel_orders(self, request, queryset):
        self._act(request, queryset, "cancel")

    def has_approve_permission(self, request):
        return request.user.has_perm("orders.approve_order")

    def has_cancel_permission(self, request):
        return request.user.has_perm("orders.cancel_order")


# The list's search field takes 100 characters; a URL can carry any amount.
SEARCH_MAX_CHARS = 200
SEARCH_MAX_WORDS = 10


def search_terms(search_term: str) -> list[str]:
    """The words of an admin search, as Django splits them ("quoted words" stay one), within bounds.

    NUL characters are dropped: PostgreSQL refuses them in a query parameter,
    and no order number or customer holds one.
    """
    text = search_term.replace("\x00", "")[:SEARCH_MAX_CHARS]
    terms = []
    for word in smart_split(text):
        if word[0] in "\"'" and word[-1] == word[0] and len(word) > 1:
            word = unescape_string_literal(word)
        if word.strip():
            terms.append(word)
    return terms[:SEARCH_MAX_WORDS]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "price", "stock_on_hand", "stock_reserved", "active"]
    search_fields = ["sku", "name"]
    list_filter = ["active", "warehouse_stock__warehouse"]
    inlines = [inventory_admin.WarehouseStockInline]

    def get_readonly_fields(self, request, obj=None):
        # A new product's stock is its opening stock in the default warehouse; after that
        # the totals follow the warehouses' stock.
        return ["stock_on_hand", "stock_reserved"] if obj else ["stock_reserved"]


@admin.register(Customer)
class CustomerAdmin(privacy_admin.CustomerErasureActions, admin.ModelAdmin):
    list_display = ["name", "email", "credit_limit", "created_at"]
    search_fields = ["name", "email"]

    def save_model(self, request, obj, form, change):
        before = form.initial.get("credit_limit")
        super().save_model(request, obj, form, change)
        if change and before is not None and obj.credit_limit > before:
            # Once committed, so the orders woken read the new limit.
            transaction.on_commit(lambda: self._wake_credit_holds(request, obj))

    def _wake_credit_holds(self, request, customer: Customer) -> None:
        signalled, missed = holds.credit_limit_raised(customer_id=customer.pk, by=request.user.get_username())
        if signalled:
            self.message_user(request, f"{signalled} order(s) of {customer} held for credit review check the new limit now.")
        if missed:
            self.message_user(request, f"{missed} held order(s) could not be told now; they check again at their next recheck.",
                              messages.WARNING)


@admin.register(StockReservation)
class StockReservationAdmin(ReadOnlyAdmin):
    list_display = ["order", "product", "warehouse", "quantity", "status", "updated_at"]
    list_filter = ["status", "warehouse"]
    search_fields = ["order__number", "product__sku"]
    list_select_related = ["order", "product", "warehouse"]


@admin.register(CustomerNotification)
class CustomerNotificationAdmin(ReadOnlyAdmin):
    list_display = ["sent_at", "order", "kind", "recipient", "subject"]
    list_filter = ["kind"]
    search_fields = ["order__number", "recipient"]
    list_select_related = ["order"]

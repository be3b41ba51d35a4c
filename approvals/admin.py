from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied

from approvals import whatif
from approvals.forms import PolicyWhatIfForm
from approvals.models import OVERLAP, ApprovalDecision, ApprovalNotice, ApprovalPolicy, AuditExport, DecisionLink, Delegation
from orders.admin_readonly import ReadOnlyAdmin


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(admin.ModelAdmin):
    """Edited by admins and senior managers. Orders already submitted keep the
    rule they were submitted under; edits apply to new orders only."""

    list_display = ["name", "active", "total_range", "customer", "description", "updated_at"]
    list_filter = ["active", "auto_approve", "requires_senior"]
    search_fields = ["name", "customer__name"]
    list_select_related = ["customer"]
    autocomplete_fields = ["customer"]
    fieldsets = [
        (None, {"fields": ["name", "active"]}),
        ("Which orders", {"fields": [("min_total", "max_total"), "customer"]}),
        ("What they need", {"fields": ["auto_approve", ("approvals_required", "requires_senior")]}),
        ("Deadlines, in hours from submission", {
            "fields": [("remind_after_hours", "escalate_after_hours", "expire_after_hours")],
            "description": "Reminder: the eligible approvers are emailed. Escalation: the order is flagged and the "
                           "senior approvers are emailed. Expiry: the order ends as expired and the customer is told.",
        }),
    ]

    @admin.display(description="Total")
    def total_range(self, obj: ApprovalPolicy) -> str:
        return obj.total_range

    @admin.display(description="Rule")
    def description(self, obj: ApprovalPolicy) -> str:
        return obj.description

    def has_delete_permission(self, request, obj=None):
        # Deactivate instead: the policy's name stays meaningful on past orders.
        return request.user.is_superuser

    # --- What-if preview ------------------------------------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """The "Preview" button (`_preview`) shows what the form's draft would have
        done to recent orders, instead of saving it."""
        if request.method == "POST" and "_preview" in request.POST:
            return self.preview_view(request, object_id, form_url)
        extra_context = {**(extra_context or {}), "whatif_form": PolicyWhatIfForm(prefix="whatif")}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def preview_view(self, request, object_id, form_url=""):
        """Validate the draft and the what-if's inputs and render the change form
        with the preview under it. Reads only: nothing is saved, logged or sent."""
        add = object_id is None
        obj = None if add else self.get_object(request, unquote(object_id))
        if not add and obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        # Those who may change policies may preview a change (and, to preview a new one, add it).
        if not self.has_change_permission(request, obj) or (add and not self.has_add_permission(request)):
            raise PermissionDenied
        subtitle = str(obj) if obj else None  # before the form writes the draft's values onto obj
        fieldsets = self.get_fieldsets(request, obj)
        form = self.get_form(request, obj, change=not add, fields=flatten_fieldsets(fieldsets))(request.POST, instance=obj)
        whatif_form = PolicyWhatIfForm(request.POST, prefix="whatif")
        result = None
        # A draft that overlaps another active policy cannot be saved, but can be
        # previewed: submission's matching resolves the overlap (the higher "from
        # total" wins), so lowering a threshold is one draft, not two saves.
        if (form.is_valid() or only_overlapping(form)) and whatif_form.is_valid():
            # form.instance now holds the draft's values, in memory only.
            result = whatif.policy_whatif(draft=form.instance, days=whatif_form.cleaned_data["days"],
                                          method=whatif_form.cleaned_data["method"])
        admin_form = helpers.AdminForm(form, list(fieldsets), self.get_prepopulated_fields(request, obj),
                                       self.get_readonly_fields(request, obj), model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": ("Add %s" if add else "Change %s") % self.opts.verbose_name,
            "subtitle": subtitle,
            "adminform": admin_form,
            "object_id": object_id,
            "original": obj,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "whatif_form": whatif_form,
            "whatif": result,
            "whatif_unsaveable": result is not None and not form.is_valid(),
        }
        return self.render_change_form(request, context, add=add, change=not add, obj=obj, form_url=form_url)


def only_overlapping(form) -> bool:
    """Whether the draft's one fault is overlapping another active policy."""
    errors = form.errors.as_data()
    return list(errors) == [NON_FIELD_ERRORS] and all(e.code == OVERLAP for e in errors[NON_FIELD_ERRORS])


@admin.register(ApprovalDecision)
class ApprovalDecisionAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "order", "decision", "approver_username", "on_behalf_of_username", "senior", "comment", "request_id",
                    "withdrawn_at"]
    list_filter = ["decision", "senior", ("withdrawn_at", admin.EmptyFieldListFilter)]
    search_fields = ["order__number", "approver_username", "on_behalf_of_username", "comment", "request_id"]
    list_select_related = ["order"]


@admin.register(DecisionLink)
class DecisionLinkAdmin(ReadOnlyAdmin):
    """The e-mail decision links sent: to whom, for what, used or not (never the secret, which is not stored)."""

    list_display = ["created_at", "order", "approver", "decision", "expires_at", "used_at"]
    list_filter = ["decision", ("used_at", admin.EmptyFieldListFilter)]
    search_fields = ["order__number", "approver__username"]
    list_select_related = ["order", "approver"]
    exclude = ["token_hash"]


@admin.register(ApprovalNotice)
class ApprovalNoticeAdmin(ReadOnlyAdmin):
    list_display = ["sent_at", "kind", "order", "recipients"]
    list_filter = ["kind"]
    search_fields = ["order__number", "recipients"]
    list_select_related = ["order"]


@admin.register(AuditExport)
class AuditExportAdmin(ReadOnlyAdmin):
    """The record of who exported the audit trail: written by the export itself, never edited."""

    list_display = ["created_at", "username", "records", "format", "filters_text", "row_count", "completed_at"]
    list_filter = ["records", "format"]
    search_fields = ["username"]

    @admin.display(description="Filters")
    def filters_text(self, obj: AuditExport) -> str:
        return obj.filters_text


@admin.register(Delegation)
class DelegationAdmin(ReadOnlyAdmin):
    """Who holds whose approvals, and when. Approvers name and end their own
    on the Out of office page, under its rules; here they are listed."""

    list_display = ["delegator", "substitute", "first_day", "last_day", "status", "ended_at", "created_by", "created_at"]
    list_filter = ["starts_at", "ended_at"]
    search_fields = ["delegator__username", "substitute__username"]
    list_select_related = ["delegator", "substitute", "created_by"]
    date_hierarchy = "starts_at"

    @admin.display(description="From")
    def first_day(self, obj: Delegation):
        return obj.first_day

    @admin.display(description="Until (inclusive)")
    def last_day(self, obj: Delegation):
        return obj.last_day

    @admin.display(description="Status")
    def status(self, obj: Delegation) -> str:
        return obj.status

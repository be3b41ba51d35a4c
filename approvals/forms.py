"""Forms of the approvals pages; all validation on the server."""
from __future__ import annotations

from django import forms

from approvals import whatif
from approvals.services import APPROVE, MAX_BULK_ORDERS, REJECT
from orders.amounts import MAX_ID
from orders.forms import request_id_field


class OrderIdsField(forms.Field):
    """The ids of the orders ticked in the inbox (one `orders` value per box)."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {"required": "Select at least one order.", "invalid": "Invalid order selection."}

    def to_python(self, value):
        if not value:
            return []
        try:
            ids = [int(v) for v in value]
        except (TypeError, ValueError) as err:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from err
        if any(not 1 <= i <= MAX_ID for i in ids):  # beyond a bigint names no order (and breaks SQLite)
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return list(dict.fromkeys(ids))

    def validate(self, value):
        super().validate(value)
        if len(value) > MAX_BULK_ORDERS:
            raise forms.ValidationError(f"Select at most {MAX_BULK_ORDERS} orders at a time.")


class PageForm(forms.Form):
    """A page number of a paginated list: a whole number from 1 (past the last shows the last)."""

    page = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID, error_messages={
        key: "Page must be a whole number from 1." for key in ("invalid", "min_value", "max_value")})


class BulkDecisionForm(forms.Form):
    orders = OrderIdsField()
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")])
    comment = forms.CharField(max_length=500, required=False, label="Comment")
    reason = forms.CharField(max_length=500, required=False, label="Reason")
    request_id = request_id_field()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("decision") == "reject" and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", "A reason is required to reject orders.")
        return cleaned

    @property
    def decision_value(self) -> str:
        return APPROVE if self.cleaned_data["decision"] == "approve" else REJECT

    @property
    def comment_value(self) -> str:
        return (self.cleaned_data["reason"] if self.cleaned_data["decision"] == "reject" else self.cleaned_data["comment"]).strip()


class PolicyWhatIfForm(forms.Form):
    """The what-if's own inputs on the approval policy's admin page (prefix "whatif")."""

    days = forms.IntegerField(
        label="Orders of the last", initial=whatif.DEFAULT_DAYS, min_value=whatif.MIN_DAYS, max_value=whatif.MAX_DAYS,
        help_text=f"days ({whatif.MIN_DAYS} to {whatif.MAX_DAYS})",
    )
    method = forms.ChoiceField(label="Spread each order's approvals", choices=list(whatif.METHODS.items()), initial=whatif.OBSERVED)

"""Forms of the approvals pages; all validation on the server."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from approvals import selectors, whatif
from approvals.audit.export import CUSTOMER_ID, AuditFilters
from approvals.delegation import services as delegations
from approvals.models import AuditExport
from approvals.services import APPROVE, MAX_BULK_ORDERS, REJECT
from orders.amounts import MAX_ID
from orders.forms import request_id_field
from orders.models import OrderStatus


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


# Far enough either way for any real trail, near enough that a day past the
# end and a time zone's offset stay inside what datetime can hold.
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(9998, 12, 31)
DAY_ERRORS = {"invalid": "Enter a date as YYYY-MM-DD."}


def _day_field(label: str, help_text: str) -> forms.DateField:
    return forms.DateField(label=label, required=False, input_formats=["%Y-%m-%d"], help_text=help_text,
                           widget=forms.DateInput(attrs={"type": "date"}), error_messages=DAY_ERRORS)


class AuditExportForm(forms.Form):
    """The audit export's filters; every field optional (none: the whole trail)."""

    records = forms.ChoiceField(choices=AuditExport.Records.choices, required=False, initial=AuditExport.Records.ALL)
    format = forms.ChoiceField(choices=AuditExport.Format.choices, required=False, initial=AuditExport.Format.CSV)
    date_from = _day_field("From", "First day included.")
    date_to = _day_field("To", "Last day included.")
    approver = forms.CharField(label="Approver or actor", max_length=150, required=False,
                               help_text="Username: decisions by them and timeline entries they made.")
    customer = forms.CharField(max_length=200, required=False, help_text="Customer id, e-mail, or part of the name.")
    state = forms.ChoiceField(label="Order state", choices=[("", "Any"), *OrderStatus.choices], required=False,
                              help_text="The order's state now.")

    def _day(self, name: str) -> date | None:
        day = self.cleaned_data.get(name)
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
            raise forms.ValidationError(f"Enter a date from {EARLIEST_DAY:%Y-%m-%d} to {LATEST_DAY:%Y-%m-%d}.")
        return day

    def clean_date_from(self) -> date | None:
        return self._day("date_from")

    def clean_date_to(self) -> date | None:
        return self._day("date_to")

    def clean_customer(self) -> str:
        text = self.cleaned_data["customer"]
        if CUSTOMER_ID.fullmatch(text) and not 1 <= int(text) <= MAX_ID:
            raise forms.ValidationError("No customer has that id.")
        return text

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("date_from"), cleaned.get("date_to")
        if since and until and since > until:
            self.add_error("date_to", "The last day comes before the first.")
        return cleaned

    @property
    def fmt(self) -> str:
        return self.cleaned_data["format"] or AuditExport.Format.CSV

    @property
    def filters(self) -> AuditFilters:
        data = self.cleaned_data
        return AuditFilters(
            records=data["records"] or AuditExport.Records.ALL,
            since=_start_of(data["date_from"]), until=_start_of(data["date_to"] + timedelta(days=1)) if data["date_to"] else None,
            actor=data["approver"], customer=data["customer"], state=data["state"],
        )

    @property
    def described(self) -> dict[str, str]:
        """The filters as recorded with the export: only those given, dates as ISO text."""
        data = self.cleaned_data
        return {name: value.isoformat() if isinstance(value, date) else value
                for name in ("date_from", "date_to", "approver", "customer", "state") if (value := data[name])}


def _start_of(day: date | None) -> datetime | None:
    """Midnight of `day` in the desk's time zone: "from 1 March" means the desk's 1 March."""
    return None if day is None else timezone.make_aware(datetime.combine(day, time.min))


class DelegationForm(forms.Form):
    """Out of office: who holds my approvals, from which day to which (inclusive)."""

    substitute = forms.ModelChoiceField(
        queryset=None, to_field_name="username", empty_label="Choose an approver",
        error_messages={"invalid_choice": "Choose an active approver other than yourself."},
    )
    first_day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    last_day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), help_text="Inclusive: you are back the day after.")

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["substitute"].queryset = selectors.approvers().exclude(pk=user.pk)

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("first_day"), cleaned.get("last_day")
        if first is None or last is None:
            return cleaned
        if first < timezone.localdate():
            self.add_error("first_day", "The first day cannot be in the past.")
            return cleaned
        try:
            cleaned["starts_at"], cleaned["ends_at"] = delegations.day_range(first, last)
        except forms.ValidationError as err:
            self.add_error(None, err)
        return cleaned

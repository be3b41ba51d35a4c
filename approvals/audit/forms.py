"""The audit export's filter form; all validation on the server."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone

from approvals.audit.export import CUSTOMER_ID, AuditFilters
from approvals.models import AuditExport
from orders.amounts import MAX_ID
from orders.models import OrderStatus

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

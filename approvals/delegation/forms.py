"""The out-of-office form; all validation on the server."""
from __future__ import annotations

from django import forms
from django.utils import timezone

from approvals import selectors
from approvals.delegation import services as delegations


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

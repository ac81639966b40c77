"""Forms of the credits pages: an overage cap (a user's or an assigned group's)."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from subscriptions.validators import parse_cap


class OverageCapForm(forms.Form):
    """A cap in credits a month: empty (or the Remove button) for no cap, 0 for no overage. The service checks it
    again (`credits.services.caps`); this form answers at the field first."""

    overage_cap = forms.CharField(
        required=False,
        max_length=32,
        label="Overage cap (credits a month)",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, help_text: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        if help_text:
            self.fields["overage_cap"].help_text = help_text

    def clean_overage_cap(self) -> Decimal | None:
        if self.data.get("remove"):
            return None
        try:
            return parse_cap(self.cleaned_data["overage_cap"])
        except ValueError as error:
            raise forms.ValidationError(str(error), code="invalid") from None

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from kiroconsole.models import User

EXPIRY_CHOICES = [
    ("30", "30 days"),
    ("90", "90 days"),
    ("365", "1 year"),
    ("never", "Never (not recommended)"),
]


class ApiTokenForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        label="Console user",
        help_text="The token acts with this user's role.",
        to_field_name="username",
    )
    name = forms.CharField(
        max_length=100,
        label="Name",
        help_text="What the token is for, e.g. 'Terraform' or 'metering service'.",
    )
    expires = forms.ChoiceField(choices=EXPIRY_CHOICES, initial="90", label="Expires after")

    def expires_at(self):
        value = self.cleaned_data["expires"]
        if value == "never":
            return None
        return timezone.now() + timedelta(days=int(value))


def apply_service_errors(form: forms.BaseForm, exc) -> None:
    """Show a service's ValidationError on a form: at the field when the form has it, else above the form."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)

from __future__ import annotations

from django import forms

from accounts.models import AccountKind, AwsAccount, InstanceKind, Region


class AwsAccountForm(forms.Form):
    account_id = forms.CharField(
        label="Account id",
        max_length=12,
        help_text="The 12-digit AWS account id, e.g. 123456789012.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    name = forms.CharField(max_length=100, help_text="A name people recognise, e.g. 'Engineering'.")
    kind = forms.ChoiceField(choices=AccountKind.choices, initial=AccountKind.MEMBER, label="Kind")


class AwsAccountEditForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=AccountKind.choices, label="Kind")


class IdentityCenterForm(forms.Form):
    identity_store_id = forms.CharField(
        label="Identity store id", max_length=12, help_text="'d-' and 10 hex digits, as IAM Identity Center shows it."
    )
    name = forms.CharField(max_length=100)
    region = forms.ModelChoiceField(
        queryset=Region.objects.all(), label="Home Region", help_text="Where user identities are managed."
    )
    account = forms.ModelChoiceField(queryset=AwsAccount.objects.all(), label="AWS account")
    kind = forms.ChoiceField(choices=InstanceKind.choices, initial=InstanceKind.ORGANIZATION, label="Kind")


class IdentityCenterEditForm(forms.Form):
    name = forms.CharField(max_length=100)

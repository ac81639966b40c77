from __future__ import annotations

from django import forms

from accounts.models import IdentityCenterInstance


class DirectoryUserForm(forms.Form):
    identity_center = forms.ModelChoiceField(
        queryset=IdentityCenterInstance.objects.all(), label="Directory (Identity Center)", empty_label=None
    )
    user_name = forms.CharField(max_length=128, label="User name", help_text="Unique in the directory; no spaces.")
    display_name = forms.CharField(max_length=256, label="Display name")
    given_name = forms.CharField(max_length=128, label="Given name")
    family_name = forms.CharField(max_length=128, label="Family name")
    email = forms.CharField(max_length=254, label="Email", widget=forms.EmailInput)
    external_id = forms.CharField(
        max_length=256,
        required=False,
        label="External id",
        help_text="The identity provider's id for this user, if any.",
    )
    active = forms.BooleanField(required=False, initial=True, label="Active (may use Kiro)")


class DirectoryUserEditForm(DirectoryUserForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["identity_center"]


class DirectoryGroupForm(forms.Form):
    identity_center = forms.ModelChoiceField(
        queryset=IdentityCenterInstance.objects.all(), label="Directory (Identity Center)", empty_label=None
    )
    display_name = forms.CharField(max_length=128, label="Display name", help_text="Unique in the directory.")
    description = forms.CharField(max_length=1024, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    external_id = forms.CharField(max_length=256, required=False, label="External id")


class DirectoryGroupEditForm(DirectoryGroupForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        del self.fields["identity_center"]

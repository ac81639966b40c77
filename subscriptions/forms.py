from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.db import models

from accounts.models import AwsAccount, IdentityCenterInstance, Region
from subscriptions.models import AiModel, ProfileSettings


class ProfileForm(forms.Form):
    account = forms.ModelChoiceField(
        queryset=AwsAccount.objects.all(), label="AWS account", empty_label="Choose an account"
    )
    region = forms.ChoiceField(
        label="Region", help_text="Kiro profiles exist in us-east-1, eu-central-1 and the GovCloud Regions."
    )
    identity_center = forms.ModelChoiceField(
        queryset=IdentityCenterInstance.objects.select_related("region"),
        label="IAM Identity Center instance",
        empty_label="Choose an instance",
    )
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        # Its own ids: the create dialog sits on the profile list, whose filter form has `account` and `region`
        # too, and Django's default ids (id_account, id_region) would make the dialog's labels point at the filters.
        kwargs.setdefault("auto_id", "id_create_%s")
        super().__init__(*args, **kwargs)
        regions = list(Region.objects.all())
        cast(forms.ChoiceField, self.fields["region"]).choices = [
            ("", "Choose a Region"),
            ("Regions with Kiro profiles", [(r.code, str(r)) for r in regions if r.kiro_profiles]),
            ("Other Regions", [(r.code, str(r)) for r in regions if not r.kiro_profiles]),
        ]

    def clean_region(self) -> Region:
        return Region.objects.get(code=self.cleaned_data["region"])


class ProfileEditForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 3}))


@dataclass(frozen=True)
class SettingsSection:
    """One card of the settings page: its fields are saved together by one form."""

    slug: str
    title: str
    help: str
    fields: tuple[str, ...]

    @property
    def autosave(self) -> bool:
        """A section of switches only is saved as soon as one is toggled (with htmx)."""
        return all(isinstance(ProfileSettings._meta.get_field(f), models.BooleanField) for f in self.fields)


SECTIONS = [
    SettingsSection(
        "encryption",
        "Encryption",
        "Data at rest is encrypted with an AWS-owned key, or with a customer-managed KMS key in the profile's Region.",
        ("kms_key_arn",),
    ),
    SettingsSection(
        "code-references",
        "Suggestions with code references",
        "Allow suggestions that match public code, shown with their references and licences.",
        ("code_references",),
    ),
    SettingsSection(
        "usage-dashboard", "Usage dashboard", "Show the usage dashboard on the profile's page.", ("usage_dashboard",)
    ),
    SettingsSection(
        "user-activity-report",
        "User activity report",
        "Write a daily CSV report of each user's activity to an S3 bucket, under a prefix.",
        ("user_activity_report", "report_bucket", "report_prefix"),
    ),
    SettingsSection(
        "prompt-logging",
        "Prompt logging",
        "Log users' prompts to an S3 bucket, under a prefix.",
        ("prompt_logging", "prompt_bucket", "prompt_prefix"),
    ),
    SettingsSection(
        "member-accounts",
        "Member account subscriptions",
        "For a profile in the management account: also show the subscriptions of member accounts' profiles.",
        ("member_account_subscriptions",),
    ),
    SettingsSection(
        "mcp",
        "Model Context Protocol (MCP)",
        "Let users connect MCP servers; optionally only those of your MCP registry.",
        ("mcp_enabled", "mcp_registry_url"),
    ),
    SettingsSection("web-tools", "Web tools", "Let the agent search and fetch web pages.", ("web_tools",)),
    SettingsSection(
        "overages",
        "Overages",
        "Let users go on beyond their tier's monthly credits, at $0.04 a credit.",
        ("overage_enabled",),
    ),
    SettingsSection(
        "models",
        "Model availability",
        "Offer every model, or only the models you approve, with an optional default.",
        ("model_availability", "approved_models", "default_model"),
    ),
    SettingsSection("user-api-keys", "User API keys", "Let users create API keys for Kiro.", ("user_api_keys",)),
]
SECTIONS_BY_SLUG = {section.slug: section for section in SECTIONS}


class SettingsForm(forms.ModelForm):
    """The form of one section; `for_section` narrows it to the section's fields."""

    approved_models = forms.ModelMultipleChoiceField(
        queryset=AiModel.objects.filter(active=True),
        to_field_name="code",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Approved models",
    )
    default_model = forms.ModelChoiceField(
        queryset=AiModel.objects.filter(active=True),
        to_field_name="code",
        required=False,
        empty_label="No default",
        label="Default model",
    )

    class Meta:
        model = ProfileSettings
        fields = [f for section in SECTIONS for f in section.fields]
        widgets = {
            "model_availability": forms.RadioSelect,
            "kms_key_arn": forms.TextInput(attrs={"placeholder": "arn:aws:kms:us-east-1:111122223333:key/…"}),
            "mcp_registry_url": forms.URLInput(attrs={"placeholder": "https://mcp.example.com/registry.json"}),
        }

    @classmethod
    def for_section(cls, section: SettingsSection, *args, **kwargs) -> SettingsForm:
        kwargs["prefix"] = section.slug
        form = cls(*args, **kwargs)
        for name in list(form.fields):
            if name not in section.fields:
                del form.fields[name]
        return form

    def _post_clean(self):
        """The service validates the settings as a whole: skip the model's own field checks here."""

    def changes(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if name == "approved_models":
                data[name] = sorted(m.code for m in value)
            elif name == "default_model":
                data[name] = value.code if value else None
            else:
                data[name] = value
        return data

from __future__ import annotations

import uuid
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
        "Let users go on beyond their tier's monthly credits, at $0.04 a credit, up to the caps you set. The shared "
        "cap limits the overage of the whole profile in a month; caps per group and per user are on the Users & "
        "Groups tabs.",
        ("overage_enabled", "overage_shared_cap"),
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
            elif name == "overage_shared_cap":
                data[name] = None if value is None else str(value)
            else:
                data[name] = value
        return data


# --- Subscribing, changing plans, unsubscribing ---------------------------------------------------------------

MAX_PICKED = 1000  # users or groups one request may name (a page of the Users tab holds 50)


class TierField(forms.ChoiceField):
    """A tier, by code, chosen on the dialogs' radio cards (the templates draw the cards from the tier catalogue)."""

    widget = forms.RadioSelect

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Tier")
        kwargs.setdefault("error_messages", {"required": "Choose a tier.", "invalid_choice": "Choose a tier."})
        super().__init__(**kwargs)


class IdsField(forms.Field):
    """Several opaque ids (UUIDs) from repeated parameters (`?users=…&users=…`): malformed ones are dropped, the
    others kept in order, once each."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value) -> list[uuid.UUID]:
        ids: list[uuid.UUID] = []
        for item in value or []:
            try:
                ids.append(uuid.UUID(str(item)))
            except ValueError:
                continue
        return list(dict.fromkeys(ids))[:MAX_PICKED]

    def validate(self, value) -> None:
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")


def _tier_choices(tiers) -> list[tuple[str, str]]:
    return [(tier.code, tier.name) for tier in tiers]


class UsersPlanForm(forms.Form):
    """Change the plan of the users ticked in the Users tab."""

    tier = TierField()
    users = IdsField(error_messages={"required": "Choose at least one user: tick them in the Users tab."})

    def __init__(self, *args, tiers, **kwargs):
        super().__init__(*args, **kwargs)
        cast(TierField, self.fields["tier"]).choices = _tier_choices(tiers)


class UsersUnsubscribeForm(forms.Form):
    users = IdsField(error_messages={"required": "Choose at least one user: tick them in the Users tab."})


class GroupPlanForm(forms.Form):
    tier = TierField()

    def __init__(self, *args, tiers, **kwargs):
        super().__init__(*args, **kwargs)
        cast(TierField, self.fields["tier"]).choices = _tier_choices(tiers)


class SubscribeKind(models.TextChoices):
    USERS = "users", "Users"
    GROUPS = "groups", "Groups"


class SubscribeForm(forms.Form):
    """The subscribe dialog's state, carried from step to step in its fields: the tier (step 1), users or groups
    and the ones picked so far (step 2), then a confirmation (step 3). `add` / `remove` pick and drop one."""

    tier = TierField()
    kind = forms.ChoiceField(
        choices=SubscribeKind.choices, widget=forms.RadioSelect, initial=SubscribeKind.USERS, required=False
    )
    q = forms.CharField(required=False, max_length=100)
    users = IdsField(required=False)
    groups = IdsField(required=False)
    add = IdsField(required=False)
    remove = IdsField(required=False)

    def __init__(self, *args, tiers, **kwargs):
        super().__init__(*args, **kwargs)
        cast(TierField, self.fields["tier"]).choices = _tier_choices(tiers)

    def clean_kind(self) -> str:
        return self.cleaned_data.get("kind") or SubscribeKind.USERS

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind") or SubscribeKind.USERS
        # Only the picks of the kind in hand go on; add and remove apply to them.
        picked = [i for i in data.get(kind, []) if i not in data.get("remove", [])]
        picked += [i for i in data.get("add", []) if i not in picked]
        data["users"] = picked[:MAX_PICKED] if kind == SubscribeKind.USERS else []
        data["groups"] = picked[:MAX_PICKED] if kind == SubscribeKind.GROUPS else []
        return data

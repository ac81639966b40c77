"""Kiro profiles and their settings, and the model catalogue (DOMAIN.md §2, §3, §6)."""

from __future__ import annotations

import secrets
import string

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from accounts.models import AwsAccount, IdentityCenterInstance, Region

PROFILE_ID_ALPHABET = string.ascii_uppercase + string.digits
MODEL_CODE_VALIDATOR = RegexValidator(
    r"^[a-z0-9][a-z0-9._-]*\Z", "Use lower-case letters, digits, dots, hyphens and underscores, like claude-sonnet-4.5."
)


def new_profile_id() -> str:
    """An opaque profile id as in the real ARNs: 12 upper-case letters and digits."""
    return "".join(secrets.choice(PROFILE_ID_ALPHABET) for _ in range(12))


class AiModel(models.Model):
    """The model catalogue: what a credit costs on each model relative to Auto (editable by superusers)."""

    # Not a SlugField: model ids have dots (claude-sonnet-4.5), which the slug validator refuses in the admin.
    code = models.CharField(
        max_length=64,
        unique=True,
        validators=[MODEL_CODE_VALIDATOR],
        help_text="The id clients send, e.g. claude-sonnet-4.5.",
    )
    name = models.CharField(max_length=100)
    credit_multiplier = models.DecimalField(
        max_digits=5, decimal_places=2, validators=[MinValueValidator(0)], help_text="Relative to Auto (1.00)."
    )
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = "AI model"
        constraints = [
            models.CheckConstraint(condition=models.Q(credit_multiplier__gte=0), name="aimodel_multiplier_not_negative")
        ]

    def __str__(self) -> str:
        return self.name


class ProfileQuerySet(models.QuerySet["Profile"]):
    def live(self):
        return self.filter(deleted_at__isnull=True)


class Profile(models.Model):
    """A Kiro profile: settings and subscriptions for one AWS account in one Region.

    Deleting a profile marks it deleted (its history, audit and billing records stay); a new profile may then
    take its account and Region.
    """

    profile_id = models.CharField("profile id", max_length=12, unique=True, default=new_profile_id, editable=False)
    account = models.ForeignKey(AwsAccount, on_delete=models.PROTECT, related_name="profiles")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="profiles")
    identity_center = models.ForeignKey(IdentityCenterInstance, on_delete=models.PROTECT, related_name="profiles")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = ProfileQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "Kiro profile"
        constraints = [
            models.UniqueConstraint(
                fields=["account", "region"],
                condition=models.Q(deleted_at__isnull=True),
                name="one_profile_per_account_and_region",
                violation_error_message="This AWS account already has a Kiro profile in this Region.",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def arn(self) -> str:
        return (
            f"arn:{self.region.partition}:codewhisperer:{self.region_id}:{self.account.account_id}"
            f":profile/{self.profile_id}"
        )

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class ModelAvailability(models.TextChoices):
    ALL = "all", "All models"
    APPROVED = "approved", "Only approved models"


class ProfileSettings(models.Model):
    """Every setting an administrator controls for a profile (DOMAIN.md §6). One row per profile."""

    profile = models.OneToOneField(Profile, on_delete=models.CASCADE, primary_key=True, related_name="settings")
    kms_key_arn = models.CharField(
        "customer-managed KMS key", max_length=2048, blank=True, help_text="Empty: an AWS-owned key encrypts the data."
    )
    code_references = models.BooleanField("suggestions with code references", default=False)
    usage_dashboard = models.BooleanField("usage dashboard", default=True)
    user_activity_report = models.BooleanField("user activity report", default=False)
    report_bucket = models.CharField("report S3 bucket", max_length=63, blank=True)
    report_prefix = models.CharField("report S3 prefix", max_length=512, blank=True)
    prompt_logging = models.BooleanField("prompt logging", default=False)
    prompt_bucket = models.CharField("prompt log S3 bucket", max_length=63, blank=True)
    prompt_prefix = models.CharField("prompt log S3 prefix", max_length=512, blank=True)
    member_account_subscriptions = models.BooleanField("member account subscriptions", default=False)
    mcp_enabled = models.BooleanField("Model Context Protocol (MCP)", default=True)
    mcp_registry_url = models.URLField("MCP registry URL", max_length=2048, blank=True)
    web_tools = models.BooleanField("web tools (web search and fetch)", default=True)
    overage_enabled = models.BooleanField("overages", default=False)
    model_availability = models.CharField(
        max_length=16, choices=ModelAvailability.choices, default=ModelAvailability.ALL
    )
    approved_models = models.ManyToManyField(AiModel, blank=True, related_name="+")
    default_model = models.ForeignKey(AiModel, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    user_api_keys = models.BooleanField("user API keys", default=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "profile settings"
        verbose_name_plural = "profile settings"

    def __str__(self) -> str:
        return f"Settings of {self.profile}"

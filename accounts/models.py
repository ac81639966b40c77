"""The organization: AWS Regions, AWS accounts and IAM Identity Center instances (DOMAIN.md §2)."""

from __future__ import annotations

import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from django.utils import timezone

ACCOUNT_ID_VALIDATOR = RegexValidator(r"^\d{12}\Z", "An AWS account id is exactly 12 digits, like 123456789012.")
IDENTITY_STORE_ID_VALIDATOR = RegexValidator(
    r"^d-[0-9a-f]{10}\Z", "An identity store id is 'd-' and 10 lowercase hex digits, like d-9067a1b2c3."
)


class Partition(models.TextChoices):
    AWS = "aws", "AWS (commercial)"
    AWS_US_GOV = "aws-us-gov", "AWS GovCloud (US)"


class Region(models.Model):
    """An AWS Region, from the catalogue seeded by migration 0002_regions."""

    code = models.CharField(max_length=32, primary_key=True)
    name = models.CharField(max_length=100)
    partition = models.CharField(max_length=16, choices=Partition.choices)
    opt_in = models.BooleanField(default=False, help_text="Opt-in Region: must be enabled in an account first.")
    kiro_profiles = models.BooleanField(default=False, help_text="Kiro profiles may be created here.")
    identity_center = models.BooleanField(default=False, help_text="IAM Identity Center instances may live here.")

    class Meta:
        ordering = ["partition", "code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def is_govcloud(self) -> bool:
        return self.partition == Partition.AWS_US_GOV


class AccountKind(models.TextChoices):
    MANAGEMENT = "management", "Management account"
    MEMBER = "member", "Member account"


class AwsAccount(models.Model):
    account_id = models.CharField(
        "account id", max_length=12, unique=True, validators=[ACCOUNT_ID_VALIDATOR], help_text="12 digits."
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=AccountKind.choices, default=AccountKind.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "account_id"]
        verbose_name = "AWS account"
        constraints = [
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(kind="management"),
                name="accounts_one_management_account",
                violation_error_message="The organization already has a management account.",
            ),
            models.CheckConstraint(condition=Exact(Length("account_id"), 12), name="accounts_account_id_12_characters"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"

    @property
    def is_management(self) -> bool:
        return self.kind == AccountKind.MANAGEMENT


class InstanceKind(models.TextChoices):
    ORGANIZATION = "organization", "Organization instance"
    ACCOUNT = "account", "Account instance"


class IdentityCenterInstance(models.Model):
    """An IAM Identity Center instance: its identity store is a directory of users and groups."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    identity_store_id = models.CharField(
        "identity store id", max_length=12, unique=True, validators=[IDENTITY_STORE_ID_VALIDATOR]
    )
    name = models.CharField(max_length=100)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="identity_centers")
    account = models.ForeignKey(AwsAccount, on_delete=models.PROTECT, related_name="identity_centers")
    kind = models.CharField(max_length=16, choices=InstanceKind.choices, default=InstanceKind.ORGANIZATION)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = "Identity Center instance"
        constraints = [
            # AWS: one instance per account, and one organization instance per organization.
            models.UniqueConstraint(fields=["account"], name="accounts_one_instance_per_account"),
            models.UniqueConstraint(
                fields=["kind"],
                condition=models.Q(kind="organization"),
                name="accounts_one_organization_instance",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.identity_store_id})"

    @property
    def arn(self) -> str:
        partition = self.region.partition
        return f"arn:{partition}:sso:::instance/ssoins-{self.id.hex[:16]}"

"""Kiro profiles and their settings, and the model catalogue (DOMAIN.md §2, §3, §6)."""

from __future__ import annotations

import secrets
import string
import uuid

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
    overage_shared_cap = models.DecimalField(
        "shared monthly overage cap (credits)",
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="The most overage credits the whole profile may use in a month. Empty: no shared cap; 0: none.",
    )
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
        constraints = [
            models.CheckConstraint(
                condition=models.Q(overage_shared_cap__isnull=True) | models.Q(overage_shared_cap__gte=0),
                name="settings_shared_cap_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"Settings of {self.profile}"


# --- Tiers and subscriptions (DOMAIN.md §3, §4) ---------------------------------------------------------------

TIER_CODE_VALIDATOR = RegexValidator(
    r"^[A-Z][A-Z0-9_]*\Z", "Use upper-case letters, digits and underscores, like PRO_PLUS."
)


class Tier(models.Model):
    """A priced plan with a monthly credit allowance. Seeded by a migration; superusers edit it in the admin."""

    code = models.CharField(max_length=16, primary_key=True, validators=[TIER_CODE_VALIDATOR])
    name = models.CharField(max_length=50, unique=True)
    monthly_credits = models.PositiveIntegerField("credits per month")
    price = models.DecimalField(
        "price per user per month (USD)", max_digits=8, decimal_places=2, validators=[MinValueValidator(0)]
    )
    rank = models.PositiveSmallIntegerField(
        unique=True, help_text="Higher is better: a subscription takes the highest tier among its sources."
    )

    class Meta:
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name


class SubscriptionStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    ACTIVE = "ACTIVE", "Active"
    CANCELED = "CANCELED", "Canceled"


class GroupAssignment(models.Model):
    """A group subscribed in a profile at a tier: each of its active members gets a subscription (there is no
    group subscription, DOMAIN.md §2). Removed when the group is unassigned; the subscriptions keep the history."""

    profile = models.ForeignKey(Profile, on_delete=models.PROTECT, related_name="group_assignments")
    group = models.ForeignKey("directory.DirectoryGroup", on_delete=models.PROTECT, related_name="assignments")
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="+")
    overage_cap = models.DecimalField(
        "overage cap per member (credits a month)",
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Empty: no group cap. A member of several capped groups gets the highest of their caps.",
    )
    assigned_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["profile", "group__display_name"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "group"], name="one_assignment_per_group"),
            models.CheckConstraint(
                condition=models.Q(overage_cap__isnull=True) | models.Q(overage_cap__gte=0),
                name="groupassignment_overage_cap_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group} in {self.profile} at {self.tier_id}"


class Subscription(models.Model):
    """One user subscribed in one profile (DOMAIN.md §4).

    Its sources are the direct assignment (`direct_tier`) and the assigned groups the user is a member of; `tier`
    is the highest among them, except that a downgrade waits for the 1st: until `next_tier_from` the subscription
    keeps `tier`, from then on it has `next_tier`. `direct_opt_out` records an unsubscribe: the groups' sources
    do not count until the user is subscribed directly again. A canceled subscription keeps its access until
    `access_until` (the 1st of the month after the cancellation). Reads derive the current tier from these dates
    and the time (see `effective_tier`), so no scheduled job is needed; writes settle due downgrades first.
    `SubscriptionPeriod` keeps the tier and status of every period, to bill any past month exactly.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    profile = models.ForeignKey(Profile, on_delete=models.PROTECT, related_name="subscriptions")
    user = models.ForeignKey("directory.DirectoryUser", on_delete=models.PROTECT, related_name="subscriptions")
    # The user's name, kept here so that the Users tab's order (user name, then user id) is read from the
    # (profile, user name, user) index of the profile's subscriptions alone. Written with the subscription
    # (services.propagation) and when the directory renames the user (services.subscribing, users_renamed).
    user_name = models.CharField("user name", max_length=128, default="", editable=False)
    status = models.CharField(max_length=8, choices=SubscriptionStatus.choices, default=SubscriptionStatus.PENDING)
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="+")
    next_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    next_tier_from = models.DateTimeField(null=True, blank=True)
    direct_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    direct_opt_out = models.BooleanField(default=False)
    subscribed_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    access_until = models.DateTimeField(null=True, blank=True)
    last_active_at = models.DateTimeField(null=True, blank=True)
    overage_cap = models.DecimalField(
        "overage cap (credits a month)",
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Empty: no cap of this user's own. 0: no overage for this user.",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["profile", "user_name", "user"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "user"], name="one_subscription_per_user_and_profile"),
            models.CheckConstraint(
                condition=models.Q(next_tier__isnull=True, next_tier_from__isnull=True)
                | models.Q(next_tier__isnull=False, next_tier_from__isnull=False),
                name="subscription_next_tier_with_its_date",
            ),
            models.CheckConstraint(
                condition=models.Q(status="CANCELED", canceled_at__isnull=False, access_until__isnull=False)
                | (~models.Q(status="CANCELED") & models.Q(canceled_at__isnull=True, access_until__isnull=True)),
                name="subscription_canceled_with_its_dates",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="ACTIVE") | models.Q(activated_at__isnull=False),
                name="subscription_active_since",
            ),
            models.CheckConstraint(
                condition=models.Q(overage_cap__isnull=True) | models.Q(overage_cap__gte=0),
                name="subscription_overage_cap_not_negative",
            ),
        ]
        indexes = [
            # The Users tab sorts a profile's subscriptions by status, subscribed or last active (then id): each
            # order walks its index and stops after a page. The first also serves (profile, status) look-ups.
            models.Index(fields=["profile", "status", "subscribed_at", "id"], name="subscription_status_idx"),
            models.Index(fields=["profile", "subscribed_at", "id"], name="subscription_subscribed_idx"),
            models.Index(fields=["profile", "last_active_at", "id"], name="subscription_last_active_idx"),
            # The profile page counts subscriptions per tier and status from this index alone, and the dashboard
            # reads the latest change with them (whether its cached seat counts still hold).
            models.Index(
                fields=["profile", "status", "tier", "next_tier", "next_tier_from", "updated_at"],
                name="subscription_tier_counts_idx",
            ),
            # A user's subscriptions; with the profile in it, the Users tab's walk of the users by name tells from
            # this index alone whether each user is subscribed in the profile (see selectors.profile_subscriptions).
            models.Index(fields=["user", "profile"], name="subscription_user_idx"),
            # The Users tab's default order: a page, however deep, walks this index of the profile alone.
            models.Index(fields=["profile", "user_name", "user"], name="subscription_user_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.profile}"

    def effective_tier_id(self, now=None) -> str:
        now = now or timezone.now()
        if self.next_tier_id is not None and self.next_tier_from is not None and self.next_tier_from <= now:
            return self.next_tier_id
        return self.tier_id

    def has_access(self, now=None) -> bool:
        now = now or timezone.now()
        return self.status != SubscriptionStatus.CANCELED or (self.access_until is not None and now < self.access_until)


class SubscriptionPeriod(models.Model):
    """A stretch of time with one tier and status: the history a past month is billed from. The open period
    (`ends_at` empty) is the current one; a due downgrade of its subscription starts a new one at `next_tier_from`
    (written when the subscription is next changed; billing reads the pending one from the subscription)."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="periods")
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=8, choices=SubscriptionStatus.choices)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["subscription", "starts_at", "id"]
        indexes = [models.Index(fields=["subscription", "starts_at"], name="period_subscription_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True) | models.Q(ends_at__gte=models.F("starts_at")),
                name="period_ends_after_it_starts",
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscription}: {self.tier_id} {self.status} from {self.starts_at:%Y-%m-%d}"

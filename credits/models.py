"""Usage events, monthly balances and alerts (DOMAIN.md §3, §5).

A usage event is appended once per idempotency key and never changed. The accepted ones are summed, in the same
transaction, into the `Balance` of their subscription and month (plan and overage credits) and, for overage, the
`ProfileBalance` the shared cap is held against. Balances change only by conditional `UPDATE ... F()` statements
and are backed by check constraints, so no race can push them past the allowance; `manage.py check_balances`
proves they equal the sums of the accepted events.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class ClientType(models.TextChoices):
    """Where Kiro was used (the user activity report's `Client_Type`)."""

    KIRO_IDE = "KIRO_IDE", "Kiro IDE"
    KIRO_CLI = "KIRO_CLI", "Kiro CLI"


class Outcome(models.TextChoices):
    PLAN = "PLAN", "Accepted: plan credits"
    OVERAGE = "OVERAGE", "Accepted: overage"
    REJECTED = "REJECTED", "Rejected"


class Reason(models.TextChoices):
    """Why an event was rejected; the HTTP status a single event gets for it is in `credits.metering`."""

    NOT_SUBSCRIBED = "not_subscribed", "The user has no subscription in this profile."
    NOT_YET_SUBSCRIBED = "not_yet_subscribed", "The user was not subscribed yet when the event occurred."
    ACCESS_ENDED = "access_ended", "The subscription was canceled and its access has ended."
    USER_INACTIVE = "user_inactive", "The user is deactivated or deleted in the directory."
    MODEL_NOT_APPROVED = "model_not_approved", "The model is not approved in this profile."
    ALLOWANCE_EXHAUSTED = "allowance_exhausted", "The month's credits are used up and overage is off."
    USER_CAP = "user_cap_reached", "The user's overage cap would be exceeded."
    GROUP_CAP = "group_cap_reached", "The group overage cap would be exceeded."
    SHARED_CAP = "shared_cap_reached", "The profile's shared overage cap would be exceeded."


class UsageEvent(models.Model):
    """One use of Kiro reported by a client (append-only). Rejected events are kept and count nowhere.

    The answer given the first time (outcome, reason, plan and overage credits, credits remaining) is stored, so a
    replay of the key gets it again; `payload_hash` tells a replay from another payload under the same key. Who
    recorded it (API token or command, and from where) is the event's own audit record."""

    id = models.BigAutoField(primary_key=True)
    profile = models.ForeignKey(
        "subscriptions.Profile", on_delete=models.PROTECT, related_name="usage_events", db_index=False
    )
    idempotency_key = models.CharField(max_length=128)
    payload_hash = models.CharField(max_length=64)
    user = models.ForeignKey("directory.DirectoryUser", on_delete=models.PROTECT, related_name="usage_events")
    subscription = models.ForeignKey(
        "subscriptions.Subscription",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="usage_events",
        db_index=False,
    )
    tier = models.ForeignKey(
        "subscriptions.Tier",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The tier whose allowance the event counted against (the highest held that month); accepted only.",
    )
    credits = models.DecimalField(max_digits=12, decimal_places=2)
    occurred_at = models.DateTimeField()
    month = models.DateField(help_text="The first day of the (UTC) month the event counts in.")
    client_type = models.CharField(max_length=16, choices=ClientType.choices)
    model = models.CharField(max_length=64)
    messages = models.PositiveIntegerField(default=1)
    conversations = models.PositiveIntegerField(
        default=1,
        help_text="Chat conversations the record stands for: 1 for an event; a day's count for a user activity "
        "report row brought in by import_user_report.",
    )
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    plan_credits = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    overage_credits = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    remaining_credits = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    received_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=16)
    recorded_by = models.CharField(max_length=200)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "idempotency_key"], name="usage_event_key_unique_per_profile"),
            models.CheckConstraint(condition=Q(credits__gt=0), name="usage_event_credits_positive"),
            models.CheckConstraint(
                condition=Q(outcome="PLAN", plan_credits=F("credits"), overage_credits=0, reason="")
                | Q(outcome="OVERAGE", plan_credits=0, overage_credits=F("credits"), reason="")
                | (Q(outcome="REJECTED", plan_credits=0, overage_credits=0) & ~Q(reason="")),
                name="usage_event_outcome_counts",
            ),
        ]
        indexes = [
            models.Index(fields=["subscription", "month"], name="usage_event_subscription_idx"),
            models.Index(fields=["profile", "occurred_at"], name="usage_event_profile_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key}: {self.credits} credits, {self.get_outcome_display()}"

    @property
    def accepted(self) -> bool:
        return self.outcome != Outcome.REJECTED


def credits_of(hundredths: int) -> Decimal:
    """Hundredths of a credit (how balances count, exactly on every database) as a Decimal of credits."""
    return Decimal(hundredths).scaleb(-2)


def hundredths_of(credits: Decimal) -> int:
    return int(credits.scaleb(2))


class Balance(models.Model):
    """Credits a subscription used in one calendar month, counted in hundredths of a credit (integers: exact on
    SQLite too, where decimals are stored as floating point). `plan` never passes `allowance` (the credits of the
    highest tier held that month); `overage` is what went beyond it."""

    subscription = models.ForeignKey(
        "subscriptions.Subscription", on_delete=models.PROTECT, related_name="balances", db_index=False
    )
    month = models.DateField()
    allowance_hundredths = models.BigIntegerField()
    plan_hundredths = models.BigIntegerField(default=0)
    overage_hundredths = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["subscription", "-month"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "month"], name="balance_unique_per_month"),
            models.CheckConstraint(condition=Q(plan_hundredths__gte=0), name="balance_plan_used_not_negative"),
            models.CheckConstraint(
                condition=Q(plan_hundredths__lte=F("allowance_hundredths")), name="balance_plan_within_allowance"
            ),
            models.CheckConstraint(condition=Q(overage_hundredths__gte=0), name="balance_overage_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.subscription} {self.month:%Y-%m}: {self.plan_used}/{self.allowance} + {self.overage_used}"

    @property
    def allowance(self) -> Decimal:
        return credits_of(self.allowance_hundredths)

    @property
    def plan_used(self) -> Decimal:
        return credits_of(self.plan_hundredths)

    @property
    def overage_used(self) -> Decimal:
        return credits_of(self.overage_hundredths)

    @property
    def used(self) -> Decimal:
        return credits_of(self.plan_hundredths + self.overage_hundredths)


class ProfileBalance(models.Model):
    """Overage a whole profile used in one month (hundredths of a credit): what its shared cap is held against."""

    profile = models.ForeignKey("subscriptions.Profile", on_delete=models.PROTECT, related_name="balances")
    month = models.DateField()
    overage_hundredths = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["profile", "-month"]
        constraints = [
            models.UniqueConstraint(fields=["profile", "month"], name="profile_balance_unique_per_month"),
            models.CheckConstraint(condition=Q(overage_hundredths__gte=0), name="profile_balance_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.profile} {self.month:%Y-%m}: {self.overage_used} overage credits"

    @property
    def overage_used(self) -> Decimal:
        return credits_of(self.overage_hundredths)


class NotificationKind(models.TextChoices):
    ALLOWANCE = "ALLOWANCE", "Allowance threshold"
    SHARED_CAP = "SHARED_CAP", "Shared overage cap reached"


class Notification(models.Model):
    """An alert shown in the console (and mailed to administrators): a user crossing 50, 75, 90 or 100% of the
    month's allowance, or a profile reaching its shared overage cap. At most one per threshold and month
    (`key` is unique), however many events race across it."""

    key = models.CharField(max_length=120, unique=True)
    profile = models.ForeignKey("subscriptions.Profile", on_delete=models.PROTECT, related_name="notifications")
    subscription = models.ForeignKey(
        "subscriptions.Subscription", null=True, blank=True, on_delete=models.PROTECT, related_name="notifications"
    )
    kind = models.CharField(max_length=16, choices=NotificationKind.choices)
    month = models.DateField()
    threshold = models.PositiveSmallIntegerField(help_text="Percent of the allowance (or of the cap).")
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["read_at", "created_at"], name="notification_unread_idx"),
            models.Index(fields=["profile", "created_at"], name="notification_profile_idx"),
        ]

    def __str__(self) -> str:
        return self.message


# Rollups (DOMAIN.md §7): what the dashboard, the usage explorer, chargeback and the user activity report read,
# never the raw events. Kept in the metering transaction by `credits.services.rollups.rollups_add` (and by the
# imports through it); `manage.py rebuild_rollups --check` recomputes them from the accepted events and compares.
#
# Metering writes these tables (and the events and balances) with every accepted event, so they carry no index a
# query does not need: each index is one more page written per event, at a random place for a user's id (on
# SQLite a page of the write-ahead log and, at the checkpoint, of the file; measured: a fifth of the bytes written
# per single event). `db_index=False` on a foreign key whose column leads a unique constraint or an index (every
# read of the column uses that one), and on `user` where every read names the profile too (the (profile, user, …)
# indexes serve it). The console never deletes a user, only marks it deleted; deleting one outright (the benches'
# clean-up does) has its foreign key checks scan these tables.


class UsageTotalsBase(models.Model):
    """Sums of accepted usage: credits in hundredths (exact on every database), messages, and events (the chat
    conversations of the user activity report: one an event, or what an imported report row says)."""

    plan_hundredths = models.BigIntegerField(default=0)
    overage_hundredths = models.BigIntegerField(default=0)
    messages = models.BigIntegerField(default=0)
    events = models.BigIntegerField(default=0)

    class Meta:
        abstract = True

    @property
    def plan_credits(self) -> Decimal:
        return credits_of(self.plan_hundredths)

    @property
    def overage_credits(self) -> Decimal:
        return credits_of(self.overage_hundredths)


class DailyUsage(UsageTotalsBase):
    """A user's accepted usage in one UTC day, per client type, model and tier (the tier the events counted
    against): the explorer's rows for partial months, and the user activity report's."""

    profile = models.ForeignKey("subscriptions.Profile", on_delete=models.PROTECT, related_name="+", db_index=False)
    day = models.DateField()
    user = models.ForeignKey("directory.DirectoryUser", on_delete=models.PROTECT, related_name="+", db_index=False)
    client_type = models.CharField(max_length=16, choices=ClientType.choices)
    model = models.CharField(max_length=64)
    tier = models.ForeignKey("subscriptions.Tier", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "day", "user", "client_type", "model", "tier"], name="daily_usage_unique"
            )
        ]
        indexes = [
            # Covering: a group's (or a user's) days are summed from the index alone.
            models.Index(
                fields=["profile", "user", "day", "plan_hundredths", "overage_hundredths", "messages", "events"],
                name="daily_usage_user_sums_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.user_id} {self.client_type} {self.model} {self.tier_id}"


class MonthlyUsage(UsageTotalsBase):
    """A user's accepted usage in one UTC month, per client type, model and tier: what the explorer, top users and
    chargeback read for whole months (a month has ~30 times fewer rows than its days)."""

    profile = models.ForeignKey("subscriptions.Profile", on_delete=models.PROTECT, related_name="+", db_index=False)
    month = models.DateField()
    user = models.ForeignKey("directory.DirectoryUser", on_delete=models.PROTECT, related_name="+", db_index=False)
    client_type = models.CharField(max_length=16, choices=ClientType.choices)
    model = models.CharField(max_length=64)
    tier = models.ForeignKey("subscriptions.Tier", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "month", "user", "client_type", "model", "tier"], name="monthly_usage_unique"
            )
        ]
        indexes = [models.Index(fields=["profile", "user", "month"], name="monthly_usage_user_idx")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.user_id} {self.client_type} {self.model} {self.tier_id}"


class UserMonthlyUsage(UsageTotalsBase):
    """A user's accepted usage in one UTC month, all client types, models and tiers together: one row a user and
    month (60,000 for a month of 60,000 active users, against ~490,000 `MonthlyUsage` rows), so the top users and
    the explorer by user or group read whole months without summing the finer rows, and sort and page in SQL."""

    profile = models.ForeignKey("subscriptions.Profile", on_delete=models.PROTECT, related_name="+", db_index=False)
    month = models.DateField()
    user = models.ForeignKey("directory.DirectoryUser", on_delete=models.PROTECT, related_name="+", db_index=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["profile", "month", "user"], name="user_monthly_usage_unique")]
        indexes = [
            # The top users and the explorer's default order (credits, most first) read from this index.
            models.Index(
                F("profile"),
                F("month"),
                (F("plan_hundredths") + F("overage_hundredths")).desc(),
                name="user_monthly_usage_total_idx",
            ),
            # A user's (or a group's users') months: the explorer filtered by user or group over whole months.
            models.Index(fields=["profile", "user", "month"], name="user_monthly_usage_user_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.user_id}"


class ProfileDailyUsage(UsageTotalsBase):
    """A profile's accepted usage in one UTC day per client type, model and tier, all users together: the
    dashboard's credit charts and the explorer when it neither filters nor groups by user or group."""

    profile = models.ForeignKey("subscriptions.Profile", on_delete=models.PROTECT, related_name="+", db_index=False)
    day = models.DateField()
    client_type = models.CharField(max_length=16, choices=ClientType.choices)
    model = models.CharField(max_length=64)
    tier = models.ForeignKey("subscriptions.Tier", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "day", "client_type", "model", "tier"], name="profile_daily_usage_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.client_type} {self.model} {self.tier_id}"


# The `GroupDailyUsage.group_key` of users in no group of their directory.
NO_GROUP_KEY = uuid.UUID(int=0)


class GroupDailyUsage(UsageTotalsBase):
    """The accepted usage of each group's current members in one UTC day, per client type, model and tier (users
    in no group under `NO_GROUP_KEY`; a user in two groups counts in both): the explorer's rows for a group (its
    days, tiers, client types or models) and by group, a few rows a group and day where the per-user rows are
    thousands. `group_key` is a group's id, not a foreign key: the sentinel is no group.

    Kept in step with the directory: an accepted use is added to the groups its user is in when it is recorded
    (`rollups_add`); a member added to or removed from a group brings its whole usage in or takes it out
    (`group_rollups_follow_memberships`, set-based from `DailyUsage`). Both lock the users' subscriptions first (a
    share lock and an exclusive one), so on PostgreSQL an event and a membership change of the same user are
    counted in one order."""

    profile = models.ForeignKey("subscriptions.Profile", on_delete=models.PROTECT, related_name="+", db_index=False)
    group_key = models.UUIDField()
    day = models.DateField()
    client_type = models.CharField(max_length=16, choices=ClientType.choices)
    model = models.CharField(max_length=64)
    tier = models.ForeignKey("subscriptions.Tier", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "group_key", "day", "client_type", "model", "tier"], name="group_daily_usage_unique"
            )
        ]
        # By group over a range of days: the days first.
        indexes = [models.Index(fields=["profile", "day"], name="group_daily_usage_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.group_key} {self.client_type} {self.model} {self.tier_id}"


class Period(models.TextChoices):
    DAY = "D", "Day"
    WEEK = "W", "Week"  # ISO weeks: Monday to Sunday, UTC
    MONTH = "M", "Month"


class ActiveUser(models.Model):
    """That a user used Kiro in a period (a day, an ISO week, a month), in all (both fields blank), per client type
    (tier blank) or per tier (client type blank). Inserted once; its first insertion counts it in
    `ActiveUserCount`, so distinct users per period are read from a few counters, not counted from usage."""

    profile = models.ForeignKey("subscriptions.Profile", on_delete=models.PROTECT, related_name="+", db_index=False)
    period = models.CharField(max_length=1, choices=Period.choices)
    start = models.DateField()
    client_type = models.CharField(max_length=16, blank=True)
    tier = models.CharField(max_length=16, blank=True)
    user = models.ForeignKey("directory.DirectoryUser", on_delete=models.PROTECT, related_name="+", db_index=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "period", "start", "client_type", "tier", "user"], name="active_user_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.start} {self.client_type or '*'} {self.tier or '*'} {self.user_id}"


class ActiveUserCount(models.Model):
    """How many distinct users used Kiro in a period, in all, per client type or per tier (see `ActiveUser`)."""

    profile = models.ForeignKey("subscriptions.Profile", on_delete=models.PROTECT, related_name="+", db_index=False)
    period = models.CharField(max_length=1, choices=Period.choices)
    start = models.DateField()
    client_type = models.CharField(max_length=16, blank=True)
    tier = models.CharField(max_length=16, blank=True)
    users = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "period", "start", "client_type", "tier"], name="active_user_count_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.start} {self.client_type or '*'} {self.tier or '*'}: {self.users}"

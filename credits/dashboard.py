"""The usage dashboard of a profile (DOMAIN.md §7; issue 8): subscriptions per tier, active users and credits per
day, ISO week or month over a date range, the top users, overage spent and this month's cost projection.

Everything is read from the rollups, never from the usage events, with a constant number of queries whatever the
data size: one aggregate of the subscriptions, the active-user counters of the periods the range touches, the
profile's daily usage rows of the range (summed here into weeks and months), the top users (`usage_by_user`: one
query), and this month's bill preview (seats, kept in the cache while the subscriptions do not change, and
overage so far).

Active users are distinct users per period; a user may use both clients, so per-client counts don't add up to the
total (they are drawn as lines). Weeks and months that the range only partly covers are counted whole.
"""

from __future__ import annotations

import datetime
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Sum

from credits.models import ActiveUserCount, ClientType, Period, ProfileDailyUsage, credits_of
from credits.services.rollups import period_start
from credits.usage import DateRange, UsageRow, this_month, usage_by_user
from subscriptions import selectors
from subscriptions.billing import CENTS, OVERAGE_PRICE, billed_seats, price_multiplier, profile_bill
from subscriptions.calendar import UTC, month_start, next_month_start
from subscriptions.models import Profile, SubscriptionStatus, Tier

TOP_USERS = 10
PERIODS = {"day": Period.DAY, "week": Period.WEEK, "month": Period.MONTH}
PERIOD_WORDS = {"day": "day", "week": "ISO week", "month": "month"}


@dataclass(frozen=True)
class TierCount:
    """Subscriptions of one tier now: active and pending (canceled ones are not counted)."""

    code: str
    name: str
    active: int
    pending: int

    @property
    def total(self) -> int:
        return self.active + self.pending


@dataclass
class Series:
    """One coloured series of a chart: a value per period."""

    key: str
    label: str
    values: list = field(default_factory=list)

    @property
    def total(self):
        return sum(self.values)


@dataclass
class PeriodTable:
    """Figures per period (`starts`, with their `labels`): the total and two splits (by client type, by tier)."""

    starts: list[datetime.date]
    labels: list[str]
    total: Series
    by_client: list[Series]
    by_tier: list[Series]

    def rows(self) -> list[tuple[str, object, list, list]]:
        """Per period: label, total, the client-type values, the tier values (what the tables list)."""
        return [
            (
                label,
                self.total.values[i],
                [s.values[i] for s in self.by_client],
                [s.values[i] for s in self.by_tier],
            )
            for i, label in enumerate(self.labels)
        ]


@dataclass(frozen=True)
class Projection:
    """This month's cost at month end: the seats as the bill preview counts them, plus the overage so far spread
    over the whole month (so far / days elapsed, today included, times the days of the month)."""

    month: datetime.date
    days_elapsed: int
    days_in_month: int
    seats: int
    seats_amount: Decimal
    overage_credits: Decimal
    overage_amount: Decimal
    projected_overage_credits: Decimal
    projected_overage_amount: Decimal

    @property
    def total(self) -> Decimal:
        return self.seats_amount + self.projected_overage_amount


@dataclass
class Dashboard:
    span: DateRange
    period: str  # a key of PERIODS
    subscriptions: list[TierCount]
    active_users: PeriodTable
    credits: PeriodTable
    plan_credits: Decimal
    overage_credits: Decimal
    overage_amount: Decimal
    overage_unit_price: Decimal
    top_users: list[UsageRow]
    projection: Projection

    @property
    def has_usage(self) -> bool:
        return bool(self.plan_credits or self.overage_credits or self.active_users.total.total)

    @property
    def total_credits(self) -> Decimal:
        return self.plan_credits + self.overage_credits

    @property
    def subscriptions_total(self) -> TierCount:
        return TierCount(
            code="",
            name="All tiers",
            active=sum(t.active for t in self.subscriptions),
            pending=sum(t.pending for t in self.subscriptions),
        )


def period_label(period: str, start: datetime.date) -> str:
    if period == "month":
        return f"{start:%b %Y}"
    if period == "week":
        year, week, _ = start.isocalendar()
        return f"W{week:02d} {year}"
    return f"{start:%b} {start.day}"


def period_starts(span: DateRange, period: str) -> list[datetime.date]:
    """The starts of the days, ISO weeks or months the range touches, in order."""
    starts: list[datetime.date] = []
    for day in span.each_day():
        start = period_start(PERIODS[period], day)
        if not starts or starts[-1] != start:
            starts.append(start)
    return starts


def subscriptions_per_tier(
    profile: Profile, tiers: list[Tier], now: datetime.datetime, tally: selectors.Tally | None = None
) -> list[TierCount]:
    """Active and pending subscriptions per tier held now (one aggregate query: `subscription_tally`)."""
    counts = (tally or selectors.subscription_tally(profile, now)).counts
    return [
        TierCount(
            code=tier.code,
            name=tier.name,
            active=counts.get((tier.code, SubscriptionStatus.ACTIVE), 0),
            pending=counts.get((tier.code, SubscriptionStatus.PENDING), 0),
        )
        for tier in tiers
    ]


def _client_label(code: str) -> str:
    return ClientType(code).label if code in ClientType.values else code


def _split(keys: list[str], labels: dict[str, str], cells: Mapping[tuple[str, datetime.date], object], starts, zero):
    """A series per key that has any value, in the order of `keys` (then any unknown keys, sorted)."""
    present = {key for key, _ in cells}
    ordered = [k for k in keys if k in present] + sorted(present - set(keys))
    return [
        Series(key=k, label=labels.get(k, k), values=[cells.get((k, start), zero) for start in starts]) for k in ordered
    ]


def active_users(profile: Profile, span: DateRange, period: str, tiers: list[Tier]) -> PeriodTable:
    """Distinct users per period, in all, per client type and per tier: one query of the counters."""
    starts = period_starts(span, period)
    rows = ActiveUserCount.objects.filter(
        profile=profile, period=PERIODS[period], start__gte=starts[0], start__lte=starts[-1]
    ).values_list("start", "client_type", "tier", "users")
    total: dict[datetime.date, int] = {}
    by_client: dict[tuple[str, datetime.date], int] = {}
    by_tier: dict[tuple[str, datetime.date], int] = {}
    for start, client_type, tier, users in rows:
        if not client_type and not tier:
            total[start] = users
        elif client_type:
            by_client[(client_type, start)] = users
        else:
            by_tier[(tier, start)] = users
    tier_names = {t.code: t.name for t in tiers}
    return PeriodTable(
        starts=starts,
        labels=[period_label(period, s) for s in starts],
        total=Series("", "All users", [total.get(s, 0) for s in starts]),
        by_client=_split(
            list(ClientType.values), {c: _client_label(c) for c in ClientType.values}, by_client, starts, 0
        ),
        by_tier=_split(list(tier_names), tier_names, by_tier, starts, 0),
    )


def credits_used(
    profile: Profile, span: DateRange, period: str, tiers: list[Tier]
) -> tuple[PeriodTable, Decimal, Decimal]:
    """Credits (plan + overage) per period, by client type and by tier, from the profile's daily rows (one
    aggregate query); and the range's plan and overage credits."""
    starts = period_starts(span, period)
    rows = (
        ProfileDailyUsage.objects.filter(profile=profile, day__gte=span.start, day__lte=span.end)
        .order_by()
        .values("day", "client_type", "tier_id")
        .annotate(plan=Sum("plan_hundredths"), overage=Sum("overage_hundredths"))
        .values_list("day", "client_type", "tier_id", "plan", "overage")
    )
    total: dict[datetime.date, int] = {}
    by_client: dict[tuple[str, datetime.date], int] = {}
    by_tier: dict[tuple[str, datetime.date], int] = {}
    plan = overage = 0
    for day, client_type, tier, plan_h, overage_h in rows:
        start = period_start(PERIODS[period], day)
        amount = (plan_h or 0) + (overage_h or 0)
        plan += plan_h or 0
        overage += overage_h or 0
        total[start] = total.get(start, 0) + amount
        by_client[(client_type, start)] = by_client.get((client_type, start), 0) + amount
        by_tier[(tier, start)] = by_tier.get((tier, start), 0) + amount
    tier_names = {t.code: t.name for t in tiers}

    def credits(cells: dict) -> dict:
        return {key: credits_of(value) for key, value in cells.items()}

    zero = Decimal("0.00")
    table = PeriodTable(
        starts=starts,
        labels=[period_label(period, s) for s in starts],
        total=Series("", "All credits", [credits_of(total.get(s, 0)) for s in starts]),
        by_client=_split(
            list(ClientType.values), {c: _client_label(c) for c in ClientType.values}, credits(by_client), starts, zero
        ),
        by_tier=_split(list(tier_names), tier_names, credits(by_tier), starts, zero),
    )
    return table, credits_of(plan), credits_of(overage)


SEATS_CACHE_SECONDS = 60


def month_seats(profile: Profile, month: datetime.datetime, stamp: Hashable) -> dict[str, int]:
    """This month's seats per tier (`billed_seats`: 0.5 s at 100,000 subscriptions on SQLite), kept in the cache
    while `stamp` holds: the subscriptions' (`subscription_tally`, read with the dashboard's counts) and the tiers'
    ranks (which decide a seat's tier). A change shows at the next view; the minute's limit bounds what a change
    the stamp cannot tell (several subscriptions trading places at once) could leave behind."""
    key = f"kiro:dashboard:seats:{profile.profile_id}:{month:%Y-%m}"
    kept = cache.get(key)
    if kept is not None and kept[0] == stamp:
        return kept[1]
    seats = billed_seats(profile, month)
    cache.set(key, (stamp, seats), SEATS_CACHE_SECONDS)
    return seats


def month_projection(profile: Profile, now: datetime.datetime, stamp: Hashable | None = None) -> Projection:
    """This month's bill preview (seats, overage so far) and its month-end projection. `stamp`: the subscriptions'
    (see `month_seats`), when the caller read it; else the seats are counted."""
    month = month_start(now)
    seats = month_seats(profile, month, stamp) if stamp is not None else None
    bill = profile_bill(profile, month, seats=seats)
    today = now.astimezone(UTC).date()
    days_in_month = (next_month_start(now) - month).days
    elapsed = today.day
    projected_credits = (bill.overage_credits * days_in_month / elapsed).quantize(CENTS)
    return Projection(
        month=today.replace(day=1),
        days_elapsed=elapsed,
        days_in_month=days_in_month,
        seats=bill.seats,
        seats_amount=sum((line.amount for line in bill.lines), Decimal("0.00")),
        overage_credits=bill.overage_credits,
        overage_amount=bill.overage_amount,
        projected_overage_credits=projected_credits,
        projected_overage_amount=(bill.overage_credits * bill.overage_unit_price * days_in_month / elapsed).quantize(
            CENTS
        ),
    )


def dashboard(profile: Profile, span: DateRange, period: str, now: datetime.datetime) -> Dashboard:
    """Everything the dashboard shows (see the module's docstring for the queries)."""
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r}")
    tiers = selectors.tier_catalogue()
    credits, plan, overage = credits_used(profile, span, period, tiers)
    tally = selectors.subscription_tally(profile, now)
    projection = month_projection(profile, now, (tally.stamp, tuple((tier.code, tier.rank) for tier in tiers)))
    unit_price = (OVERAGE_PRICE * price_multiplier(profile)).quantize(Decimal("0.0001"))  # as the bill prices it
    return Dashboard(
        span=span,
        period=period,
        subscriptions=subscriptions_per_tier(profile, tiers, now, tally),
        active_users=active_users(profile, span, period, tiers),
        credits=credits,
        plan_credits=plan,
        overage_credits=overage,
        overage_amount=(overage * unit_price).quantize(CENTS),
        overage_unit_price=unit_price,
        top_users=list(usage_by_user(profile, span)[:TOP_USERS]),
        projection=projection,
    )


@dataclass(frozen=True)
class Summary:
    """What the profile's overview shows of this month when the dashboard is on."""

    month: datetime.date
    credits: Decimal
    overage_credits: Decimal
    active_users: int


def month_summary(profile: Profile, now: datetime.datetime) -> Summary:
    """This month's credits and overage (one aggregate of the profile's daily rows) and its active users (one
    counter row)."""
    span = this_month(now.astimezone(UTC).date())
    sums = ProfileDailyUsage.objects.filter(profile=profile, day__gte=span.start, day__lte=span.end).aggregate(
        plan=Sum("plan_hundredths"), overage=Sum("overage_hundredths")
    )
    users = (
        ActiveUserCount.objects.filter(profile=profile, period=Period.MONTH, start=span.start, client_type="", tier="")
        .values_list("users", flat=True)
        .first()
    )
    plan, overage = sums["plan"] or 0, sums["overage"] or 0
    return Summary(
        month=span.start,
        credits=credits_of(plan + overage),
        overage_credits=credits_of(overage),
        active_users=users or 0,
    )

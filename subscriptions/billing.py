"""The billing preview of a profile for a month (DOMAIN.md §4 rule 8).

For each subscription Active at some time in the month: one seat at the highest tier it held in that month, at
that tier's price (times the GovCloud multiplier in GovCloud Regions). Pending subscriptions cost nothing. Overage
credits at $0.04 are added by the credits app (`OVERAGE_SOURCES`). Everything is read from the subscription
periods and the subscriptions' pending downgrades, so a past month bills the same whenever it is asked.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Q

from subscriptions.calendar import month_label, next_month_start
from subscriptions.models import Profile, SubscriptionPeriod, SubscriptionStatus, Tier

CENTS = Decimal("0.01")
OVERAGE_PRICE = Decimal("0.04")  # USD per credit beyond the allowance (DOMAIN.md §3)
CURRENCY = "USD"

# Who can tell the overage credits of a profile in a month: the credits app registers itself here.
OVERAGE_SOURCES: list[Callable[[Profile, datetime.datetime, datetime.datetime], Decimal]] = []


@dataclass(frozen=True)
class BillLine:
    tier: Tier
    seats: int
    unit_price: Decimal
    amount: Decimal


@dataclass
class Bill:
    profile: Profile
    month: datetime.datetime  # its first instant
    lines: list[BillLine] = field(default_factory=list)
    multiplier: Decimal = Decimal(1)
    overage_credits: Decimal = Decimal("0.00")
    overage_unit_price: Decimal = OVERAGE_PRICE
    overage_amount: Decimal = Decimal("0.00")
    currency: str = CURRENCY
    # The tier code each billed subscription's seat is at, by subscription id: what chargeback attributes.
    seat_tiers: dict[object, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return month_label(self.month)

    @property
    def seats(self) -> int:
        return sum(line.seats for line in self.lines)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00")) + self.overage_amount


def price_multiplier(profile: Profile) -> Decimal:
    return settings.KIRO_GOVCLOUD_PRICE_MULTIPLIER if profile.region.is_govcloud else Decimal(1)


def profile_bill(profile: Profile, month: datetime.datetime) -> Bill:
    """The bill of `profile` for the month starting at `month` (see calendar.parse_month)."""
    start, end = month, next_month_start(month)
    tiers = {tier.code: tier for tier in Tier.objects.all()}
    rank = {code: tier.rank for code, tier in tiers.items()}
    periods = (
        SubscriptionPeriod.objects.filter(subscription__profile=profile, starts_at__lt=end)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=start))
        .order_by()
        .values_list(
            "subscription_id",
            "tier_id",
            "status",
            "ends_at",
            "subscription__next_tier_id",
            "subscription__next_tier_from",
        )
    )
    highest: dict[object, str] = {}
    billed: set[object] = set()
    for subscription, tier, status, ends_at, next_tier, next_from in periods.iterator(5000):
        if ends_at is None and next_tier is not None and next_from is not None and next_from <= start:
            tier = next_tier  # a downgrade that took effect on an earlier 1st: the whole month is at the lower tier
        if subscription not in highest or rank[tier] > rank[highest[subscription]]:
            highest[subscription] = tier
        if status == SubscriptionStatus.ACTIVE:
            billed.add(subscription)
    seats = Counter(highest[subscription] for subscription in billed)
    multiplier = price_multiplier(profile)
    bill = Bill(profile=profile, month=start, multiplier=multiplier)
    bill.seat_tiers = {subscription: highest[subscription] for subscription in billed}
    bill.overage_unit_price = (OVERAGE_PRICE * multiplier).quantize(Decimal("0.0001"))
    for code in sorted(seats, key=lambda code: rank[code]):
        unit = (tiers[code].price * multiplier).quantize(CENTS)
        bill.lines.append(BillLine(tier=tiers[code], seats=seats[code], unit_price=unit, amount=unit * seats[code]))
    bill.overage_credits = sum((source(profile, start, end) for source in OVERAGE_SOURCES), Decimal("0.00"))
    bill.overage_amount = (bill.overage_credits * bill.overage_unit_price).quantize(CENTS)
    return bill

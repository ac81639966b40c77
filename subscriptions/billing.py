"""The billing preview of a profile for a month (DOMAIN.md §4 rule 8).

For each subscription Active at some time in the month: one seat at the highest tier it held in that month, at
that tier's price (times the GovCloud multiplier in GovCloud Regions). Pending subscriptions cost nothing. Overage
credits at $0.04 are added by the credits app (`OVERAGE_SOURCES`). Everything is read from the subscription
periods and the subscriptions' pending downgrades, so a past month bills the same whenever it is asked.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import connection

from kiroconsole.bulk import adapter
from subscriptions.calendar import month_label, next_month_start
from subscriptions.models import Profile, Subscription, SubscriptionPeriod, SubscriptionStatus, Tier

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


def profile_bill(
    profile: Profile, month: datetime.datetime, *, seat_tiers: bool = False, seats: Mapping[str, int] | None = None
) -> Bill:
    """The bill of `profile` for the month starting at `month` (see calendar.parse_month). The seats are counted
    by the database (a few rows back for 100,000 subscriptions; `billed_seats`), or given as `seats` (tier code ->
    seats, as `billed_seats` counted them: the dashboard keeps them while the subscriptions do not change);
    `seat_tiers`: also fill `Bill.seat_tiers`, one entry a billed subscription (chargeback needs them)."""
    start = month
    tiers = {tier.code: tier for tier in Tier.objects.all()}
    rank = {code: tier.rank for code, tier in tiers.items()}
    by_subscription: dict[object, str] = {}
    if seat_tiers:
        code_of = {tier.rank: code for code, tier in tiers.items()}
        by_subscription = {
            Subscription._meta.pk.to_python(subscription): code_of[best]  # type: ignore[union-attr]
            for subscription, best in _billed(profile, start, per_subscription=True)
        }
        seats = Counter(by_subscription.values())
    elif seats is None:
        seats = billed_seats(profile, start, tiers)
    multiplier = price_multiplier(profile)
    bill = Bill(profile=profile, month=start, multiplier=multiplier, seat_tiers=by_subscription)
    bill.overage_unit_price = (OVERAGE_PRICE * multiplier).quantize(Decimal("0.0001"))
    for code in sorted(seats, key=lambda code: rank[code]):
        unit = (tiers[code].price * multiplier).quantize(CENTS)
        bill.lines.append(BillLine(tier=tiers[code], seats=seats[code], unit_price=unit, amount=unit * seats[code]))
    end = next_month_start(start)
    bill.overage_credits = sum((source(profile, start, end) for source in OVERAGE_SOURCES), Decimal("0.00"))
    bill.overage_amount = (bill.overage_credits * bill.overage_unit_price).quantize(CENTS)
    return bill


def billed_seats(profile: Profile, month: datetime.datetime, tiers: Mapping[str, Tier] | None = None) -> dict[str, int]:
    """The seats billed in the month starting at `month`, per tier code (one SQL statement)."""
    tiers = tiers if tiers is not None else {tier.code: tier for tier in Tier.objects.all()}
    code_of = {tier.rank: code for code, tier in tiers.items()}
    return {code_of[best]: count for best, count in _billed(profile, month, per_subscription=False)}


def _billed(profile: Profile, start: datetime.datetime, *, per_subscription: bool) -> list[tuple]:
    """The subscriptions billed in the month from `start`, one SQL statement: every subscription period overlapping
    the month counts at its tier, or at the subscription's pending lower tier when that took effect on an earlier 1st
    (the whole month is then at the lower tier); a subscription's seat is at the highest rank among its periods, and it
    is billed when one of them is Active. Rows: (subscription, best rank) each, `per_subscription`, else (best rank,
    number of subscriptions)."""
    end = next_month_start(start)
    quote = connection.ops.quote_name
    p, s, t = (quote(model._meta.db_table) for model in (SubscriptionPeriod, Subscription, Tier))

    def col(model, name):
        return quote(model._meta.get_field(name).column)

    P, S, T = SubscriptionPeriod, Subscription, Tier
    when = adapter(SubscriptionPeriod, "starts_at")
    effective = (
        f"CASE WHEN p.{col(P, 'ends_at')} IS NULL AND s.{col(S, 'next_tier')} IS NOT NULL "
        f"AND s.{col(S, 'next_tier_from')} IS NOT NULL AND s.{col(S, 'next_tier_from')} <= %s "
        f"THEN s.{col(S, 'next_tier')} ELSE p.{col(P, 'tier')} END"
    )
    billed = (
        f"SELECT p.{col(P, 'subscription')} AS subscription, MAX(t.{col(T, 'rank')}) AS best, "  # noqa: S608  # nosec B608
        f"MAX(CASE WHEN p.{col(P, 'status')} = %s THEN 1 ELSE 0 END) AS active "
        f"FROM {p} p JOIN {s} s ON s.{col(S, 'id')} = p.{col(P, 'subscription')} "
        f"JOIN {t} t ON t.{col(T, 'code')} = {effective} "
        f"WHERE s.{col(S, 'profile')} = %s AND p.{col(P, 'starts_at')} < %s "
        f"AND (p.{col(P, 'ends_at')} IS NULL OR p.{col(P, 'ends_at')} > %s) "
        f"GROUP BY p.{col(P, 'subscription')}"
    )
    select = "subscription, best" if per_subscription else "best, COUNT(*)"
    grouped = "" if per_subscription else " GROUP BY best"
    sql = f"SELECT {select} FROM ({billed}) billed WHERE active = 1{grouped}"  # noqa: S608  # nosec B608
    params = [  # in the order of the placeholders
        SubscriptionStatus.ACTIVE.value,
        adapter(Subscription, "next_tier_from")(start),
        adapter(Subscription, "profile")(profile.pk),
        when(end),
        when(start),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()

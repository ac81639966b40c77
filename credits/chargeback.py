"""Chargeback (issue 8, DOMAIN.md §7): one month's cost of a profile, seats and overage, attributed to groups.

The amounts are the bill's (`subscriptions.billing.profile_bill`, DOMAIN.md §4 rule 8): each billed subscription's
seat at the bill's unit price of its tier, and each user's overage credits of the month (from the `MonthlyUsage`
rollup) at the bill's overage unit price ($0.04, times the GovCloud multiplier where it applies). Each user's cost
goes to ONE line:

- the assigned group of the profile that gives the user its tier: the highest-tier assignment among the groups the
  user is a member of, ties to the alphabetically first group display name;
- "Direct subscriptions (no group)" when the user is in no assigned group, or its direct assignment is at a higher
  tier than any of its groups.

Memberships and assignments are read as they are now. Seat amounts are exact; overage amounts are rounded to the
cent line by line, the leftover cents going to the lines with the largest remainders, so the lines add up to the
bill's overage amount and the chargeback's total equals the bill's total.

Set-based: the bill's three queries and four more (subscriptions, overage per user, assignments, memberships),
whatever the number of users.
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.db.models import Sum

from credits.models import MonthlyUsage, credits_of
from directory.models import DirectoryGroup, GroupMembership
from subscriptions.billing import CENTS, Bill, profile_bill
from subscriptions.models import GroupAssignment, Profile, Subscription, Tier

DIRECT_LABEL = "Direct subscriptions (no group)"
ZERO = Decimal("0.00")


@dataclass
class ChargebackLine:
    """What one group (or, `group` None, the direct subscriptions) is charged for the month."""

    group: DirectoryGroup | None
    seats: dict[str, int] = field(default_factory=dict)  # tier code -> seats
    seat_amount: Decimal = ZERO
    overage_credits: Decimal = ZERO
    overage_amount: Decimal = ZERO

    @property
    def label(self) -> str:
        return self.group.display_name if self.group is not None else DIRECT_LABEL

    @property
    def total(self) -> Decimal:
        return self.seat_amount + self.overage_amount

    @property
    def seat_count(self) -> int:
        return sum(self.seats.values())

    def seats_of(self, tiers: list[Tier]) -> list[int]:
        """Seats per tier, in the order of `tiers` (the table's columns)."""
        return [self.seats.get(tier.code, 0) for tier in tiers]


@dataclass
class Chargeback:
    bill: Bill
    lines: list[ChargebackLine]
    tiers: list[Tier]  # the tiers the bill has seats at, by rank: the seat columns
    totals: ChargebackLine

    def __iter__(self) -> Iterator[ChargebackLine]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    @property
    def month(self) -> datetime.datetime:
        return self.bill.month

    @property
    def reconciled(self) -> bool:
        """The lines add up to the bill's total (false only when the usage rollups and the balances disagree)."""
        return self.totals.total == self.bill.total and self.totals.overage_credits == self.bill.overage_credits


def charged_group(direct_rank: int | None, groups: list[tuple[int, str, Any]]) -> Any | None:
    """The group a user's cost goes to, from the rank of its direct tier (None: not subscribed directly) and its
    assigned groups as (tier rank, display name, group); None for the direct subscriptions line."""
    if not groups:
        return None
    rank, _, group = min(groups, key=lambda g: (-g[0], g[1].casefold(), g[1], str(getattr(g[2], "pk", g[2]))))
    if direct_rank is not None and direct_rank > rank:
        return None
    return group


def chargeback(profile: Profile, month: datetime.datetime) -> Chargeback:
    """The chargeback of `profile` for the month starting at `month` (see subscriptions.calendar.parse_month)."""
    bill = profile_bill(profile, month, seat_tiers=True)
    unit_prices = {line.tier.code: line.unit_price for line in bill.lines}

    # Each subscription's user and direct tier; each user's overage hundredths of the month.
    subscriptions: dict[Any, tuple[Any, int | None]] = {
        sub_id: (user_id, direct_rank)
        for sub_id, user_id, direct_rank in Subscription.objects.filter(profile=profile)
        .order_by()
        .values_list("id", "user_id", "direct_tier__rank")
    }
    direct_rank_of = {user_id: direct_rank for user_id, direct_rank in subscriptions.values()}
    overage = dict(
        MonthlyUsage.objects.filter(profile=profile, month=month.date())
        .values("user_id")
        .annotate(hundredths=Sum("overage_hundredths"))
        .filter(hundredths__gt=0)
        .order_by()
        .values_list("user_id", "hundredths")
    )

    # The profile's live assigned groups, and which of their members have a subscription here.
    assignments = {
        assignment.group_id: assignment
        for assignment in GroupAssignment.objects.filter(profile=profile, group__deleted_at__isnull=True)
        .select_related("group", "tier")
        .order_by()
    }
    groups_of: dict[uuid.UUID, list[tuple[int, str, uuid.UUID]]] = defaultdict(list)
    for user_id, group_id in (
        GroupMembership.objects.filter(
            group__assignments__profile=profile,
            group__deleted_at__isnull=True,
            user__subscriptions__profile=profile,
        )
        .order_by()
        .values_list("user_id", "group_id")
    ):
        assignment = assignments.get(group_id)
        if assignment is not None:
            groups_of[user_id].append((assignment.tier.rank, assignment.group.display_name, group_id))

    charged: dict[uuid.UUID, uuid.UUID | None] = {}

    def group_of(user_id: uuid.UUID) -> uuid.UUID | None:
        if user_id not in charged:
            charged[user_id] = charged_group(direct_rank_of.get(user_id), groups_of.get(user_id, []))
        return charged[user_id]

    lines: dict[uuid.UUID | None, ChargebackLine] = {}

    def line_of(group_id: uuid.UUID | None) -> ChargebackLine:
        if group_id not in lines:
            lines[group_id] = ChargebackLine(group=assignments[group_id].group if group_id is not None else None)
        return lines[group_id]

    for sub_id, tier_code in bill.seat_tiers.items():
        user_id = subscriptions[sub_id][0]
        line = line_of(group_of(user_id))
        line.seats[tier_code] = line.seats.get(tier_code, 0) + 1
        line.seat_amount += unit_prices[tier_code]

    hundredths: dict[uuid.UUID | None, int] = defaultdict(int)
    for user_id, amount in overage.items():
        hundredths[group_of(user_id)] += amount
    for key, amount in hundredths.items():
        line_of(key).overage_credits = credits_of(amount).quantize(CENTS)
    _share_overage_amounts(list(lines.values()), bill.overage_unit_price)

    ordered = sorted(
        lines.values(),
        key=lambda line: (line.group is None, line.label.casefold(), line.label, str(getattr(line.group, "pk", ""))),
    )
    tiers = [line.tier for line in bill.lines]
    totals = ChargebackLine(
        group=None,
        seats={tier.code: sum(line.seats.get(tier.code, 0) for line in ordered) for tier in tiers},
        seat_amount=sum((line.seat_amount for line in ordered), ZERO),
        overage_credits=sum((line.overage_credits for line in ordered), ZERO),
        overage_amount=sum((line.overage_amount for line in ordered), ZERO),
    )
    return Chargeback(bill=bill, lines=ordered, tiers=tiers, totals=totals)


def _share_overage_amounts(lines: list[ChargebackLine], unit_price: Decimal) -> None:
    """Each line's overage amount in cents, adding up to the amount of all of them as the bill rounds it: every
    line is rounded down, then the leftover cents go one each to the lines with the largest remainders."""
    exact = [line.overage_credits * unit_price for line in lines]
    target = sum(exact, Decimal(0)).quantize(CENTS)
    for line, value in zip(lines, exact, strict=True):
        line.overage_amount = value.quantize(CENTS, rounding=ROUND_DOWN)
    leftover = int((target - sum((line.overage_amount for line in lines), ZERO)) / CENTS)
    by_remainder = sorted(
        range(len(lines)), key=lambda i: (-(exact[i] - lines[i].overage_amount), lines[i].label.casefold())
    )
    for i in by_remainder[:leftover]:
        lines[i].overage_amount += CENTS

"""Reading usage from the rollups (DOMAIN.md §7): the date range of the dashboard, the explorer, chargeback and the
API, and which rollup rows answer a question over it, never the raw events.

Whole months inside the range are read from `MonthlyUsage` (about 30 times fewer rows than their days), or from
`UserMonthlyUsage` (one row a user and month) when the question is per user or group and names no tier, client type
or model; the days of partial months from `DailyUsage`; questions that neither filter nor group by user or group
read the profile's `ProfileDailyUsage` (a few rows a day); usage by group, or a group's usage by day, tier, client
type or model, reads `GroupDailyUsage` (a few rows a group and day). Sums are additive, so the pieces merge by key.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Case, CharField, ExpressionWrapper, F, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Collate, Concat
from django.utils import timezone

from credits.models import (
    NO_GROUP_KEY,
    ClientType,
    DailyUsage,
    GroupDailyUsage,
    MonthlyUsage,
    ProfileDailyUsage,
    UserMonthlyUsage,
    credits_of,
)
from directory.models import DirectoryGroup, GroupMembership
from subscriptions.calendar import UTC
from subscriptions.models import Profile

MAX_DAYS = 366
EARLIEST = datetime.date(2000, 1, 1)


@dataclass(frozen=True)
class DateRange:
    """Days `start` to `end`, both included (UTC)."""

    start: datetime.date
    end: datetime.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def each_day(self) -> Iterator[datetime.date]:
        for offset in range(self.days):
            yield self.start + datetime.timedelta(days=offset)

    def whole_months(self) -> list[datetime.date]:
        """First days of the months entirely inside the range."""
        months = []
        month = self.start.replace(day=1)
        if month < self.start:
            month = _next_month(month)
        while _next_month(month) - datetime.timedelta(days=1) <= self.end:
            months.append(month)
            month = _next_month(month)
        return months

    def partial_days(self) -> list[tuple[datetime.date, datetime.date]]:
        """The stretches of days (first, last) of the range outside its whole months."""
        months = self.whole_months()
        if not months:
            return [(self.start, self.end)]
        stretches = []
        if self.start < months[0]:
            stretches.append((self.start, months[0] - datetime.timedelta(days=1)))
        after = _next_month(months[-1])
        if after <= self.end:
            stretches.append((after, self.end))
        return stretches

    @property
    def label(self) -> str:
        return f"{self.start:%d %b %Y} to {self.end:%d %b %Y}"


def _next_month(month: datetime.date) -> datetime.date:
    return datetime.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def this_month(today: datetime.date | None = None) -> DateRange:
    today = today or timezone.now().astimezone(UTC).date()
    start = today.replace(day=1)
    return DateRange(start, _next_month(start) - datetime.timedelta(days=1))


def date_range(start: str | None, end: str | None, today: datetime.date | None = None) -> DateRange:
    """The range of `from` and `to` (YYYY-MM-DD, both included); this month where both are empty; a missing end is
    the start's month end, a missing start the end's month start. ValidationError (by field) on bad input: not a
    date, reversed, longer than a year, before 2000 or more than a year ahead."""
    today = today or timezone.now().astimezone(UTC).date()
    errors: dict[str, str] = {}
    parsed: dict[str, datetime.date | None] = {}
    for name, text in (("from", start), ("to", end)):
        text = (text or "").strip()
        if not text:
            parsed[name] = None
            continue
        try:
            parsed[name] = datetime.date.fromisoformat(text)
        except ValueError:
            errors[name] = f"{text!r} is not a date: write it as YYYY-MM-DD, like {today:%Y-%m-%d}."
            continue
        if len(text) != 10:
            errors[name] = f"{text!r} is not a date: write it as YYYY-MM-DD, like {today:%Y-%m-%d}."
    if errors:
        raise ValidationError(errors)
    first, last = parsed["from"], parsed["to"]
    if first is None and last is None:
        return this_month(today)
    if first is None:
        assert last is not None
        first = last.replace(day=1)
    if last is None:
        last = _next_month(first.replace(day=1)) - datetime.timedelta(days=1)
    if last < first:
        raise ValidationError({"to": f"The range ends ({last}) before it starts ({first}): swap the dates."})
    if first < EARLIEST:
        raise ValidationError({"from": f"{first} is too early: usage starts in {EARLIEST.year}."})
    if last > today + datetime.timedelta(days=366):
        raise ValidationError({"to": f"{last} is more than a year ahead."})
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationError({"to": f"The range is {(last - first).days + 1} days long: at most {MAX_DAYS}."})
    return DateRange(first, last)


# What the explorer, the API and the dashboard's top users read

GROUP_BY = {
    "day": "Day",
    "user": "User",
    "group": "Group",
    "tier": "Tier",
    "client_type": "Client type",
    "model": "Model",
}


@dataclass(frozen=True)
class UsageFilters:
    """Narrowing of the usage read: a user (id), the current members of a group (id), a tier code, a client
    type, a model code. Empty: no narrowing."""

    user_id: Any = None
    group_id: Any = None
    tier: str = ""
    client_type: str = ""
    model: str = ""

    @property
    def per_user(self) -> bool:
        return self.user_id is not None or self.group_id is not None

    @property
    def per_dimension(self) -> bool:
        """Narrowed by tier, client type or model (which the per-user monthly rows do not keep)."""
        return bool(self.tier or self.client_type or self.model)


@dataclass
class UsageRow:
    """One line of usage: its key (a day, a user id, a group id, a tier code, a client type or a model code;
    None for users in no group) and label, and its sums (credits in hundredths)."""

    key: Any
    label: str
    plan_hundredths: int = 0
    overage_hundredths: int = 0
    messages: int = 0
    events: int = 0

    @property
    def plan_credits(self) -> Decimal:
        return credits_of(self.plan_hundredths)

    @property
    def overage_credits(self) -> Decimal:
        return credits_of(self.overage_hundredths)

    @property
    def credits(self) -> Decimal:
        return credits_of(self.plan_hundredths + self.overage_hundredths)


# group_by -> (the rollup column(s) grouped on: the key first, then the label's columns)
_COLUMNS = {
    "day": ("day",),
    "user": ("user_id", "user__user_name", "user__display_name"),
    "group": ("user__memberships__group_id",),  # names read after, for the few groups (no join per row)
    "tier": ("tier_id", "tier__name"),
    "client_type": ("client_type",),
    "model": ("model",),
}
NO_GROUP = "No group"


def _narrowed(rows: QuerySet, filters: UsageFilters) -> QuerySet:
    if rows.model is GroupDailyUsage:  # its rows are a group's already (see `_group_source`)
        return _by_dimension(rows, filters)
    if filters.user_id is not None:
        rows = rows.filter(user_id=filters.user_id)
    if filters.group_id is not None:
        rows = rows.filter(user_id__in=GroupMembership.objects.filter(group_id=filters.group_id).values("user_id"))
    return _by_dimension(rows, filters)


def _by_dimension(rows: QuerySet, filters: UsageFilters) -> QuerySet:
    for name in ("tier", "client_type", "model"):
        if getattr(filters, name):
            rows = rows.filter(**{"tier_id" if name == "tier" else name: getattr(filters, name)})
    return rows


def _group_source(profile: Profile, span: DateRange, group_by: str, filters: UsageFilters) -> QuerySet | None:
    """`GroupDailyUsage` rows where they answer: grouped by group (no user or group named), or one group's usage
    grouped by day, tier, client type or model (no user named): a few rows a group and day, where the members'
    own rows are thousands."""
    if filters.user_id is not None:
        return None
    rows = GroupDailyUsage.objects.filter(profile=profile, day__gte=span.start, day__lte=span.end)
    if group_by == "group" and filters.group_id is None:
        return rows
    if filters.group_id is not None and group_by not in ("user", "group"):
        return rows.filter(group_key=filters.group_id)
    return None


def _sources(profile: Profile, span: DateRange, group_by: str, filters: UsageFilters) -> list[QuerySet]:
    """The rollup rows that answer the question: the profile's daily rows when no user is involved, else the
    per-user daily rows (grouping by day, or partial months) and monthly rows (whole months: one row a user when
    grouping by user or group without a tier, client type or model filter)."""
    if group_by not in ("user", "group") and not filters.per_user:
        return [ProfileDailyUsage.objects.filter(profile=profile, day__gte=span.start, day__lte=span.end)]
    by_group = _group_source(profile, span, group_by, filters)
    if by_group is not None:
        return [by_group]
    if group_by == "day":
        return [DailyUsage.objects.filter(profile=profile, day__gte=span.start, day__lte=span.end)]
    sources: list[QuerySet] = []
    months = span.whole_months()
    if months:
        by_user = group_by in ("user", "group") and not filters.per_dimension
        monthly = UserMonthlyUsage if by_user else MonthlyUsage
        in_months = {"month": months[0]} if len(months) == 1 else {"month__gte": months[0], "month__lte": months[-1]}
        sources.append(monthly.objects.filter(profile=profile, **in_months))  # one month: its index order serves
    for first, last in span.partial_days():
        sources.append(DailyUsage.objects.filter(profile=profile, day__gte=first, day__lte=last))
    return sources


def usage_rows(
    profile: Profile,
    span: DateRange,
    group_by: str,
    filters: UsageFilters | None = None,
    limit: int | None = None,
) -> list[UsageRow]:
    """Accepted usage of `profile` over `span`, grouped by `group_by` (a key of GROUP_BY), from the rollups: one
    aggregate query per rollup table read (a range with partial months at both ends reads three). Days in date
    order; the others by credits, most first (ties by label). Grouped by group, a user in several groups counts in
    each, and users in none in "No group". `limit`: only the first rows (the database orders and cuts them when
    one rollup table answers, so the top 10 of 60,000 users do not all come back)."""
    if group_by not in GROUP_BY:
        raise ValueError(f"unknown grouping {group_by!r}")
    filters = filters or UsageFilters()
    columns = _COLUMNS[group_by]
    merged: dict[Any, UsageRow] = {}
    sources = _sources(profile, span, group_by, filters)
    if group_by == "user" and limit is None and len(sources) == 1:
        return list(iter(usage_by_user(profile, span, filters)))  # the CSV's path, sorted by the database (no count)
    for source in sources:
        if source.model is GroupDailyUsage and group_by == "group":
            columns = ("group_key",)
        rows = (
            _narrowed(source, filters)
            .order_by()
            .values(*columns)
            .annotate(
                plan=Sum("plan_hundredths"),
                overage=Sum("overage_hundredths"),
                msgs=Sum("messages"),
                evts=Sum("events"),
            )
        )
        if limit is not None and len(sources) == 1 and group_by not in ("day", "group"):  # groups: named after
            rows = rows.annotate(total=F("plan") + F("overage")).order_by("-total", *columns[1:], columns[0])[:limit]
        rows = rows.values_list(*columns, "plan", "overage", "msgs", "evts")
        for row in rows:
            key = row[0] if row[0] != NO_GROUP_KEY else None
            line = merged.get(key)
            if line is None:
                line = merged[key] = UsageRow(key=key, label=_label(group_by, row[: len(columns)]))
            line.plan_hundredths += row[-4] or 0
            line.overage_hundredths += row[-3] or 0
            line.messages += row[-2] or 0
            line.events += row[-1] or 0
    if group_by == "group":
        names = dict(
            DirectoryGroup.objects.filter(pk__in=[key for key in merged if key is not None]).values_list(
                "pk", "display_name"
            )
        )
        for key, line in merged.items():
            line.label = names.get(key, "") if key is not None else NO_GROUP
    lines = list(merged.values())
    if group_by == "day":
        lines.sort(key=lambda line: line.key)
    else:
        lines.sort(key=lambda line: (-(line.plan_hundredths + line.overage_hundredths), line.label))
    return lines if limit is None else lines[:limit]


def _label(group_by: str, values: tuple) -> str:
    if group_by == "day":
        return f"{values[0]:%Y-%m-%d}"
    if group_by == "user":
        return f"{values[2]} ({values[1]})" if values[2] and values[2] != values[1] else values[1]
    if group_by == "group":
        return NO_GROUP if values[0] is None else ""  # named from the groups once the rows are read
    if group_by == "tier":
        return values[1]
    if group_by == "client_type":
        return ClientType(values[0]).label if values[0] in ClientType.values else values[0]
    return values[0]


class UserRows(Sequence[UsageRow]):
    """Usage grouped by user when one rollup table answers (whole months, or the days of one stretch), counted,
    sorted and cut by the database: a page of 25 of 60,000 users reads 25 rows and a count, and iterating (the CSV,
    the API) reads them all in the chosen order. Labels and their order are those of `usage_rows` (code point order,
    like Python's: collation "C" on PostgreSQL, "BINARY" on SQLite)."""

    # The explorer's sortable columns -> the aggregate's names
    SORTS = {
        "label": "label",
        "plan_credits": "plan",
        "overage_credits": "overage",
        "credits": "total",
        "messages": "msgs",
        "events": "evts",
    }
    CHUNK = 2_000

    def __init__(self, rows: QuerySet, source: QuerySet, *, grouped: bool = True):
        self._rows, self._source, self._grouped = rows, source, grouped  # grouped: several source rows a user
        self._order: list[tuple[str, bool]] = [("credits", True), ("label", False)]
        self._length: int | None = None

    def sort(self, orders: Sequence[tuple[str, bool]]) -> None:
        """Order by the named columns (a key of SORTS, descending?), most significant first."""
        unknown = [name for name, _ in orders if name not in self.SORTS]
        if unknown:
            raise ValueError(f"cannot sort usage by {', '.join(unknown)}")
        self._order = list(orders)

    def _ordered(self, *, every_row: bool = False) -> QuerySet:
        """The rows in the chosen order. `every_row`: a full read sorts what it scans; walking the credits index
        instead (which a page's few rows want) fetches each of 60,000 rows out of order, twice as slow."""
        collation = "C" if connection.vendor == "postgresql" else "BINARY"
        terms = []
        for name, descending in (*self._order, ("label", False)):
            expression: Any = Collate(F("label"), collation) if name == "label" else F(self.SORTS[name])
            if every_row and name == "credits":
                expression = expression + Value(0)  # not the indexed expression: no walk of the index
            terms.append(expression.desc() if descending else expression.asc())
        return self._rows.order_by(*terms, "user_id")

    def __len__(self) -> int:
        if self._length is None:
            users = self._source.values("user_id").distinct() if self._grouped else self._source
            self._length = users.count()
        return self._length

    def total(self, label: str) -> UsageRow:
        """The sums of every row (one aggregate query)."""
        sums = self._source.aggregate(
            plan=Sum("plan_hundredths"), overage=Sum("overage_hundredths"), msgs=Sum("messages"), evts=Sum("events")
        )
        return _user_row((None, label, sums["plan"], sums["overage"], sums["msgs"], sums["evts"]))

    def __bool__(self) -> bool:
        return len(self) > 0

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [_user_row(row) for row in self._ordered()[index]]
        if index < 0:
            index += len(self)
        rows = self[index : index + 1]
        if not rows:
            raise IndexError(index)
        return rows[0]

    def __iter__(self) -> Iterator[UsageRow]:
        for row in self.records():
            yield _user_row(row)

    def records(self) -> Iterator[tuple]:
        """Every row in order as the database answers it: (user id, label, plan, overage, messages, events), the
        user id as 32 hex digits on SQLite and a UUID on PostgreSQL (`user_id_text` writes either)."""
        return self._ordered(every_row=True).iterator(chunk_size=self.CHUNK)


def _user_row(row: tuple) -> UsageRow:
    user_id, label, plan, overage, msgs, evts = row
    if isinstance(user_id, str):  # SQLite's 32 hex digits (PostgreSQL answers UUIDs): `int=` skips UUID's parsing
        user_id = uuid.UUID(int=int(user_id, 16))
    return UsageRow(user_id, label, plan or 0, overage or 0, msgs or 0, evts or 0)


def user_id_text(user_id: Any) -> str:
    """The canonical text of a user id of `UserRows.records` (what `str(uuid)` gives), without making the UUID."""
    if isinstance(user_id, str) and len(user_id) == 32:
        return f"{user_id[:8]}-{user_id[8:12]}-{user_id[12:16]}-{user_id[16:20]}-{user_id[20:]}"
    return str(user_id)


# The user id read as the database answers it, without UUIDField's converter: `_user_row` makes the UUID (a third
# of the time of 60,000 rows went to `uuid.UUID(hex)`).
_USER_ID = ExpressionWrapper(F("user_id"), output_field=CharField())


def usage_by_user(profile: Profile, span: DateRange, filters: UsageFilters | None = None) -> Sequence[UsageRow]:
    """`usage_rows(profile, span, "user", filters)`, as a `UserRows` the database sorts and pages where one rollup
    table answers (a range of partial months at both ends reads several: then the merged list). One whole month
    read from `UserMonthlyUsage` is one row a user already: no grouping, and the order by credits (the default) is
    read from the index `user_monthly_usage_total_idx`, so the first page of 60,000 users reads its 25 rows."""
    filters = filters or UsageFilters()
    sources = _sources(profile, span, "user", filters)
    if len(sources) != 1:
        return usage_rows(profile, span, "user", filters)
    label = Case(
        When(Q(user__display_name="") | Q(user__display_name=F("user__user_name")), then=F("user__user_name")),
        default=Concat(F("user__display_name"), Value(" ("), F("user__user_name"), Value(")")),
        output_field=CharField(),
    )
    source = _narrowed(sources[0], filters).order_by()
    if source.model is UserMonthlyUsage and len(span.whole_months()) == 1:
        rows = source.annotate(
            label=label,
            plan=F("plan_hundredths"),
            overage=F("overage_hundredths"),
            msgs=F("messages"),
            evts=F("events"),
            total=F("plan_hundredths") + F("overage_hundredths"),
            uid=_USER_ID,
        )
        return UserRows(rows.values_list("uid", "label", "plan", "overage", "msgs", "evts"), source, grouped=False)
    rows = (
        source.values("user_id")
        .annotate(
            label=label,
            plan=Sum("plan_hundredths"),
            overage=Sum("overage_hundredths"),
            msgs=Sum("messages"),
            evts=Sum("events"),
        )
        .annotate(total=F("plan") + F("overage"), uid=_USER_ID)
        .values_list("uid", "label", "plan", "overage", "msgs", "evts")
    )
    return UserRows(rows, source)

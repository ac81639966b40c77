"""Rollups of accepted usage (DOMAIN.md §7): kept in the same transaction as the events, rebuilt and checked on
demand.

`rollups_add` takes the accepted uses of one call (metering, `import_usage`, `import_user_report`) and adds them,
set-based, to the daily and monthly per-user rows, the profile's daily rows and the active-user counters: one
upsert statement per table (rows sorted by key, so concurrent transactions take their row locks in one order),
and one INSERT of the active-user marks whose newly inserted rows (RETURNING) are what the counters grow by.

`rollups_expected` computes every rollup row from the accepted events alone (set-based, by the database);
`rollups_rebuild` replaces the stored rows by them and `rollups_differences` lists where they differ
(`manage.py rebuild_rollups [--check]`).
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, models, transaction
from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDate, TruncMonth, TruncWeek

from credits.models import (
    ActiveUser,
    ActiveUserCount,
    DailyUsage,
    MonthlyUsage,
    Outcome,
    Period,
    ProfileDailyUsage,
    UsageEvent,
)
from kiroconsole.bulk import adapter, insert_rows

CHUNK = 400  # rows per statement: SQLite takes at most 32,766 parameters in one
SUMS = ("plan_hundredths", "overage_hundredths", "messages", "events")


@dataclass(frozen=True, slots=True)
class Use:
    """Accepted usage to add: one event, or a day's total of a user from a report. Amounts in hundredths."""

    profile_id: Any
    user_id: Any
    day: datetime.date
    client_type: str
    model: str
    tier_id: str
    plan: int
    overage: int
    messages: int
    events: int = 1


def period_start(period: str, day: datetime.date) -> datetime.date:
    if period == Period.DAY:
        return day
    if period == Period.WEEK:
        return day - datetime.timedelta(days=day.weekday())
    return day.replace(day=1)


def marks_of(use: Use) -> list[tuple[Any, str, datetime.date, str, str, Any]]:
    """The active-user marks one use implies: per period, in all, per client type and per tier."""
    return [
        (use.profile_id, period, period_start(period, use.day), client_type, tier, use.user_id)
        for period in (Period.DAY, Period.WEEK, Period.MONTH)
        for client_type, tier in (("", ""), (use.client_type, ""), ("", use.tier_id))
    ]


def rollups_add(uses: Iterable[Use]) -> None:
    """Add `uses` to every rollup (inside the caller's transaction)."""
    daily: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    monthly: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    profile_daily: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    marks: set[tuple] = set()
    for use in uses:
        amounts = (use.plan, use.overage, use.messages, use.events)
        for table, key in (
            (daily, (use.profile_id, use.day, use.user_id, use.client_type, use.model, use.tier_id)),
            (monthly, (use.profile_id, use.day.replace(day=1), use.user_id, use.client_type, use.model, use.tier_id)),
            (profile_daily, (use.profile_id, use.day, use.client_type, use.model, use.tier_id)),
        ):
            total = table[key]
            for i, amount in enumerate(amounts):
                total[i] += amount
        marks.update(marks_of(use))
    if not daily:
        return
    _add(DailyUsage, ("profile_id", "day", "user_id", "client_type", "model", "tier_id"), daily)
    _add(MonthlyUsage, ("profile_id", "month", "user_id", "client_type", "model", "tier_id"), monthly)
    _add(ProfileDailyUsage, ("profile_id", "day", "client_type", "model", "tier_id"), profile_daily)
    new = _insert_marks(marks)
    if new:
        _add(
            ActiveUserCount,
            ("profile_id", "period", "start", "client_type", "tier"),
            {key: [count] for key, count in new.items()},
            sums=("users",),
        )


def _converters(model: type[models.Model], fields: Sequence[str]) -> list[Any]:
    return [adapter(model, name) for name in fields]


def _add(
    model: type[models.Model], keys: Sequence[str], totals: dict[tuple, list[int]], sums: Sequence[str] = SUMS
) -> None:
    """Upsert `totals` (key tuple → amounts), adding the amounts to rows that exist."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [quote(model._meta.get_field(name).column) for name in (*keys, *sums)]  # type: ignore[union-attr,arg-type]
    additions = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns[len(keys) :])
    convert = _converters(model, keys)
    rows = sorted(
        ([c(v) for c, v in zip(convert, key, strict=True)] + amounts for key, amounts in totals.items()),
        key=lambda row: [str(value) for value in row[: len(keys)]],
    )
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            sql = (
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * len(chunk))} "  # noqa: S608
                f"ON CONFLICT ({', '.join(columns[: len(keys)])}) DO UPDATE SET {additions}"
            )
            cursor.execute(sql, [value for row in chunk for value in row])


def _insert_marks(marks: set[tuple]) -> Counter:
    """Insert the marks not yet there; how many were new per (profile, period, start, client type, tier)."""
    fields = ("profile_id", "period", "start", "client_type", "tier", "user_id")
    quote = connection.ops.quote_name
    table = quote(ActiveUser._meta.db_table)
    columns = [quote(ActiveUser._meta.get_field(name).column) for name in fields]  # type: ignore[union-attr,arg-type]
    convert = _converters(ActiveUser, fields)
    rows = sorted(
        ([c(v) for c, v in zip(convert, mark, strict=True)] for mark in marks), key=lambda r: list(map(str, r))
    )
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    new: Counter = Counter()
    start_of = adapter(ActiveUser, "start")
    back = {start_of(mark[2]): mark[2] for mark in marks}
    profile_of = {convert[0](mark[0]): mark[0] for mark in marks}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            sql = (
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * len(chunk))} "  # noqa: S608
                f"ON CONFLICT ({', '.join(columns)}) DO NOTHING RETURNING {', '.join(columns[:5])}"
            )
            cursor.execute(sql, [value for row in chunk for value in row])
            for profile_id, period, day, client_type, tier in cursor.fetchall():
                day = back.get(day, day)
                if isinstance(day, str):
                    day = datetime.date.fromisoformat(day)
                new[(profile_of.get(profile_id, profile_id), period, day, client_type, tier)] += 1
    return new


# Rebuilding from the events


def _accepted(profile_ids: Sequence[Any] | None) -> QuerySet:
    events = UsageEvent.objects.exclude(outcome=Outcome.REJECTED).order_by()
    return events.filter(profile_id__in=profile_ids) if profile_ids is not None else events


def _sums() -> dict[str, Any]:
    return {
        "plan_hundredths": Sum("plan_credits"),
        "overage_hundredths": Sum("overage_credits"),
        "messages": Sum("messages"),
        "events": Sum("conversations"),
    }


def rollups_expected(profile_ids: Sequence[Any] | None = None) -> dict[Any, dict[tuple, tuple]]:
    """Every rollup row the accepted events of `profile_ids` (all profiles: None) imply: model → key → amounts."""
    utc = datetime.UTC
    expected: dict[Any, dict[tuple, tuple]] = {}
    specs = (
        (DailyUsage, TruncDate("occurred_at", tzinfo=utc), ("user_id", "client_type", "model", "tier_id")),
        (MonthlyUsage, TruncMonth("occurred_at", tzinfo=utc), ("user_id", "client_type", "model", "tier_id")),
        (ProfileDailyUsage, TruncDate("occurred_at", tzinfo=utc), ("client_type", "model", "tier_id")),
    )
    for model, when, keys in specs:
        rows = (
            _accepted(profile_ids)
            .annotate(when=when)
            .values("profile_id", "when", *keys)
            .annotate(**_sums())
            .values_list("profile_id", "when", *keys, *SUMS)
        )
        expected[model] = {
            (row[0], _date(row[1]), *row[2 : 2 + len(keys)]): (_hundredths(row[-4]), _hundredths(row[-3]), *row[-2:])
            for row in rows
        }
    marks: dict[tuple, tuple] = {}
    counts: Counter = Counter()
    for period, trunc in ((Period.DAY, TruncDate), (Period.WEEK, TruncWeek), (Period.MONTH, TruncMonth)):
        for client_type_dim, tier_dim in ((False, False), (True, False), (False, True)):
            names = ["client_type"] if client_type_dim else ["tier_id"] if tier_dim else []
            rows = (
                _accepted(profile_ids)
                .annotate(start=trunc("occurred_at", tzinfo=utc))
                .values_list("profile_id", "start", "user_id", *names)
                .distinct()
            )
            for row in rows:
                key = (
                    row[0],
                    period,
                    _date(row[1]),
                    row[3] if client_type_dim else "",
                    row[3] if tier_dim else "",
                )
                marks[(*key, row[2])] = ()
                counts[key] += 1
    expected[ActiveUser] = marks
    expected[ActiveUserCount] = {key: (count,) for key, count in counts.items()}
    return expected


def _date(value: Any) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, str):
        return datetime.date.fromisoformat(value[:10])
    return value


def _hundredths(value: Any) -> int:
    return int((Decimal(str(value)) * 100).to_integral_value())


KEYS = {
    DailyUsage: ("profile_id", "day", "user_id", "client_type", "model", "tier_id"),
    MonthlyUsage: ("profile_id", "month", "user_id", "client_type", "model", "tier_id"),
    ProfileDailyUsage: ("profile_id", "day", "client_type", "model", "tier_id"),
    ActiveUser: ("profile_id", "period", "start", "client_type", "tier", "user_id"),
    ActiveUserCount: ("profile_id", "period", "start", "client_type", "tier"),
}
AMOUNTS = {ActiveUser: (), ActiveUserCount: ("users",)}


def _stored(model: Any, profile_ids: Sequence[Any] | None) -> dict[tuple, tuple]:
    rows = model.objects.all() if profile_ids is None else model.objects.filter(profile_id__in=profile_ids)
    keys, amounts = KEYS[model], AMOUNTS.get(model, SUMS)
    width = len(keys)
    return {row[:width]: tuple(row[width:]) for row in rows.values_list(*keys, *amounts)}


def rollups_differences(profile_ids: Sequence[Any] | None = None, limit: int = 20) -> list[str]:
    """Where the stored rollups differ from what the events imply (empty: they match)."""
    expected = rollups_expected(profile_ids)
    problems: list[str] = []
    for model, rows in expected.items():
        stored = _stored(model, profile_ids)
        for key in sorted(set(rows) | set(stored), key=lambda k: list(map(str, k))):
            if rows.get(key) != stored.get(key):
                problems.append(f"{model.__name__} {key}: stored {stored.get(key)}, from events {rows.get(key)}")
                if len(problems) >= limit:
                    return problems
    return problems


def rollups_rebuild(profile_ids: Sequence[Any] | None = None) -> dict[str, int]:
    """Replace the rollups of `profile_ids` (all: None) by what their accepted events imply; rows written per
    table. One transaction: readers see the old rollups or the new ones."""
    expected = rollups_expected(profile_ids)
    written: dict[str, int] = {}
    with transaction.atomic():
        for model, rows in expected.items():
            old = model.objects.all() if profile_ids is None else model.objects.filter(profile_id__in=profile_ids)
            old._raw_delete(old.db)  # plain rows: no signals, no cascades
            fields = KEYS[model] + AMOUNTS.get(model, SUMS)
            convert = _converters(model, fields)
            insert_rows(
                model,
                fields,
                [[c(v) for c, v in zip(convert, key + amounts, strict=True)] for key, amounts in rows.items()],
            )
            written[model.__name__] = len(rows)
    return written

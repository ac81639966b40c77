"""Reading usage from the rollups (DOMAIN.md §7): the date range of the dashboard, the explorer, chargeback and the
API, and which rollup rows answer a question over it, never the raw events.

Whole months inside the range are read from `MonthlyUsage` (about 30 times fewer rows than their days), the days of
partial months from `DailyUsage`; questions that neither filter nor group by user or group read the profile's
`ProfileDailyUsage` (a few rows a day). Sums are additive, so the pieces merge by key.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone

from subscriptions.calendar import UTC

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

"""Calendar months in UTC: allowances reset, downgrades take effect and canceled access ends at 00:00 UTC on the
1st (DOMAIN.md §3, §4)."""

from __future__ import annotations

import datetime
import re

from django.core.exceptions import ValidationError

UTC = datetime.UTC
MONTH = re.compile(r"^(\d{4})-(\d{2})\Z")


def month_start(moment: datetime.datetime) -> datetime.datetime:
    """00:00 UTC on the 1st of the month of `moment`."""
    moment = moment.astimezone(UTC)
    return datetime.datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month_start(moment: datetime.datetime) -> datetime.datetime:
    """00:00 UTC on the 1st of the month after the month of `moment`."""
    moment = moment.astimezone(UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return datetime.datetime(year, month, 1, tzinfo=UTC)


def parse_month(text: str) -> datetime.datetime:
    """The start of the month written `YYYY-MM`, or ValidationError."""
    match = MONTH.match(text or "")
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise ValidationError(f"{text!r} is not a month: write it as YYYY-MM, like 2026-11.", code="month")
    return datetime.datetime(int(match.group(1)), int(match.group(2)), 1, tzinfo=UTC)


def month_label(start: datetime.datetime) -> str:
    return f"{start:%Y-%m}"

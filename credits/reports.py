"""The Kiro user activity report (DOMAIN.md §7; issue 8 item 5): one CSV per profile, UTC day and client type, with
one row per user who used Kiro that day with that client type, in the columns of the real report (`HEADER`).

Read from the `DailyUsage` rollup, never from the events: a day of 60,000 users is one query (plus the profile's
settings and the tier catalogue), whatever the number of users, streamed row by row (`.iterator()`), so neither
a download nor `manage.py export_user_report` holds the day in memory.

A row sums the user's day over models. Its columns:
- `Date` the day (YYYY-MM-DD); `UserId` `<identity store id>.<user id>`; `Client_Type` KIRO_IDE or KIRO_CLI;
- `Chat_Conversations` the rollup's `events` (one per event, or what an imported report row said);
  `Total_Messages` its `messages`;
- `Credits_Used` plan + overage credits, `Overage_Credits_Used` the overage part (two decimals);
- `Subscription_Tier` the tier code the credits counted against (the highest by rank if several that day) and
  `Usage_Limit` that tier's monthly credits;
- `Overage_Cap` the user's own cap in the profile (empty: none), `Overage_Enabled` the profile's switch
  (`true`/`false`);
- `ProfileId` the profile's ARN; `New_User` `true` when this is the user's first day with usage in the profile
  (any client type); `User_Email` the directory's email.

Files are named as Kiro names them in S3: `<client type>_<account id>_user_report_<yyyyMMdd>0000.csv`
(`KIRO_IDE_123456789012_user_report_202610030000.csv`). Kiro keeps each Region's files in a folder of its own;
two profiles of one account (in two Regions) exported into one folder would take the same names.

Every cell that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage
return) is prefixed with a single quote (`kiroconsole.csv_safe`): the emails come from the directory, which SCIM
and imports fill. Lines end with CRLF, as the console's other CSV exports (RFC 4180).
"""

from __future__ import annotations

import csv
import datetime
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import F, Min, OuterRef, Subquery, Sum
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header

from credits import catalogue
from credits.models import ClientType, DailyUsage, credits_of
from kiroconsole.csv_safe import csv_safe
from subscriptions.models import Profile, ProfileSettings, Subscription

HEADER = (
    "Date",
    "UserId",
    "Client_Type",
    "Chat_Conversations",
    "Credits_Used",
    "Overage_Cap",
    "Overage_Credits_Used",
    "Overage_Enabled",
    "ProfileId",
    "Subscription_Tier",
    "Total_Messages",
    "New_User",
    "User_Email",
    "Usage_Limit",
)
CHUNK = 2000  # rows fetched at a time


class ReportInvalid(ValueError):
    """A bad report parameter: `field` names it (date or client_type), the message says what is expected."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def report_day(value: str | None, *, today: datetime.date | None = None) -> datetime.date:
    """The day of `?date=` / `--date`: YYYY-MM-DD, not in the future (UTC)."""
    if not value:
        raise ReportInvalid("date", "Give the day of the report as YYYY-MM-DD.")
    try:
        day = datetime.date.fromisoformat(value.strip())
    except ValueError:
        raise ReportInvalid("date", f"{value!r} is not a date: give the day as YYYY-MM-DD.") from None
    if len(value.strip()) != 10:
        raise ReportInvalid("date", f"{value!r} is not a date: give the day as YYYY-MM-DD.")
    if day > (today or timezone.now().astimezone(datetime.UTC).date()):
        raise ReportInvalid("date", f"{day} is in the future: there is no report for it yet.")
    return day


def report_client_type(value: str | None) -> str:
    """The client type of `?client_type=` / `--client-type` (any case)."""
    code = (value or "").strip().upper()
    if code not in ClientType.values:
        known = " or ".join(ClientType.values)
        raise ReportInvalid("client_type", f"{value!r} is not a client type: give {known}.")
    return code


def report_filename(profile: Profile, client_type: str, day: datetime.date) -> str:
    """Kiro's own name for the file: `<client type>_<account id>_user_report_<yyyyMMdd>0000.csv`."""
    return f"{client_type}_{profile.account.account_id}_user_report_{day:%Y%m%d}0000.csv"


class _Line:
    """A file-like object for csv.writer that hands back the line written."""

    def write(self, text: str) -> str:
        return text


def _flag(value: bool) -> str:
    return "true" if value else "false"


@dataclass
class UserReport:
    """The report of one profile, day and client type. `rows()` yields its data rows as lists of cells (the
    header not included), `lines()` the whole CSV text a line at a time; `count` is the rows yielded so far."""

    profile: Profile
    day: datetime.date
    client_type: str
    count: int = field(default=0, init=False)

    @property
    def filename(self) -> str:
        return report_filename(self.profile, self.client_type, self.day)

    def _query(self) -> Any:
        profile, day = self.profile, self.day
        first_day = (
            DailyUsage.objects.filter(profile=profile, user_id=OuterRef("user_id"))
            .order_by()
            .values("user_id")
            .annotate(first=Min("day"))
            .values("first")
        )
        cap = Subscription.objects.filter(profile=profile, user_id=OuterRef("user_id")).values("overage_cap")[:1]
        return (
            DailyUsage.objects.filter(profile=profile, day=day, client_type=self.client_type)
            .values("user_id", "tier_id")
            .annotate(
                plan=Sum("plan_hundredths"),
                overage=Sum("overage_hundredths"),
                messages_sum=Sum("messages"),
                events_sum=Sum("events"),
                email=F("user__email"),
                first_day=Subquery(first_day),
                cap=Subquery(cap),
            )
            .order_by("user_id", "tier_id")
            .values_list(
                "user_id", "tier_id", "plan", "overage", "messages_sum", "events_sum", "email", "first_day", "cap"
            )
        )

    def rows(self) -> Iterator[list[str]]:
        profile, day = self.profile, self.day
        overage_enabled = _flag(
            ProfileSettings.objects.filter(profile=profile).values_list("overage_enabled", flat=True).first() or False
        )
        tiers = catalogue.tiers()
        store = profile.identity_center.identity_store_id
        profile_id = profile.arn
        date = day.isoformat()
        for user_id, group in itertools.groupby(self._query().iterator(chunk_size=CHUNK), key=lambda r: r[0]):
            parts = list(group)  # a user's tiers of the day: one, rarely two
            tier = max((tiers[part[1]] for part in parts), key=lambda t: t.rank)
            plan = sum(int(part[2] or 0) for part in parts)
            overage = sum(int(part[3] or 0) for part in parts)
            messages = sum(int(part[4] or 0) for part in parts)
            events = sum(int(part[5] or 0) for part in parts)
            _, _, _, _, _, _, email, first_day, cap = parts[0]
            if isinstance(first_day, str):  # SQLite's MIN() of a date in a subquery
                first_day = datetime.date.fromisoformat(first_day[:10])
            self.count += 1
            yield [
                date,
                csv_safe(f"{store}.{user_id}"),
                self.client_type,
                str(events),
                f"{credits_of(plan + overage):.2f}",
                "" if cap is None else f"{Decimal(str(cap)):.2f}",
                f"{credits_of(overage):.2f}",
                overage_enabled,
                csv_safe(profile_id),
                csv_safe(tier.code),
                str(messages),
                _flag(first_day == day),
                csv_safe(email or ""),
                str(tier.monthly_credits),
            ]

    def lines(self) -> Iterator[str]:
        writer = csv.writer(_Line(), lineterminator="\r\n")
        yield writer.writerow(HEADER)
        for row in self.rows():
            yield writer.writerow(row)


def user_report(*, profile: Profile, day: datetime.date, client_type: str) -> UserReport:
    """The user activity report of `profile` for `day` (UTC) and `client_type`, ready to stream."""
    return UserReport(profile=profile, day=day, client_type=report_client_type(client_type))


def report_response(report: UserReport) -> StreamingHttpResponse:
    """The report as a streamed CSV attachment with Kiro's file name (the API's answer and the console's download)."""
    response = StreamingHttpResponse(report.lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=report.filename)
    return response

"""`import_user_report`: real Kiro user activity reports (DOMAIN.md §7) brought in as usage history (issue 8 item 5).

An organization moving to this console brings the reports Kiro wrote to its S3 bucket, one CSV per day and client
type (`credits.reports` writes the same files). Every file is read and every row checked first; any issue, printed
as `FILE:LINE: COLUMN: message`, means nothing at all is written. The checks:
- the header: the report's columns (`credits.reports.HEADER`), in any order and letter case; `New_User` may be
  missing (some real exports lack it) and the per-model `<model>_messages` columns of real exports are ignored;
- `Date` a day (YYYY-MM-DD) not in the future; `Client_Type` KIRO_IDE or KIRO_CLI; `Subscription_Tier` a tier code;
- `UserId` `<identity store id>.<user id>` of a user of the profile's directory (the import creates nobody);
- `Credits_Used`, `Overage_Credits_Used` non-negative with at most two decimals, the overage at most the credits;
  `Chat_Conversations`, `Total_Messages`, `Usage_Limit` non-negative integers; `Overage_Cap` empty or a
  non-negative amount; `Overage_Enabled`, `New_User` true or false;
- `ProfileId` this profile's ARN (or its id), or the one named by `from_profile`, to bring another profile's
  reports (Kiro's own profile has another ARN than the console's): a file of any other profile is refused, once
  per file and profile;
- a (day, user, client type) once: the same again with other values is an issue (identical: unchanged);
- nothing the console metered itself for that user, day and client type (it would be counted twice).

Then one transaction writes, set-based, for each row with credits:
- up to two usage events, `source` "report", model "report", `occurred_at` the day at 00:00 UTC, `tier` the
  row's: the plan part (Credits_Used - Overage_Credits_Used, outcome PLAN) and the overage part (outcome OVERAGE),
  each only when more than 0 (an event has credits, by a check constraint). The row's messages and conversations
  go on the plan event, or on the overage event when the whole row is overage. Their idempotency keys are
  `report:<day>:<user id>:<client type>:plan|overage`: a row whose events are there with the same values is
  unchanged; with other values (or only one of them there) it is a conflict, an issue;
- the rollups (`rollups_add`), so the dashboard, the explorer and the report itself see the history;
- the balances: the events belong to the user's subscription in the profile when there is one (else to none, and
  no balance counts them); the subscription's monthly `Balance` gets the plan and overage credits, the profile's
  `ProfileBalance` the overage. *Our rule* for history beyond an allowance: the report is the record of what was
  used, so its split between plan and overage is kept; the month's allowance is at least the report tier's credits
  and is raised to the plan credits used when they exceed it (the month then has no plan credits left; caps and
  the overage switch are not applied to history). So `check_balances` and `rebuild_rollups --check` stay clean.

*Our rule* for a row of 0 credits: it is not imported (no event can hold 0 credits, and the rollups are sums of
events); it is counted as skipped in the summary, with its messages and conversations.

Subscriptions themselves are not changed (status, "last active"): history is recorded, not replayed.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from credits import catalogue
from credits.models import Balance, ClientType, DailyUsage, Outcome, ProfileBalance, UsageEvent, hundredths_of
from credits.reports import HEADER
from credits.services.metering import EVENT_FIELDS
from credits.services.rollups import Use, rollups_add
from directory.importers import ImportFailed, Issue
from directory.importers.reader import WHOLE_ROW, CsvReader, Layout
from directory.models import DirectoryUser
from kiroconsole.audit import Actor, audit_record
from kiroconsole.bulk import adapter, insert_rows, update_by_key
from subscriptions.models import Profile, Subscription

__all__ = ["ImportFailed", "Issue", "ReportCounts", "user_report_import"]

SOURCE = "report"
MODEL = "report"
LAYOUT = Layout(required=tuple(c for c in HEADER if c != "New_User"), optional=("New_User",))
ORDER = {column: position for position, column in enumerate(HEADER)}
AMOUNT = re.compile(r"\d+(\.\d{1,2})?")
COUNT = re.compile(r"\d+")
MAX_COUNT = 2_147_483_647  # PositiveIntegerField
FLAGS = {"true": True, "false": False}
IN_CHUNKS = 900  # values of an IN (...) list: SQLite takes 32,766 parameters

OnIssue = Callable[[str, Issue], None]
Progress = Callable[[str, int, int], None]


@dataclass
class ReportCounts:
    imported: int = 0
    plan_credits: Decimal = Decimal("0.00")
    overage_credits: Decimal = Decimal("0.00")
    unchanged: int = 0
    skipped: int = 0
    skipped_messages: int = 0
    events: int = 0

    def summary(self, *, dry_run: bool = False) -> str:
        """`imported N rows (plan credits X, overage credits Y), unchanged K, skipped Z without credits`."""
        verb = "would import" if dry_run else "imported"
        credits = f"plan credits {self.plan_credits:.2f}, overage credits {self.overage_credits:.2f}"
        skipped = f"skipped {self.skipped} without credits"
        if self.skipped_messages:
            skipped += f" ({self.skipped_messages} messages not counted)"
        return f"{verb} {self.imported} rows ({credits}), unchanged {self.unchanged}, {skipped}"

    def as_audit(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "events": self.events,
            "plan_credits": f"{self.plan_credits:.2f}",
            "overage_credits": f"{self.overage_credits:.2f}",
            "unchanged": self.unchanged,
            "skipped": self.skipped,
        }


class ReportReader(CsvReader):
    """The CSV reader of the imports, knowing the report's header: real exports add a `<model>_messages` column
    per model (ignored here: the report's totals are what is imported)."""

    def _columns(self, line: int, header: list[str]) -> dict[str, int] | None:
        kept = [
            position
            for position, name in enumerate(header)
            if not (name.strip().lower().endswith("_messages") and name.strip().lower() != "total_messages")
        ]
        index = super()._columns(line, [header[position] for position in kept])
        return None if index is None else {column: kept[position] for column, position in index.items()}


@dataclass(frozen=True, slots=True)
class Row:
    """A checked row of a report: amounts in hundredths."""

    file: int
    line: int
    day: datetime.date
    user_id: uuid.UUID
    client_type: str
    tier: str
    credits: int
    overage: int
    conversations: int
    messages: int

    @property
    def plan(self) -> int:
        return self.credits - self.overage

    @property
    def base_key(self) -> str:
        return f"report:{self.day.isoformat()}:{self.user_id}:{self.client_type}"

    def parts(self) -> list[tuple[str, str, int, int, int]]:
        """(key, outcome, hundredths, messages, conversations) of the events the row is written as."""
        parts: list[tuple[str, str, int, int, int]] = []
        if self.plan > 0:
            parts.append((f"{self.base_key}:plan", Outcome.PLAN, self.plan, self.messages, self.conversations))
        if self.overage > 0:
            on_it = self.plan == 0
            parts.append(
                (
                    f"{self.base_key}:overage",
                    Outcome.OVERAGE,
                    self.overage,
                    self.messages if on_it else 0,
                    self.conversations if on_it else 0,
                )
            )
        return parts

    def payload(self) -> tuple:
        return (self.day, self.user_id, self.client_type, self.tier, self.credits, self.overage, self.messages)


def payload_hash(row: Row, outcome: str, hundredths: int, messages: int, conversations: int) -> str:
    text = "|".join(
        map(str, (row.day, row.user_id, row.client_type, row.tier, outcome, hundredths, messages, conversations))
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Check:
    """What the checks of one import know: the profile, the tiers, and the rows so far."""

    profile: Profile
    today: datetime.date
    tiers: set[str]
    references: frozenset[str]  # the ProfileId the files may have
    expected: str  # ... as the messages name it
    issues: list[tuple[int, Issue]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    foreign: set[tuple[int, str]] = field(default_factory=set)  # (file, ProfileId) already reported

    def issue(self, file: int, line: int, column: str, message: str) -> None:
        self.issues.append((file, Issue(line, column, message)))


def _amount(check: _Check, file: int, line: int, values: dict[str, str], column: str) -> int | None:
    value = values[column]
    if not AMOUNT.fullmatch(value):
        check.issue(file, line, column, f"{value!r} is not an amount of credits: like 12.50 (at most two decimals)")
        return None
    return hundredths_of(Decimal(value))


def _count(check: _Check, file: int, line: int, values: dict[str, str], column: str) -> int | None:
    value = values[column]
    if not COUNT.fullmatch(value) or int(value) > MAX_COUNT:
        check.issue(file, line, column, f"{value!r} is not a count: a whole number, 0 or more")
        return None
    return int(value)


def _check_row(check: _Check, file: int, line: int, values: dict[str, str]) -> None:
    """Check one row alone (and its ProfileId); keep it when it is good."""
    profile = check.profile
    before = len(check.issues)
    report = check.issue
    day = None
    text = values["Date"]
    try:
        day = datetime.date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        report(file, line, "Date", f"{text!r} is not a date: like 2026-10-03")
    elif day > check.today:
        report(file, line, "Date", f"{day} is in the future")
    user_id = None
    store, _, user = values["UserId"].partition(".")
    try:
        user_id = uuid.UUID(user) if user else None
    except ValueError:
        user_id = None
    own_store = profile.identity_center.identity_store_id
    if user_id is None:
        report(
            file, line, "UserId", f"{values['UserId']!r} is not <identity store id>.<user id>, like {own_store}.<uuid>"
        )
    elif store != own_store:
        report(file, line, "UserId", f"the identity store {store!r} is not this profile's directory ({own_store})")
        user_id = None
    client_type = values["Client_Type"].upper()
    if client_type not in ClientType.values:
        known = " or ".join(ClientType.values)
        report(file, line, "Client_Type", f"{values['Client_Type']!r} is not a client type: {known}")
    tier = values["Subscription_Tier"].upper()
    if tier not in check.tiers:
        known = ", ".join(sorted(check.tiers))
        report(file, line, "Subscription_Tier", f"{values['Subscription_Tier']!r} is not a tier code: {known}")
    conversations = _count(check, file, line, values, "Chat_Conversations")
    credits = _amount(check, file, line, values, "Credits_Used")
    if values["Overage_Cap"] and not AMOUNT.fullmatch(values["Overage_Cap"]):
        report(
            file, line, "Overage_Cap", f"{values['Overage_Cap']!r} is not an amount of credits: empty or like 100.00"
        )
    overage = _amount(check, file, line, values, "Overage_Credits_Used")
    if credits is not None and overage is not None and overage > credits:
        report(file, line, "Overage_Credits_Used", f"{values['Overage_Credits_Used']} is more than Credits_Used")
    for column in ("Overage_Enabled", "New_User"):
        value = values.get(column)
        if value is not None and value.lower() not in FLAGS:
            report(file, line, column, f"{value!r} is not true or false")
    reference = values["ProfileId"]
    foreign = reference not in check.references
    if foreign and (file, reference) not in check.foreign:  # told once per file and profile
        check.foreign.add((file, reference))
        report(
            file,
            line,
            "ProfileId",
            f"the report is of the profile {reference!r}, not of {check.expected}: nothing "
            "of it can be imported here (another profile's reports need --from-profile)",
        )
    messages = _count(check, file, line, values, "Total_Messages")
    _count(check, file, line, values, "Usage_Limit")
    if len(check.issues) == before and not foreign:
        assert day is not None and user_id is not None and credits is not None and overage is not None
        assert conversations is not None and messages is not None
        check.rows.append(Row(file, line, day, user_id, client_type, tier, credits, overage, conversations, messages))


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), IN_CHUNKS):
        yield values[start : start + IN_CHUNKS]


def _check_against_database(check: _Check, names: Sequence[str]) -> list[Row]:
    """Check the good rows against each other and the database; the rows to write (new ones, with credits)."""
    profile = check.profile
    user_ids = sorted({row.user_id for row in check.rows})
    known: set[uuid.UUID] = set()
    for chunk in _chunks(user_ids):
        known.update(
            DirectoryUser.objects.filter(identity_center_id=profile.identity_center_id, pk__in=chunk).values_list(
                "pk", flat=True
            )
        )
    first: dict[tuple, Row] = {}
    rows: list[Row] = []
    store = profile.identity_center.identity_store_id
    for row in check.rows:
        if row.user_id not in known:
            check.issue(row.file, row.line, "UserId", f"no user {row.user_id} in the directory {store}")
            continue
        key = (row.day, row.user_id, row.client_type)
        seen = first.get(key)
        if seen is None:
            first[key] = row
            rows.append(row)
        elif seen.payload() != row.payload():
            where = f"line {seen.line}" if seen.file == row.file else f"{names[seen.file]} line {seen.line}"
            check.issue(
                row.file,
                row.line,
                "UserId",
                f"this user's {row.client_type} use on {row.day} is already on {where} with other values",
            )
    # Use the console metered itself for those users, days and client types: the report would count it twice.
    days = sorted({row.day for row in rows})
    metered: set[tuple] = set()
    for chunk in _chunks(days):
        metered.update(
            DailyUsage.objects.filter(profile=profile, day__in=chunk)
            .exclude(model=MODEL)
            .values_list("day", "user_id", "client_type")
            .distinct()
        )
    kept = []
    for row in rows:
        if (row.day, row.user_id, row.client_type) in metered:
            check.issue(
                row.file,
                row.line,
                "UserId",
                f"the console already metered this user's {row.client_type} use on {row.day}: importing the report "
                "would count it twice",
            )
        else:
            kept.append(row)
    return kept


def _split_existing(check: _Check, rows: list[Row], counts: ReportCounts) -> list[Row]:
    """The rows whose events are not there yet; rows already imported with the same values count as unchanged,
    with other values they are issues."""
    profile = check.profile
    wanted: dict[str, str] = {}
    for row in rows:
        for key, outcome, hundredths, messages, conversations in row.parts():
            wanted[key] = payload_hash(row, outcome, hundredths, messages, conversations)
    both = [f"{row.base_key}:{part}" for row in rows for part in ("plan", "overage")]
    existing: dict[str, str] = {}
    for chunk in _chunks(both):
        existing.update(
            UsageEvent.objects.filter(profile=profile, idempotency_key__in=chunk).values_list(
                "idempotency_key", "payload_hash"
            )
        )
    new = []
    for row in rows:
        have = {key: existing[key] for key in (f"{row.base_key}:plan", f"{row.base_key}:overage") if key in existing}
        want = {key: wanted[key] for key, *_ in row.parts()}
        if not have:
            new.append(row)
        elif have == want:
            counts.unchanged += 1
        else:
            check.issue(
                row.file,
                row.line,
                WHOLE_ROW,
                f"this user's {row.client_type} use on {row.day} was imported before with other values "
                f"(keys {row.base_key}:plan/overage): nothing of it can change",
            )
    return new


def _progress(progress: Progress | None, total: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    return lambda done: progress("checking", done, total)


def _collect(check: _Check, file: int) -> Callable[[Issue], None]:
    return lambda issue: check.issues.append((file, issue))


def user_report_import(
    *,
    profile: Profile,
    sources: Sequence[tuple[str, BinaryIO]],
    actor: Actor,
    on_issue: OnIssue,
    dry_run: bool = False,
    progress: Progress | None = None,
    now: datetime.datetime | None = None,
    from_profile: str = "",
) -> ReportCounts:
    """Import the user activity reports `sources` ((name, seekable binary file) pairs) into `profile`; unless
    `dry_run`, keep them. Every issue goes to `on_issue` (file name, issue), in file, line and column order; if
    there is any, nothing is written and ImportFailed is raised. `from_profile`: the ProfileId (an ARN) of the
    files when they are another profile's (by default they must be `profile`'s)."""
    now = now or timezone.now()
    counts = ReportCounts()
    references = frozenset({from_profile.strip()} if from_profile.strip() else {profile.arn, profile.profile_id})
    check = _Check(
        profile=profile,
        today=now.astimezone(datetime.UTC).date(),
        tiers=set(catalogue.tiers()),
        references=references,
        expected=from_profile.strip() or f"this one ({profile.arn})",
    )
    names = [name for name, _ in sources]
    digests = []
    with transaction.atomic():
        for number, (name, stream) in enumerate(sources):
            total = stream.seek(0, os.SEEK_END)
            told = _progress(progress, total)
            reader = ReportReader(stream, LAYOUT, _collect(check, number), told)
            for record in reader.records():
                _check_row(check, number, record.line, record.values)
            digests.append({"file": os.path.basename(name), "sha256": reader.sha256})
        zero = [row for row in check.rows if row.credits == 0]
        check.rows = [row for row in check.rows if row.credits > 0]
        rows = _check_against_database(check, names)
        rows = _split_existing(check, rows, counts)
        if check.issues:
            shown = sorted(
                check.issues,
                key=lambda item: (item[0], item[1].line, ORDER.get(item[1].column, -1)),
            )
            for number, issue in shown:
                on_issue(names[number], issue)
            raise ImportFailed(len(check.issues))
        counts.skipped = len(zero)
        counts.skipped_messages = sum(row.messages for row in zero)
        counts.imported = len(rows)
        for row in rows:
            counts.plan_credits += Decimal(row.plan).scaleb(-2)
            counts.overage_credits += Decimal(row.overage).scaleb(-2)
            counts.events += len(row.parts())
        if not dry_run and rows:
            _write(profile, rows, actor, now)
        if not dry_run:
            audit_record(
                actor=actor,
                action="usage.report_import",
                target=profile,
                after={"files": digests, "from_profile": from_profile or None, **counts.as_audit()},
            )
    return counts


def _write(profile: Profile, rows: list[Row], actor: Actor, now: datetime.datetime) -> None:
    """The events, rollups and balances of `rows` (inside the import's transaction)."""
    subs = dict(
        Subscription.objects.filter(profile=profile, user_id__in={row.user_id for row in rows}).values_list(
            "user_id", "pk"
        )
    )
    convert = {name: adapter(UsageEvent, name) for name in EVENT_FIELDS}
    received = convert["received_at"](now)
    events = []
    uses = []
    months: dict[tuple[Any, datetime.date], list[int]] = defaultdict(lambda: [0, 0, 0])  # plan, overage, tier credits
    shared: dict[datetime.date, int] = defaultdict(int)
    tiers = catalogue.tiers()
    for row in rows:
        at = datetime.datetime.combine(row.day, datetime.time(), tzinfo=datetime.UTC)
        month = row.day.replace(day=1)
        sub = subs.get(row.user_id)
        for key, outcome, hundredths, messages, conversations in row.parts():
            amount = Decimal(hundredths).scaleb(-2)
            plan = amount if outcome == Outcome.PLAN else Decimal("0.00")
            events.append(
                (
                    convert["profile_id"](profile.pk),
                    key,
                    payload_hash(row, outcome, hundredths, messages, conversations),
                    convert["user_id"](row.user_id),
                    convert["subscription_id"](sub) if sub else None,
                    row.tier,
                    convert["credits"](amount),
                    convert["occurred_at"](at),
                    convert["month"](month),
                    row.client_type,
                    MODEL,
                    messages,
                    conversations,
                    outcome,
                    "",
                    convert["plan_credits"](plan),
                    convert["overage_credits"](amount - plan),
                    convert["remaining_credits"](Decimal("0.00")),
                    received,
                    SOURCE,
                    actor.label[:200],
                    actor.remote_addr,
                )
            )
        uses.append(
            Use(
                profile.pk,
                row.user_id,
                row.day,
                row.client_type,
                MODEL,
                row.tier,
                row.plan,
                row.overage,
                row.messages,
                row.conversations,
            )
        )
        if sub:
            total = months[(sub, month)]
            total[0] += row.plan
            total[1] += row.overage
            total[2] = max(total[2], tiers[row.tier].monthly_credits * 100)
        if row.overage:
            shared[month] += row.overage
    insert_rows(UsageEvent, EVENT_FIELDS, events)
    rollups_add(uses)
    _add_to_balances(months, now)
    _add_to_profile_balances(profile, shared, now)


def _add_to_balances(months: dict[tuple[Any, datetime.date], list[int]], now: datetime.datetime) -> None:
    """Add plan and overage to the subscriptions' monthly balances, created where missing; the allowance is raised
    to the report tier's credits, and to the plan credits used where they exceed it (see the module's rule)."""
    if not months:
        return
    Balance.objects.bulk_create(
        [
            Balance(subscription_id=sub, month=month, allowance_hundredths=tier, updated_at=now)
            for (sub, month), (_, _, tier) in sorted(months.items(), key=lambda item: (str(item[0][0]), item[0][1]))
        ],
        ignore_conflicts=True,
    )
    wanted = set(months)
    current = {}
    for chunk in _chunks(sorted({sub for sub, _ in months}, key=str)):
        locked = Balance.objects.filter(subscription_id__in=chunk, month__in={m for _, m in months}).order_by("pk")
        if connection.vendor != "sqlite":
            locked = locked.select_for_update()
        for pk, sub, month, allowance, plan in locked.values_list(
            "pk", "subscription_id", "month", "allowance_hundredths", "plan_hundredths"
        ):
            if (sub, month) in wanted:
                current[(sub, month)] = (pk, allowance, plan)
    stamp = adapter(Balance, "updated_at")(now)
    updates = []
    for key, (plan, overage, tier) in months.items():
        pk, allowance, used = current[key]
        updates.append((pk, plan, overage, max(allowance, tier, used + plan), stamp))
    changed = update_by_key(
        Balance,
        "plan_hundredths = t.plan_hundredths + v.plan, overage_hundredths = t.overage_hundredths + v.overage, "
        "allowance_hundredths = v.allowance, updated_at = v.stamp",
        {
            "plan": "plan_hundredths",
            "overage": "overage_hundredths",
            "allowance": "allowance_hundredths",
            "stamp": "updated_at",
        },
        sorted(updates),
    )
    assert changed == len(updates), (changed, len(updates))


def _add_to_profile_balances(profile: Profile, shared: dict[datetime.date, int], now: datetime.datetime) -> None:
    if not shared:
        return
    ProfileBalance.objects.bulk_create(
        [ProfileBalance(profile=profile, month=month, updated_at=now) for month in shared], ignore_conflicts=True
    )
    for month, overage in sorted(shared.items()):
        ProfileBalance.objects.filter(profile=profile, month=month).update(
            overage_hundredths=F("overage_hundredths") + overage, updated_at=now
        )

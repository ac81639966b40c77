"""Recording usage events: entitlement, plan credits, overage and caps, exactly under concurrency (DOMAIN.md §5).

`usage_record` is the one door for the API (single events and batches) and `import_usage`. In one transaction it:
1. answers replays from the stored events (same key and payload: the first answer; another payload: a conflict);
2. resolves users and subscriptions and rejects what has no access (no subscription, access ended, user
   deactivated, model not approved): rejected events are stored, counted nowhere;
3. locks the balances it needs (`SELECT ... FOR UPDATE`, in id order; SQLite's IMMEDIATE transactions already
   hold the database's write lock), decides every event in order in memory: plan use while it fits the
   allowance, else overage where the profile allows it and every cap holds (user, group, shared), else rejected;
   an event is never split;
4. writes the events in one statement and each balance once, by a conditional `UPDATE ... F()` whose condition
   repeats the limit (the check constraints hold it too), so a wrong decision would fail rather than overspend;
5. activates Pending subscriptions and moves "last active", and raises threshold alerts.
Two requests racing for the same key: the loser's insert fails on the unique key, its transaction rolls back and
it is run again, now answering from the winner's event.
`usage_record_one` (the API's single event) puts the single events a process receives at the same time into one
call (group commit). Ids stay in the database's form from the users query to the rows written (`_Forms`).
"""

from __future__ import annotations

import dataclasses
import datetime
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings as django_settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from credits import catalogue
from credits.events import EventIn
from credits.models import (
    Balance,
    Outcome,
    ProfileBalance,
    Reason,
    UsageEvent,
    credits_of,
    hundredths_of,
)
from credits.selectors import metering_settings
from credits.services.alerts import Alerts
from credits.services.rollups import Use, rollups_add
from directory.models import DirectoryUser
from kiroconsole.audit import Actor
from kiroconsole.bulk import adapter, hot_cursor, insert_rows, reader, update_by_key
from subscriptions.calendar import month_start, next_month_start
from subscriptions.models import (
    GroupAssignment,
    ModelAvailability,
    Profile,
    ProfileSettings,
    Subscription,
    SubscriptionPeriod,
    SubscriptionStatus,
    Tier,
)
from subscriptions.services import subscriptions_record_first_use

ACCESS_REASONS = {
    Reason.NOT_SUBSCRIBED,
    Reason.NOT_YET_SUBSCRIBED,
    Reason.ACCESS_ENDED,
    Reason.USER_INACTIVE,
    Reason.MODEL_NOT_APPROVED,
}
RETRIES = 5
RETRY_STATES = {"40P01", "40001"}  # PostgreSQL's deadlock_detected and serialization_failure: run again
LAST_ACTIVE_GRANULARITY = datetime.timedelta(minutes=1)  # "last active" moves by a minute at least: one write less
CENT = Decimal("0.01")


class UnknownUser(Exception):
    """An event names no user of this profile's directory (bad input: nothing is stored for it)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class Result:
    """The answer to one event, as the API gives it."""

    key: str
    status: str  # "accepted" or "rejected"
    outcome: str = ""
    reason: str = ""
    detail: str = ""
    plan_credits: Decimal = Decimal("0.00")
    overage_credits: Decimal = Decimal("0.00")
    remaining_credits: Decimal = Decimal("0.00")
    replayed: bool = False
    conflict: bool = False
    invalid_field: str = ""

    @property
    def http_status(self) -> int:
        """A single event's status (CONTRACTS.md): 201 accepted, 200 replay, 402 credits or cap, 403 not
        entitled, 409 key reused for another payload, 422 bad input."""
        if self.conflict:
            return 409
        if self.invalid_field:
            return 422
        if self.status == "accepted":
            return 200 if self.replayed else 201
        return 403 if self.reason in ACCESS_REASONS else 402

    @classmethod
    def invalid(cls, key: str, field: str, message: str) -> Result:
        return cls(key=key, status="rejected", reason="invalid", detail=message, invalid_field=field)

    @classmethod
    def of_event(cls, event: dict[str, Any], replayed: bool = False) -> Result:
        """The answer stored with an event (a `values()` row)."""
        outcome, reason = event["outcome"], event["reason"]
        return cls(
            key=event["idempotency_key"],
            status="rejected" if outcome == Outcome.REJECTED else "accepted",
            outcome=outcome,
            reason=reason,
            detail=Reason(reason).label if reason else "",
            plan_credits=Decimal(event["plan_credits"]).quantize(CENT),
            overage_credits=Decimal(event["overage_credits"]).quantize(CENT),
            remaining_credits=Decimal(event["remaining_credits"]).quantize(CENT),
            replayed=replayed,
        )


@dataclass
class _Account:
    """A balance being decided: its locked values and what this call adds."""

    pk: int
    allowance: int
    plan: int
    overage: int
    start_plan: int = 0
    start_overage: int = 0
    start_allowance: int = 0

    def __post_init__(self) -> None:
        self.start_plan, self.start_overage, self.start_allowance = self.plan, self.overage, self.allowance


@dataclass
class _Context:
    profile: Profile
    settings: ProfileSettings
    now: datetime.datetime
    month: datetime.date  # of `now`
    tiers: dict[str, Tier]
    approved: frozenset[str] | None
    group_caps: dict[Any, int] | None = None
    shared: dict[datetime.date, _Account] = field(default_factory=dict)


def usage_record(
    *,
    profile: Profile,
    events: Sequence[EventIn],
    actor: Actor,
    now: datetime.datetime | None = None,
    settings: ProfileSettings | None = None,
    actors: Sequence[Actor] | None = None,
) -> list[Result]:
    """Record `events` (already parsed by `credits.events.event_parse`) in `profile`; the answers, in order (an
    unknown user is its event's answer, with `invalid_field`). `settings`: the profile's, when the caller has them.
    `actors`: who sent each event, when they differ (group commit); else `actor` sent them all."""
    now = now or timezone.now()
    senders = [_sender(a) for a in actors] if actors is not None else [_sender(actor)] * len(events)
    for attempt in range(RETRIES):
        try:
            with transaction.atomic():
                # New keys are the rule: the first attempt does not look for recorded ones. A replay makes the
                # insert fail on the unique key, which rolls everything back and runs again, looking first.
                return _record(profile, events, senders, now, settings, look_first=attempt > 0)
        except IntegrityError:
            # A key recorded before (a replay, or another request's just now): run again, looking first.
            if attempt == RETRIES - 1:
                raise
        except OperationalError as error:
            # PostgreSQL chose this transaction as a deadlock's victim (or could not serialize it): nothing of it
            # was kept, so it runs again; the other side has gone on by then.
            if getattr(error.__cause__, "sqlstate", None) not in RETRY_STATES or attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _sender(actor: Actor) -> tuple[str, str, str | None]:
    """What an event records of who sent it: source, label, address."""
    return actor.source, actor.label[:200], actor.remote_addr


def _find_existing(profile: Profile, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    return {
        row["idempotency_key"]: dict(row)
        for row in UsageEvent.objects.filter(profile=profile, idempotency_key__in=list(keys)).values(
            "idempotency_key",
            "payload_hash",
            "outcome",
            "reason",
            "plan_credits",
            "overage_credits",
            "remaining_credits",
        )
    }


class _Forms:
    """Conversions of the metering path's values to the database's form, chosen once per database: Django's field
    conversion (`get_db_prep_save`) costs microseconds a value, many times a batch. Ids stay in the database's
    form from the users query to the rows written (a UUID is 32 hex digits on SQLite, a `uuid` on PostgreSQL)."""

    def __init__(self, vendor: str):
        self.sqlite = vendor == "sqlite"
        self.native_uuid = vendor == "postgresql"
        uuid_read = reader(DirectoryUser._meta.get_field("id"))  # type: ignore[arg-type]
        self.uuid_in: Any = uuid_read  # database form -> uuid.UUID
        self.datetime_in: Any = reader(Subscription._meta.get_field("subscribed_at"))  # type: ignore[arg-type]
        self.decimal_in: Any = reader(Subscription._meta.get_field("overage_cap"))  # type: ignore[arg-type]
        if self.sqlite:
            self.uuid: Any = _hex
            self.datetime: Any = _sqlite_datetime
            self.date: Any = datetime.date.isoformat
            self.decimal: Any = str  # decimals of two places, as text: what Django writes
        elif self.native_uuid:
            self.uuid = self.datetime = self.date = self.decimal = _same
        else:  # another database: Django's own conversions
            self.uuid = adapter(DirectoryUser, "id")
            self.datetime = adapter(UsageEvent, "occurred_at")
            self.date = adapter(UsageEvent, "month")
            self.decimal = adapter(UsageEvent, "credits")


_FORMS: dict[str, _Forms] = {}


def _forms() -> _Forms:
    vendor = connection.vendor
    forms = _FORMS.get(vendor)
    if forms is None:
        forms = _FORMS[vendor] = _Forms(vendor)
    return forms


def _hex(value: uuid.UUID) -> str:
    return value.hex if type(value) is uuid.UUID else uuid.UUID(str(value)).hex


def _sqlite_datetime(value: datetime.datetime) -> str:
    """What Django writes on SQLite: UTC, without the zone."""
    if value.tzinfo is not datetime.UTC:
        value = value.astimezone(datetime.UTC)
    return value.replace(tzinfo=None).isoformat(" ")


def _same(value: Any) -> Any:
    return value


class _User:
    """A directory user's row, read by plain SQL (much cheaper to build than a model instance); `pk` in the
    database's form."""

    __slots__ = ("in_directory", "pk", "usable", "user_name")

    def __init__(self, pk: Any, user_name: str, in_directory: bool, usable: bool):
        self.pk = pk
        self.user_name = user_name
        self.in_directory = in_directory  # of the profile's directory
        self.usable = usable  # active and not deleted


class _Sub:
    """A subscription's row with the model's rules (`Subscription.has_access`, `effective_tier_id`); `db_id` and
    `user_id` in the database's form, `pk` the UUID (read when an alert or an activation needs it)."""

    __slots__ = (
        "_pk",
        "access_until",
        "db_id",
        "last_active_at",
        "next_tier_from",
        "next_tier_id",
        "overage_cap",
        "status",
        "subscribed_at",
        "tier_id",
        "user_id",
    )
    has_access: Any = Subscription.has_access
    effective_tier_id: Any = Subscription.effective_tier_id

    def __init__(self, user_id: Any, row: Sequence[Any], forms: _Forms):
        read_dt = forms.datetime_in
        self.db_id, self.status, self.tier_id, self.next_tier_id = row[0], row[1], row[2], row[3]
        self.next_tier_from = None if row[4] is None else read_dt(row[4])
        self.subscribed_at = read_dt(row[5])
        self.access_until = None if row[6] is None else read_dt(row[6])
        self.last_active_at = None if row[7] is None else read_dt(row[7])
        self.overage_cap = None if row[8] is None else forms.decimal_in(row[8])
        self.user_id = user_id
        self._pk: uuid.UUID | None = None

    @property
    def pk(self) -> uuid.UUID:
        if self._pk is None:
            self._pk = _forms().uuid_in(self.db_id)
        return self._pk


SUBSCRIPTION_FIELDS = (
    "id",
    "status",
    "tier_id",
    "next_tier_id",
    "next_tier_from",
    "subscribed_at",
    "access_until",
    "last_active_at",
    "overage_cap",
)
_USERS_SQL: dict[tuple[str, bool, bool], str] = {}


def _users_sql(vendor: str, by_id: bool, by_name: bool, ids: int, names: int) -> str:
    """The users query: users LEFT JOIN their subscription in the profile. PostgreSQL takes the ids and names as
    arrays, so a statement has one text whatever the batch (the server prepares it once)."""
    quote = connection.ops.quote_name
    key = (vendor, by_id, by_name)
    head = _USERS_SQL.get(key)
    if head is None:
        user_columns = [
            f"u.{quote(DirectoryUser._meta.get_field(n).column)}"  # type: ignore[union-attr,arg-type]
            for n in ("id", "identity_center", "user_name", "active", "deleted_at")
        ]
        sub_columns = [f"s.{quote(Subscription._meta.get_field(n).column)}" for n in SUBSCRIPTION_FIELDS]  # type: ignore[union-attr,arg-type]
        head = _USERS_SQL[key] = (
            f"SELECT {', '.join(user_columns + sub_columns)} FROM {quote(DirectoryUser._meta.db_table)} u "  # noqa: S608  # nosec B608
            f"LEFT JOIN {quote(Subscription._meta.db_table)} s ON s.user_id = u.id AND s.profile_id = %s WHERE "
        )
    conditions = []
    if by_id:
        conditions.append("u.id = ANY(%s)" if vendor == "postgresql" else f"u.id IN ({', '.join(['%s'] * ids)})")
    if by_name:
        names_in = "= ANY(%s)" if vendor == "postgresql" else f"IN ({', '.join(['%s'] * names)})"
        conditions.append(f"(u.identity_center_id = %s AND u.deleted_at IS NULL AND LOWER(u.user_name) {names_in})")
    # The users locked shared, in id order (PostgreSQL): a change of their groups waits for this request, or this
    # request for it (`directory.services.lock_users`; `rollups_add` reads their groups).
    locked = " ORDER BY u.id FOR KEY SHARE OF u" if vendor == "postgresql" else ""
    return head + " OR ".join(conditions) + locked


def _users(
    profile: Profile, events: Sequence[EventIn], forms: _Forms
) -> tuple[dict[Any, _User], dict[str, _User], dict[Any, _Sub]]:
    """The users the events name (by id, and by user name in the profile's directory) with their subscription
    in the profile: one plain SQL statement (users LEFT JOIN subscriptions). Keyed by the user's id in the
    database's form, and by lower-case user name."""
    to_db = forms.uuid
    ids = list({to_db(event.user_id) for event in events if event.user_id is not None})
    names = sorted({event.user_name.lower() for event in events if event.user_name})
    if not ids and not names:
        return {}, {}, {}
    directory = to_db(profile.identity_center_id)
    postgresql = connection.vendor == "postgresql"
    params: list[Any] = [profile.pk]
    if ids:
        params += [ids] if postgresql else ids
    if names:
        params += [directory, names] if postgresql else [directory, *names]
    sql = _users_sql(connection.vendor, bool(ids), bool(names), len(ids), len(names))
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    by_id: dict[Any, _User] = {}
    by_name: dict[str, _User] = {}
    subs: dict[Any, _Sub] = {}
    for row in rows:
        pk, user_directory, user_name, active, deleted_at = row[:5]
        in_directory = user_directory == directory
        user = _User(pk, user_name, in_directory, bool(active) and deleted_at is None)
        by_id[pk] = user
        if in_directory and deleted_at is None:
            by_name[user_name.lower()] = user
        if row[5] is not None:
            subs[pk] = _Sub(pk, row[5:], forms)
    return by_id, by_name, subs


def _user_of(event: EventIn, by_id: dict[Any, _User], by_name: dict[str, _User], forms: _Forms) -> _User:
    if event.user_id is not None:
        user = by_id.get(forms.uuid(event.user_id))
        if user is None:
            raise UnknownUser(f"No user {event.user_id} in the directory.")
        if not user.in_directory:
            raise UnknownUser(f"User {event.user_id} is in another directory than this profile's.")
        return user
    found = by_name.get((event.user_name or "").lower())
    if found is None:
        raise UnknownUser(f"No user named {event.user_name!r} in this profile's directory.")
    return found


def _access_reason(event: EventIn, at: datetime.datetime, user: _User, sub: _Sub | None, ctx: _Context) -> str:
    if not user.usable:
        return Reason.USER_INACTIVE
    if sub is None:
        return Reason.NOT_SUBSCRIBED
    if at < sub.subscribed_at:
        return Reason.NOT_YET_SUBSCRIBED
    if sub.status == SubscriptionStatus.CANCELED and not sub.has_access(at):
        return Reason.ACCESS_ENDED
    if ctx.approved is not None and event.model not in ctx.approved:
        return Reason.MODEL_NOT_APPROVED
    return ""


def _tiers_of(
    subs: dict[Any, _Sub], months: set[tuple[Any, datetime.date]], ctx: _Context, forms: _Forms
) -> dict[tuple[Any, datetime.date], str]:
    """The tier each (subscription, month) counts against: the highest tier held that month (a downgrade keeps the
    higher tier to the month's end, DOMAIN.md §4 rule 4); its credits are the month's plan allowance."""
    current = ctx.month
    result: dict[tuple[Any, datetime.date], str] = {}
    earlier = [(sub_id, month) for sub_id, month in months if month != current]
    highest: dict[tuple[Any, datetime.date], Tier] = {}
    if earlier:
        start = min(month for _, month in earlier)
        periods = SubscriptionPeriod.objects.filter(
            subscription_id__in={subs[sub_id].pk for sub_id, _ in earlier},
            starts_at__lt=next_month_start(_dt(start)),
        ).filter(Q(ends_at__isnull=True) | Q(ends_at__gt=_dt(start)))
        for sub_uuid, tier_id, starts, ends in periods.values_list(
            "subscription_id", "tier_id", "starts_at", "ends_at"
        ):
            sub_id = forms.uuid(sub_uuid)
            for month in {m for s, m in earlier if s == sub_id}:
                if starts < next_month_start(_dt(month)) and (ends is None or ends > _dt(month)):
                    tier, best = ctx.tiers[tier_id], highest.get((sub_id, month))
                    if best is None or tier.rank > best.rank:
                        highest[(sub_id, month)] = tier
    for sub_id, month in months:
        sub = subs[sub_id]
        if month == current:
            result[(sub_id, month)] = sub.effective_tier_id(ctx.now)
        else:
            held = highest.get((sub_id, month))
            result[(sub_id, month)] = held.pk if held is not None else sub.tier_id
    return result


def _dt(month: datetime.date) -> datetime.datetime:
    return datetime.datetime(month.year, month.month, 1, tzinfo=datetime.UTC)


def _month_of(at: datetime.datetime) -> datetime.date:
    """The first day of the UTC month of `at`."""
    if at.tzinfo is not datetime.UTC:
        at = at.astimezone(datetime.UTC)
    return datetime.date(at.year, at.month, 1)


def _lock_balances(
    pairs: dict[tuple[Any, datetime.date], int], forms: _Forms
) -> dict[tuple[Any, datetime.date], _Account]:
    """The balances of `pairs` (subscription in the database's form, month), created where missing, their allowance
    raised to the given one where the tier went up since, and locked: one INSERT ... ON CONFLICT DO UPDATE ...
    RETURNING, its rows in (subscription, month) order so that concurrent requests lock them in the same order."""
    if not pairs:
        return {}
    ordered = sorted(pairs, key=lambda pair: (str(pair[0]), pair[1]))
    now = forms.datetime(timezone.now())
    table = connection.ops.quote_name(Balance._meta.db_table)
    date = forms.date
    if connection.vendor == "postgresql":
        # One array a column: Django binds parameters on the client, which costs microseconds each (4,000 for a
        # batch); WITH ORDINALITY keeps the lock order.
        rows = (
            "SELECT s, m, a, 0, 0, %s FROM unnest(%s::uuid[], %s::date[], %s::integer[]) WITH ORDINALITY "
            "AS v(s, m, a, n) ORDER BY n"
        )
        params: list[Any] = [now, [pair[0] for pair in ordered], [pair[1] for pair in ordered]]
        params.append([pairs[pair] for pair in ordered])
        higher = "GREATEST"
    else:
        rows = "VALUES " + ", ".join(["(%s, %s, %s, 0, 0, %s)"] * len(ordered))
        params = [value for pair in ordered for value in (pair[0], date(pair[1]), pairs[pair], now)]
        higher = "MAX"
    sql = (
        f"INSERT INTO {table} (subscription_id, month, allowance_hundredths, plan_hundredths, "  # nosec B608
        f"overage_hundredths, updated_at) {rows} ON CONFLICT (subscription_id, month) DO UPDATE SET "
        f"allowance_hundredths = {higher}({table}.allowance_hundredths, excluded.allowance_hundredths) "
        "RETURNING id, subscription_id, month, allowance_hundredths, plan_hundredths, overage_hundredths"
    )
    with hot_cursor() as cursor, connection.wrap_database_errors:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    accounts = {}
    for pk, sub, when, allowance, plan, overage in rows:
        month = when if isinstance(when, datetime.date) else datetime.date.fromisoformat(when)
        accounts[(sub, month)] = _Account(pk=pk, allowance=allowance, plan=plan, overage=overage)
    return accounts


def _group_caps(ctx: _Context, user_ids: set[Any], forms: _Forms) -> dict[Any, int]:
    """The group overage cap of each user (keyed by the id in the database's form): the highest cap among the
    user's capped, assigned groups (groups without a cap do not lift it)."""
    rows = (
        GroupAssignment.objects.filter(
            profile=ctx.profile,
            overage_cap__isnull=False,
            group__memberships__user_id__in=[forms.uuid_in(user_id) for user_id in user_ids],
        )
        .values("group__memberships__user_id")
        .annotate(cap=Max("overage_cap"))
        .values_list("group__memberships__user_id", "cap")
    )
    return {forms.uuid(user_id): hundredths_of(cap) for user_id, cap in rows}


def _shared_account(ctx: _Context, month: datetime.date) -> _Account:
    if month not in ctx.shared:
        ProfileBalance.objects.bulk_create(
            [ProfileBalance(profile=ctx.profile, month=month, updated_at=timezone.now())], ignore_conflicts=True
        )
        pk, overage = (
            ProfileBalance.objects.select_for_update()
            .filter(profile=ctx.profile, month=month)
            .values_list("pk", "overage_hundredths")
            .get()
        )
        ctx.shared[month] = _Account(pk=pk, allowance=0, plan=0, overage=overage)
    return ctx.shared[month]


def _decide(event: EventIn, sub: _Sub, account: _Account, month: datetime.date, ctx: _Context) -> tuple[str, str]:
    """The outcome and reason of one entitled event against the balances as they stand (DOMAIN.md §5 rules 3 and 4)."""
    amount = event.hundredths
    if account.plan + amount <= account.allowance:
        account.plan += amount
        return Outcome.PLAN, ""
    if not ctx.settings.overage_enabled:
        return Outcome.REJECTED, Reason.ALLOWANCE_EXHAUSTED
    if sub.overage_cap is not None and account.overage + amount > hundredths_of(sub.overage_cap):
        return Outcome.REJECTED, Reason.USER_CAP
    if ctx.group_caps is None:
        raise _NeedGroupCaps
    group_cap = ctx.group_caps.get(sub.user_id)
    if group_cap is not None and account.overage + amount > group_cap:
        return Outcome.REJECTED, Reason.GROUP_CAP
    # The profile's overage is always counted, so a shared cap set in the middle of a month holds against all of it.
    shared = _shared_account(ctx, month)
    shared_cap = ctx.settings.overage_shared_cap
    if shared_cap is not None and shared.overage + amount > hundredths_of(shared_cap):
        return Outcome.REJECTED, Reason.SHARED_CAP
    shared.overage += amount
    account.overage += amount
    return Outcome.OVERAGE, ""


class _NeedGroupCaps(Exception):
    pass


def _context(profile: Profile, now: datetime.datetime, settings: ProfileSettings | None) -> _Context:
    if settings is None:
        settings = ProfileSettings.objects.get(profile=profile)
    approved = None
    if settings.model_availability == ModelAvailability.APPROVED:
        approved = frozenset(settings.approved_models.values_list("code", flat=True))
    return _Context(
        profile=profile,
        settings=settings,
        now=now,
        month=month_start(now).date(),
        tiers=catalogue.tiers(),
        approved=approved,
    )


def _record(
    profile: Profile,
    events: Sequence[EventIn],
    senders: list[tuple[str, str, str | None]],
    now: datetime.datetime,
    settings: ProfileSettings | None,
    look_first: bool,
) -> list[Result]:
    results: list[Result | None] = [None] * len(events)
    existing = _find_existing(profile, {event.key for event in events}) if look_first else {}
    first_in_call: dict[str, int] = {}
    todo: list[int] = []
    for index, event in enumerate(events):
        stored = existing.get(event.key)
        if stored is not None:
            results[index] = _replay(event, stored)
        elif event.key in first_in_call:
            pass  # answered after the first one with this key is decided
        else:
            first_in_call[event.key] = index
            todo.append(index)
    if todo:
        _decide_new(profile, events, todo, results, senders, now, settings, look_first)
        unknown = {events[i].key: i for i in todo if results[i] is not None and results[i].invalid_field}  # type: ignore[union-attr]
        if unknown and not look_first:  # a user gone since its event was recorded: still a replay
            for key, stored in _find_existing(profile, unknown).items():
                results[unknown[key]] = _replay(events[unknown[key]], stored)
    for index, event in enumerate(events):
        if results[index] is None:  # a key repeated within the call: a replay of its first occurrence
            first = results[first_in_call[event.key]]
            assert first is not None
            if first.invalid_field:
                results[index] = first
            elif events[first_in_call[event.key]].payload_hash != event.payload_hash:
                results[index] = _conflict(event.key)
            else:
                results[index] = Result(**{**first.__dict__, "replayed": True})
    return [result for result in results if result is not None]


def _replay(event: EventIn, stored: dict) -> Result:
    if stored["payload_hash"] != event.payload_hash:
        return _conflict(event.key)
    return Result.of_event(stored, replayed=True)


def _conflict(key: str) -> Result:
    return Result(
        key=key,
        status="rejected",
        reason="idempotency_conflict",
        detail="This idempotency key was used before with another payload; nothing was counted.",
        conflict=True,
    )


def _decide_new(
    profile: Profile,
    events: Sequence[EventIn],
    todo: list[int],
    results: list[Result | None],
    senders: list[tuple[str, str, str | None]],
    now: datetime.datetime,
    settings: ProfileSettings | None,
    look_first: bool,
) -> None:
    ctx = _context(profile, now, settings)
    forms = _forms()
    by_id, by_name, subs = _users(profile, [events[i] for i in todo], forms)
    _lock_profile_shared(profile)
    users: dict[int, _User] = {}
    for index in todo:
        try:
            users[index] = _user_of(events[index], by_id, by_name, forms)
        except UnknownUser as error:
            results[index] = Result.invalid(events[index].key, "user_id", error.message)
    reasons: dict[int, str] = {}
    moments: dict[int, tuple[datetime.datetime, datetime.date]] = {}  # when each event counts, and its month
    needs: dict[tuple[Any, datetime.date], None] = {}
    month_now = ctx.month
    for index, user in users.items():
        event = events[index]
        at = event.occurred_at or now
        month = month_now if at is now else _month_of(at)
        moments[index] = (at, month)
        sub = subs.get(user.pk)
        reason = reasons[index] = _access_reason(event, at, user, sub, ctx)
        if not reason:
            assert sub is not None
            needs[(sub.db_id, month)] = None
    subs_by_id = {sub.db_id: sub for sub in subs.values()}
    tier_of = _tiers_of(subs_by_id, set(needs), ctx, forms) if needs else {}
    accounts = _lock_balances({key: ctx.tiers[tier].monthly_credits * 100 for key, tier in tier_of.items()}, forms)
    if needs and look_first and connection.vendor != "sqlite":
        # Running again after a clash of keys: another request may have recorded some of these keys while this
        # one waited for the locks (SQLite's IMMEDIATE transaction excluded that from its start).
        index_of = {events[i].key: i for i in todo}
        for key, stored in _find_existing(profile, index_of).items():
            index = index_of[key]
            results[index] = _replay(events[index], stored)
            users.pop(index, None)
    alerts = Alerts(ctx.profile, ctx.settings)

    rows: list[tuple] = []
    uses: list[Use] = []
    activity: dict[Any, tuple[datetime.datetime, datetime.datetime]] = {}  # first and last accepted use
    received = timezone.now()
    to_datetime, to_date, to_decimal = _memo(forms.datetime), _memo(forms.date), forms.decimal
    day_of = _memo(_day_of)
    profile_id, received_db = profile.pk, forms.datetime(received)
    zero, zero_db = Decimal("0.00"), to_decimal(Decimal("0.00"))
    accepted: dict[str, str] = {Outcome.PLAN: "accepted", Outcome.OVERAGE: "accepted", Outcome.REJECTED: "rejected"}
    for index in todo:
        if index not in users:
            continue
        user, event = users[index], events[index]
        at, month = moments[index]
        reason = reasons[index]
        outcome: str = Outcome.REJECTED
        sub = subs.get(user.pk)
        account = None
        tier = None
        if not reason:
            assert sub is not None
            account = accounts[(sub.db_id, month)]
            try:
                outcome, reason = _decide(event, sub, account, month, ctx)
            except _NeedGroupCaps:
                ctx.group_caps = _group_caps(ctx, {u.pk for u in users.values()}, forms)
                outcome, reason = _decide(event, sub, account, month, ctx)
            if outcome != Outcome.REJECTED:
                first, last = activity.get(sub.db_id, (at, at))
                activity[sub.db_id] = (min(first, at), max(last, at))
                tier = tier_of[(sub.db_id, month)]
                amount = event.hundredths
                plan_used = amount if outcome == Outcome.PLAN else 0
                uses.append(
                    Use(
                        profile_id,
                        user.pk,
                        day_of(at),
                        event.client_type,
                        event.model,
                        tier,
                        plan_used,
                        amount - plan_used,
                        event.messages,
                    )
                )
            elif reason == Reason.SHARED_CAP:
                alerts.shared_cap_reached(month)
        plan = event.credits if outcome == Outcome.PLAN else zero
        overage = event.credits if outcome == Outcome.OVERAGE else zero
        remaining = credits_of(max(account.allowance - account.plan, 0)) if account else zero
        results[index] = Result(
            key=event.key,
            status=accepted[outcome],
            outcome=outcome,
            reason=reason,
            detail=Reason(reason).label if reason else "",
            plan_credits=plan,
            overage_credits=overage,
            remaining_credits=remaining,
        )
        credits_db = to_decimal(event.credits)
        source, recorded_by, remote_addr = senders[index]
        rows.append(
            (
                profile_id,
                event.key,
                event.payload_hash,
                user.pk,
                sub.db_id if sub is not None else None,
                tier,
                credits_db,
                to_datetime(at),
                to_date(month),
                event.client_type,
                event.model,
                event.messages,
                1,
                outcome,
                reason,
                credits_db if outcome == Outcome.PLAN else zero_db,
                credits_db if outcome == Outcome.OVERAGE else zero_db,
                to_decimal(remaining),
                received_db,
                source,
                recorded_by,
                remote_addr,
            )
        )
    insert_rows(UsageEvent, EVENT_FIELDS, rows, hot=True)
    _write_balances(accounts.values(), ctx.shared.values(), received, forms)
    names = {user.pk: user.user_name for user in users.values()}
    for (sub_id, month), account in accounts.items():
        if account.plan != account.start_plan or account.overage != account.start_overage:
            sub = subs_by_id[sub_id]
            alerts.allowance(sub, names[sub.user_id], month, account)
    _record_activity(activity, subs_by_id, forms)
    rollups_add(uses, users_locked=True)
    if ctx.settings.overage_shared_cap is not None:
        for month, shared in ctx.shared.items():
            alerts.shared_cap(month, shared, hundredths_of(ctx.settings.overage_shared_cap))
    alerts.save()


def _memo(convert: Any) -> Any:
    """`convert` remembering its answers: a batch repeats the same moments, months and days."""
    cache: dict[Any, Any] = {}

    def converted(value: Any) -> Any:
        try:
            return cache[value]
        except KeyError:
            cache[value] = result = convert(value)
            return result

    return converted


def _day_of(at: datetime.datetime) -> datetime.date:
    return at.astimezone(datetime.UTC).date()


def _record_activity(
    activity: dict[Any, tuple[datetime.datetime, datetime.datetime]], subs: dict[Any, _Sub], forms: _Forms
) -> None:
    """Pending subscriptions become Active from their first use (a batch or an import may span months: the
    earlier one is billed too); "last active" moves to the latest use, by the minute at least."""
    pending = {subs[sub_id].pk: first for sub_id, (first, _) in activity.items() if subs[sub_id].status == "PENDING"}
    activated = {forms.uuid(pk) for pk in subscriptions_record_first_use(first_use=pending)} if pending else set()
    moves = []
    for sub_id, (first, last) in sorted(activity.items(), key=lambda item: str(item[0])):  # one lock order
        if sub_id in activated:
            stale = last != first  # activation set it to the first use
        else:
            known = subs[sub_id].last_active_at
            stale = known is None or known < last - LAST_ACTIVE_GRANULARITY
        if stale:
            moves.append((sub_id, forms.datetime(last)))
    update_by_key(
        Subscription,
        "last_active_at = v.at",
        {"at": "last_active_at"},
        moves,
        where="(t.last_active_at IS NULL OR t.last_active_at < v.at)",
    )


def _lock_profile_shared(profile: Profile) -> None:
    """PostgreSQL: the profile's row locked FOR KEY SHARE, after the users' and before any subscription's. The
    events' foreign key would take this lock at commit (Django's constraints are deferred), after the
    subscriptions'; a change of subscriptions takes the profile's (FOR UPDATE, `lock_profile`) before theirs, so
    the two would deadlock. Taken here, a change waits for the batch, or the batch for the change, whole."""
    if connection.vendor != "postgresql":
        return
    table = connection.ops.quote_name(Profile._meta.db_table)
    with hot_cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE id = %s FOR KEY SHARE", [profile.pk])  # noqa: S608  # nosec B608


EVENT_FIELDS = (
    "profile_id",
    "idempotency_key",
    "payload_hash",
    "user_id",
    "subscription_id",
    "tier_id",
    "credits",
    "occurred_at",
    "month",
    "client_type",
    "model",
    "messages",
    "conversations",
    "outcome",
    "reason",
    "plan_credits",
    "overage_credits",
    "remaining_credits",
    "received_at",
    "source",
    "recorded_by",
    "remote_addr",
)


def _write_balances(
    accounts: Iterable[_Account], shared: Iterable[_Account], now: datetime.datetime, forms: _Forms
) -> None:
    """Each changed balance once, by a conditional UPDATE that re-checks the limit: it must change exactly the
    rows decided, or the transaction fails (nothing counted) rather than overspend."""
    changed = [
        a
        for a in accounts
        if a.plan != a.start_plan or a.overage != a.start_overage or a.allowance != a.start_allowance
    ]
    if changed:
        stamp = forms.datetime(now)
        rows = [(a.pk, a.plan - a.start_plan, a.overage - a.start_overage, a.allowance, stamp) for a in changed]
        count = update_by_key(
            Balance,
            "plan_hundredths = t.plan_hundredths + v.plan, overage_hundredths = t.overage_hundredths + v.overage, "
            "allowance_hundredths = v.allowance, updated_at = v.stamp",
            {
                "plan": "plan_hundredths",
                "overage": "overage_hundredths",
                "allowance": "allowance_hundredths",
                "stamp": "updated_at",
            },
            rows,
            where="t.plan_hundredths + v.plan <= v.allowance",
        )
        if count != len(rows):
            raise IntegrityError(f"balances changed under their locks ({count} of {len(rows)} updated)")
    for account in shared:
        if account.overage != account.start_overage:
            updated = ProfileBalance.objects.filter(pk=account.pk).update(
                overage_hundredths=F("overage_hundredths") + (account.overage - account.start_overage), updated_at=now
            )
            if updated != 1:
                raise IntegrityError("profile balance changed under its lock")


# --- Group commit of single events -------------------------------------------------------------------------------


def usage_record_one(
    *,
    profile: Profile,
    event: EventIn,
    actor: Actor,
    now: datetime.datetime,
    settings: ProfileSettings | None = None,
) -> Result:
    """Record one event (the API's single event), its answer as `usage_record` gives it.

    Group commit: single events that this process's threads (gunicorn's gthread workers) receive while another
    thread records go together into the next `usage_record` call, one transaction, each with its own sender, its
    own moment of arrival and its own answer, decided in the order they arrived as if they had come in a batch
    (DOMAIN.md §5 holds per event; only the transaction is shared). A transaction and its statements cost most of a
    single event, so under concurrent load this multiplies what a worker can record. An idle server records each
    event at once: nothing waits for company. A caller inside a transaction of its own records alone, in it.
    `settings.METERING_GROUP_COMMIT = False` turns it off."""
    if connection.in_atomic_block or not getattr(django_settings, "METERING_GROUP_COMMIT", True):
        settings = settings or _live_settings(profile)
        [result] = usage_record(profile=settings.profile, events=[event], actor=actor, now=now, settings=settings)
        return result
    return _GROUP.record(_Pending(profile, event, actor, now, settings))


GROUP_MAX = 100  # events in one group commit at most


class _Pending:
    """A single event waiting for its group's transaction."""

    __slots__ = ("actor", "done", "error", "event", "lead", "now", "profile", "result", "settings")

    def __init__(
        self,
        profile: Profile,
        event: EventIn,
        actor: Actor,
        now: datetime.datetime,
        settings: ProfileSettings | None,
    ):
        self.profile, self.event, self.actor, self.now, self.settings = profile, event, actor, now, settings
        self.done = threading.Event()
        self.lead = False  # woken to record the queue, not with its answer
        self.result: Result | None = None
        self.error: BaseException | None = None


class _GroupCommit:
    """A queue of single events and one thread at a time that records them: the thread that finds nobody
    recording records the queue (its own event first), then hands the queue to the first event that arrived
    meanwhile, whose thread records those; the others wait for their answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._recording = False

    def record(self, item: _Pending) -> Result:
        with self._lock:
            self._queue.append(item)
            lead = not self._recording
            self._recording = True
        if not lead:
            item.done.wait()
        if lead or item.lead:
            self._record_queue()
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    def _record_queue(self) -> None:
        with self._lock:
            batch, self._queue = self._queue[:GROUP_MAX], self._queue[GROUP_MAX:]
        try:
            _record_group(batch)
        finally:
            with self._lock:
                if self._queue:
                    following = self._queue[0]
                    following.lead = True
                    following.done.set()
                else:
                    self._recording = False


_GROUP = _GroupCommit()


def _record_group(batch: list[_Pending]) -> None:
    """Record the events of `batch`, one `usage_record` call per profile, and answer each (its result or the
    error its transaction raised). Should a group's transaction fail, its events are recorded one by one, so
    that each gets the answer it would have got alone."""
    try:
        by_profile: dict[Any, list[_Pending]] = {}
        for item in batch:
            by_profile.setdefault(item.profile.pk, []).append(item)
        for items in by_profile.values():
            if len(items) == 1:
                _record_alone(items[0])
                continue
            # The settings once for the group (the requests that knew the profile did not read them), and that the
            # profile still lives: else each of its events answers 404.
            settings = items[-1].settings
            if any(item.settings is None for item in items):
                try:
                    settings = _live_settings(items[-1].profile)
                except Exception as error:
                    for item in items:
                        item.error = error
                    continue
            assert settings is not None
            # An event without its moment happened when it arrived: its request's `now`, not the group's.
            events = [
                dataclasses.replace(item.event, occurred_at=item.now) if item.event.occurred_at is None else item.event
                for item in items
            ]
            try:
                results = usage_record(
                    profile=settings.profile,
                    events=events,
                    actor=items[0].actor,
                    actors=[item.actor for item in items],
                    now=max(item.now for item in items),
                    settings=settings,
                )
            except Exception:
                for item in items:
                    _record_alone(item)
                continue
            for item, result in zip(items, results, strict=True):
                item.result = result
    except BaseException as error:
        for item in batch:
            if item.result is None and item.error is None:
                item.error = error
        raise
    finally:
        for item in batch:
            item.lead = False
            item.done.set()


def _record_alone(item: _Pending) -> None:
    try:
        settings = item.settings or _live_settings(item.profile)
        [item.result] = usage_record(
            profile=settings.profile, events=[item.event], actor=item.actor, now=item.now, settings=settings
        )
    except Exception as error:
        item.error = error


def _live_settings(profile: Profile) -> ProfileSettings:
    """The profile's settings with the profile read again, or 404 if it was deleted (`metering_settings`)."""
    return metering_settings(profile.profile_id)

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
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
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
from credits.services.alerts import Alerts
from credits.services.rollups import Use, rollups_add
from directory.models import DirectoryUser
from kiroconsole.audit import Actor
from kiroconsole.bulk import adapter, insert_rows, python_value, reader, update_by_key
from subscriptions.calendar import month_start, next_month_start
from subscriptions.models import (
    GroupAssignment,
    ModelAvailability,
    Profile,
    ProfileSettings,
    Subscription,
    SubscriptionPeriod,
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
) -> list[Result]:
    """Record `events` (already parsed by `credits.events.event_parse`) in `profile`; the answers, in order (an
    unknown user is its event's answer, with `invalid_field`). `settings`: the profile's, when the caller has them."""
    now = now or timezone.now()
    for attempt in range(RETRIES):
        try:
            with transaction.atomic():
                # New keys are the rule: the first attempt does not look for recorded ones. A replay makes the
                # insert fail on the unique key, which rolls everything back and runs again, looking first.
                return _record(profile, events, actor, now, settings, look_first=attempt > 0)
        except IntegrityError:
            # A key recorded before (a replay, or another request's just now): run again, looking first.
            if attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


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


class _Row:
    """A row read by plain SQL, its columns as attributes (much cheaper to build than a model instance)."""

    def __init__(self, names: Sequence[str], values: Sequence[Any]):
        self.__dict__.update(zip(names, values, strict=True))
        self.pk = self.__dict__["id"]

    def __getattr__(self, name: str) -> Any:  # only for the columns it does not have
        raise AttributeError(name)


class _Sub(_Row):
    """A subscription's row with the model's rules (`Subscription.has_access`, `effective_tier_id`)."""

    has_access = Subscription.has_access
    effective_tier_id = Subscription.effective_tier_id


USER_FIELDS = ("id", "identity_center_id", "user_name", "active", "deleted_at")
SUBSCRIPTION_FIELDS = (
    "id",
    "user_id",
    "status",
    "tier_id",
    "next_tier_id",
    "next_tier_from",
    "subscribed_at",
    "access_until",
    "last_active_at",
    "overage_cap",
)


def _users(profile: Profile, events: Sequence[EventIn]) -> tuple[dict[Any, Any], dict[str, Any], dict[Any, Any]]:
    """The users the events name (by id, and by user name in the profile's directory) with their subscription
    in the profile: one plain SQL statement (users LEFT JOIN subscriptions)."""
    ids = [adapter(DirectoryUser, "id")(event.user_id) for event in events if event.user_id]
    names = sorted({event.user_name.lower() for event in events if event.user_name})
    if not ids and not names:
        return {}, {}, {}
    quote = connection.ops.quote_name
    user_columns = [f"u.{quote(DirectoryUser._meta.get_field(n).column)}" for n in USER_FIELDS]  # type: ignore[union-attr,arg-type]
    sub_columns = [f"s.{quote(Subscription._meta.get_field(n).column)}" for n in SUBSCRIPTION_FIELDS]  # type: ignore[union-attr,arg-type]
    conditions: list[str] = []
    params: list[Any] = [profile.pk]
    if ids:
        conditions.append(f"u.id IN ({', '.join(['%s'] * len(ids))})")
        params += ids
    if names:
        placeholders = ", ".join(["%s"] * len(names))
        conditions.append(
            f"(u.identity_center_id = %s AND u.deleted_at IS NULL AND LOWER(u.user_name) IN ({placeholders}))"
        )
        params += [adapter(DirectoryUser, "identity_center")(profile.identity_center_id), *names]
    sql = (
        f"SELECT {', '.join(user_columns + sub_columns)} FROM {quote(DirectoryUser._meta.db_table)} u "  # noqa: S608  # nosec B608
        f"LEFT JOIN {quote(Subscription._meta.db_table)} s ON s.user_id = u.id AND s.profile_id = %s "
        f"WHERE {' OR '.join(conditions)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    by_id, by_name, subs = {}, {}, {}
    width = len(USER_FIELDS)
    user_fields: list[Any] = [reader(DirectoryUser._meta.get_field(name)) for name in USER_FIELDS]  # type: ignore[arg-type]
    sub_fields: list[Any] = [reader(Subscription._meta.get_field(name)) for name in SUBSCRIPTION_FIELDS]  # type: ignore[arg-type]
    for row in rows:
        user = _Row(USER_FIELDS, [read(v) for read, v in zip(user_fields, row[:width], strict=True)])
        by_id[user.pk] = user
        if user.identity_center_id == profile.identity_center_id and user.deleted_at is None:
            by_name[user.user_name.lower()] = user
        if row[width] is not None:
            subs[user.pk] = _Sub(
                SUBSCRIPTION_FIELDS, [read(v) for read, v in zip(sub_fields, row[width:], strict=True)]
            )
    return by_id, by_name, subs


def _user_of(event: EventIn, profile: Profile, by_id: dict, by_name: dict) -> DirectoryUser:
    if event.user_id is not None:
        user = by_id.get(event.user_id)
        if user is None:
            raise UnknownUser(f"No user {event.user_id} in the directory.")
        if user.identity_center_id != profile.identity_center_id:
            raise UnknownUser(f"User {event.user_id} is in another directory than this profile's.")
        return user
    user = by_name.get((event.user_name or "").lower())
    if user is None:
        raise UnknownUser(f"No user named {event.user_name!r} in this profile's directory.")
    return user


def _access_reason(event: EventIn, user: DirectoryUser, sub: Subscription | None, ctx: _Context) -> str:
    at = event.at(ctx.now)
    if not user.active or user.deleted_at is not None:
        return Reason.USER_INACTIVE
    if sub is None:
        return Reason.NOT_SUBSCRIBED
    if at < sub.subscribed_at:
        return Reason.NOT_YET_SUBSCRIBED
    if not sub.has_access(at):
        return Reason.ACCESS_ENDED
    if ctx.approved is not None and event.model not in ctx.approved:
        return Reason.MODEL_NOT_APPROVED
    return ""


def _tiers_of(subs: dict[Any, Subscription], months: set[tuple[Any, datetime.date]], ctx: _Context) -> dict:
    """The tier each (subscription, month) counts against: the highest tier held that month (a downgrade keeps the
    higher tier to the month's end, DOMAIN.md §4 rule 4); its credits are the month's plan allowance."""
    current = month_start(ctx.now).date()
    result: dict[tuple[Any, datetime.date], str] = {}
    earlier = [(sub_id, month) for sub_id, month in months if month != current]
    highest: dict[tuple[Any, datetime.date], Tier] = {}
    if earlier:
        start = min(month for _, month in earlier)
        periods = SubscriptionPeriod.objects.filter(
            subscription_id__in={sub_id for sub_id, _ in earlier}, starts_at__lt=next_month_start(_dt(start))
        ).filter(Q(ends_at__isnull=True) | Q(ends_at__gt=_dt(start)))
        for sub_id, tier_id, starts, ends in periods.values_list("subscription_id", "tier_id", "starts_at", "ends_at"):
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


def _lock_balances(pairs: dict[tuple[Any, datetime.date], int]) -> dict[tuple[Any, datetime.date], _Account]:
    """The balances of `pairs` (subscription, month), created where missing, their allowance raised to the given
    one where the tier went up since, and locked: one INSERT ... ON CONFLICT DO UPDATE ... RETURNING, its rows in
    (subscription, month) order so that concurrent requests lock them in the same order."""
    if not pairs:
        return {}
    ordered = sorted(pairs, key=lambda pair: (str(pair[0]), pair[1]))
    sub_id, month, stamp = (adapter(Balance, name) for name in ("subscription_id", "month", "updated_at"))
    now = stamp(timezone.now())
    table = connection.ops.quote_name(Balance._meta.db_table)
    higher = "GREATEST" if connection.vendor == "postgresql" else "MAX"
    values = ", ".join(["(%s, %s, %s, 0, 0, %s)"] * len(ordered))
    sql = (
        f"INSERT INTO {table} (subscription_id, month, allowance_hundredths, plan_hundredths, "  # noqa: S608  # nosec B608
        f"overage_hundredths, updated_at) VALUES {values} ON CONFLICT (subscription_id, month) DO UPDATE SET "
        f"allowance_hundredths = {higher}({table}.allowance_hundredths, excluded.allowance_hundredths) "
        "RETURNING id, subscription_id, month, allowance_hundredths, plan_hundredths, overage_hundredths"
    )
    params = [value for pair in ordered for value in (sub_id(pair[0]), month(pair[1]), pairs[pair], now)]
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    accounts = {}
    sub_field, month_field = Balance._meta.get_field("subscription"), Balance._meta.get_field("month")
    for pk, sub, when, allowance, plan, overage in rows:
        key = (python_value(sub_field.target_field, sub), python_value(month_field, when))  # type: ignore[union-attr,arg-type]
        accounts[key] = _Account(pk=pk, allowance=allowance, plan=plan, overage=overage)
    return accounts


def _group_caps(ctx: _Context, user_ids: set[Any]) -> dict[Any, int]:
    """The group overage cap of each user: the highest cap among the user's capped, assigned groups (groups
    without a cap do not lift it)."""
    rows = (
        GroupAssignment.objects.filter(
            profile=ctx.profile, overage_cap__isnull=False, group__memberships__user_id__in=user_ids
        )
        .values("group__memberships__user_id")
        .annotate(cap=Max("overage_cap"))
        .values_list("group__memberships__user_id", "cap")
    )
    return {user_id: hundredths_of(cap) for user_id, cap in rows}


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


def _decide(
    event: EventIn, sub: Subscription, account: _Account, month: datetime.date, ctx: _Context
) -> tuple[str, str]:
    """The outcome and reason of one entitled event against the balances as they stand (DOMAIN.md §5 rules 3 and 4)."""
    amount = hundredths_of(event.credits)
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
    return _Context(profile=profile, settings=settings, now=now, tiers=catalogue.tiers(), approved=approved)


def _record(
    profile: Profile,
    events: Sequence[EventIn],
    actor: Actor,
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
        _decide_new(profile, events, todo, results, actor, now, settings, look_first)
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
    actor: Actor,
    now: datetime.datetime,
    settings: ProfileSettings | None,
    look_first: bool,
) -> None:
    ctx = _context(profile, now, settings)
    by_id, by_name, subs = _users(profile, [events[i] for i in todo])
    users: dict[int, DirectoryUser] = {}
    for index in todo:
        try:
            users[index] = _user_of(events[index], profile, by_id, by_name)
        except UnknownUser as error:
            results[index] = Result.invalid(events[index].key, "user_id", error.message)
    names = {user.pk: user.user_name for user in users.values()}
    reasons: dict[int, str] = {}
    needs: dict[tuple[Any, datetime.date], None] = {}
    for index, user in users.items():
        sub = subs.get(user.pk)
        reasons[index] = _access_reason(events[index], user, sub, ctx)
        if not reasons[index]:
            assert sub is not None
            needs[(sub.pk, month_start(events[index].at(now)).date())] = None
    subs_by_id = {sub.pk: sub for sub in subs.values()}
    tier_of = _tiers_of(subs_by_id, set(needs), ctx) if needs else {}
    accounts = _lock_balances({key: ctx.tiers[tier].monthly_credits * 100 for key, tier in tier_of.items()})
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
    convert = _converters()
    received = timezone.now()
    received_db = convert["received_at"](received)
    for index in todo:
        if index not in users:
            continue
        event, user = events[index], users[index]
        sub = subs.get(user.pk)
        at = event.at(now)
        month = month_start(at).date()
        reason = reasons[index]
        outcome: str = Outcome.REJECTED
        account = None
        tier = None
        if not reason:
            assert sub is not None
            account = accounts[(sub.pk, month)]
            try:
                outcome, reason = _decide(event, sub, account, month, ctx)
            except _NeedGroupCaps:
                ctx.group_caps = _group_caps(ctx, {u.pk for u in users.values()})
                outcome, reason = _decide(event, sub, account, month, ctx)
            if outcome != Outcome.REJECTED:
                first, last = activity.get(sub.pk, (at, at))
                activity[sub.pk] = (min(first, at), max(last, at))
                tier = tier_of[(sub.pk, month)]
                amount = hundredths_of(event.credits)
                plan_used = amount if outcome == Outcome.PLAN else 0
                uses.append(
                    Use(
                        profile.pk,
                        user.pk,
                        at.astimezone(datetime.UTC).date(),
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
        plan = event.credits if outcome == Outcome.PLAN else Decimal("0.00")
        overage = event.credits if outcome == Outcome.OVERAGE else Decimal("0.00")
        remaining = credits_of(max(account.allowance - account.plan, 0)) if account else Decimal("0.00")
        results[index] = Result(
            key=event.key,
            status="rejected" if outcome == Outcome.REJECTED else "accepted",
            outcome=outcome,
            reason=reason,
            detail=Reason(reason).label if reason else "",
            plan_credits=plan,
            overage_credits=overage,
            remaining_credits=remaining,
        )
        rows.append(
            (
                profile.pk,
                event.key,
                event.payload_hash,
                convert["user_id"](user.pk),
                convert["subscription_id"](sub.pk) if sub else None,
                tier,
                convert["credits"](event.credits),
                convert["occurred_at"](at),
                convert["month"](month),
                event.client_type,
                event.model,
                event.messages,
                1,
                outcome,
                reason,
                convert["plan_credits"](plan),
                convert["overage_credits"](overage),
                convert["remaining_credits"](remaining),
                received_db,
                actor.source,
                actor.label[:200],
                actor.remote_addr,
            )
        )
    insert_rows(UsageEvent, EVENT_FIELDS, rows)
    _write_balances(accounts.values(), ctx.shared.values(), received)
    for (sub_id, month), account in accounts.items():
        alerts.allowance(subs_by_id[sub_id], names[subs_by_id[sub_id].user_id], month, account)
    _record_activity(activity, subs_by_id)
    rollups_add(uses)
    if ctx.settings.overage_shared_cap is not None:
        for month, shared in ctx.shared.items():
            alerts.shared_cap(month, shared, hundredths_of(ctx.settings.overage_shared_cap))
    alerts.save()


def _record_activity(
    activity: dict[Any, tuple[datetime.datetime, datetime.datetime]], subs: dict[Any, Subscription]
) -> None:
    """Pending subscriptions become Active from their first use (a batch or an import may span months: the
    earlier one is billed too); "last active" moves to the latest use, by the minute at least."""
    activated = subscriptions_record_first_use(
        first_use={sub_id: first for sub_id, (first, _) in activity.items() if subs[sub_id].status == "PENDING"}
    )
    stamp, key = adapter(Subscription, "last_active_at"), adapter(Subscription, "id")
    moves = []
    for sub_id, (first, last) in sorted(activity.items(), key=lambda item: str(item[0])):  # one lock order
        if sub_id in activated:
            stale = last != first  # activation set it to the first use
        else:
            known = subs[sub_id].last_active_at
            stale = known is None or known < last - LAST_ACTIVE_GRANULARITY
        if stale:
            moves.append((key(sub_id), stamp(last)))
    update_by_key(
        Subscription,
        "last_active_at = v.at",
        {"at": "last_active_at"},
        moves,
        where="(t.last_active_at IS NULL OR t.last_active_at < v.at)",
    )


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


def _converters() -> dict[str, Any]:
    converters = {name: adapter(UsageEvent, name) for name in EVENT_FIELDS}
    if connection.vendor == "sqlite":  # decimals of two places, as text: Django's conversion costs 70 µs each
        for name in ("credits", "plan_credits", "overage_credits", "remaining_credits"):
            converters[name] = str
        for name in ("occurred_at", "received_at"):  # what Django writes: UTC, without the zone
            converters[name] = _sqlite_datetime
    else:
        for name in ("credits", "plan_credits", "overage_credits", "remaining_credits"):
            converters[name] = _same
    return converters


def _sqlite_datetime(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).replace(tzinfo=None).isoformat(" ")


def _same(value: Any) -> Any:
    return value


def _write_balances(accounts: Iterable[_Account], shared: Iterable[_Account], now: datetime.datetime) -> None:
    """Each changed balance once, by a conditional UPDATE that re-checks the limit: it must change exactly the
    rows decided, or the transaction fails (nothing counted) rather than overspend."""
    changed = [
        a
        for a in accounts
        if a.plan != a.start_plan or a.overage != a.start_overage or a.allowance != a.start_allowance
    ]
    if changed:
        stamp = adapter(Balance, "updated_at")(now)
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

"""Set-based recomputation of subscriptions from their sources (DOMAIN.md §4 rules 1 to 7).

Every change that can move a user's sources in a profile (a direct subscribe, change of plan or unsubscribe, a
group assigned, re-planned or unassigned, a member added or removed, a user deactivated, reactivated or deleted)
ends in `recompute(profile, users)`: for a set of users it reads, in three queries per chunk of users, their
subscriptions, the highest tier of their assigned groups and their directory entries; decides each user's new
state in memory; and writes the differences with a handful of prepared statements (new subscriptions, changed
subscriptions, closed and opened history periods), never one save per user. A group of 20,000 members is 10
chunks, each a constant number of statements.

The rules, for one user with sources S (the direct tier unless unsubscribed, and the tiers of its assigned
groups unless it unsubscribed directly; none when the user is deleted) and target T = the highest tier of S:
- no subscription: T and an active user → a Pending subscription at T (rule 3);
- a due downgrade (`next_tier_from` passed) is settled first: the tier becomes the next tier from that 1st;
- no T: a live subscription is canceled, with access until the 1st of next month (rules 1, 5, 6);
- T and canceled: within the month of the cancellation it is reactivated (Active if it ever was, else Pending),
  after it a new Pending subscription starts at T (rule 5);
- T above the tier: upgraded now (rule 4); below: the tier stays and T is the next tier from the 1st (rule 4);
  equal: a pending downgrade is undone.
The caller holds the profile's lock (`lock_profile`), so two requests on one profile apply one after the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from django.db import connections, transaction
from django.db.models import Max, QuerySet

from directory.models import DirectoryUser, GroupMembership
from kiroconsole.bulk import adapter, insert_rows, update_rows
from subscriptions.calendar import next_month_start
from subscriptions.models import Profile, Subscription, SubscriptionPeriod, SubscriptionStatus, Tier

NO_ID = uuid.UUID(int=0)  # a new subscription's, until the flush gives it one
CHUNK = 2000  # users per round: keeps IN lists within every database's limits

PENDING, ACTIVE, CANCELED = SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELED
UserSet = QuerySet | Collection[uuid.UUID]  # user ids: a queryset of ids (one subquery) or a collection of them


@dataclass
class Changes:
    """What a recomputation changed, by user name, for the audit event of the operation that caused it."""

    subscribed: list[str] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    upgraded: list[str] = field(default_factory=list)
    downgrade_scheduled: list[str] = field(default_factory=list)
    downgrade_undone: list[str] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    source_changed: list[str] = field(default_factory=list)  # direct source set or cleared, tier unchanged

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def add(self, other: Changes) -> None:
        for f in fields(self):
            getattr(self, f.name).extend(getattr(other, f.name))

    def summary(self) -> dict[str, Any]:
        """The audit form: for each kind of change that happened, the count and the user names."""
        return {
            f.name: {"count": len(names), "users": sorted(names, key=str.lower)}
            for f in fields(self)
            if (names := getattr(self, f.name))
        }


@dataclass
class _Sub:
    """A subscription's columns as read, changed in memory, then written if `changed`."""

    id: uuid.UUID
    user_id: Any  # in the database's form (see _recompute_chunk)
    status: str
    tier_id: str
    next_tier_id: str | None
    next_tier_from: datetime | None
    direct_tier_id: str | None
    direct_opt_out: bool
    subscribed_at: datetime
    activated_at: datetime | None
    canceled_at: datetime | None
    access_until: datetime | None
    changed: bool = False


SUB_COLUMNS = [f.name for f in fields(_Sub) if f.name not in ("id", "user_id", "changed")]
WRITTEN = [*SUB_COLUMNS, "updated_at"]


def _order(value: Any) -> Any:
    """The sort key of an id in the database's form (text on SQLite, sorting as the UUID does; UUID elsewhere)."""
    return value if isinstance(value, str) else value.int


def lock_profile(profile: Profile) -> None:
    """Serialize the subscription changes of one profile (PostgreSQL: a row lock until the transaction ends;
    SQLite already runs one writing transaction at a time)."""
    Profile.objects.select_for_update().filter(pk=profile.pk).values_list("pk").get()


def lock_profiles_of(identity_center: Any) -> None:
    """`lock_profile` for every profile of a directory at once, in id order (the order `_follow` takes them in)."""
    list(Profile.objects.select_for_update().filter(identity_center=identity_center).order_by("pk").values_list("pk"))


def _chunks(users: UserSet) -> Iterator[Any]:
    if isinstance(users, QuerySet):
        yield users
        return
    ids = list(dict.fromkeys(users))
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


class _Writer:
    """The rows one recomputation writes, in the database's form, flushed as a few executemany/COPY statements."""

    def __init__(self, profile: Profile, now: datetime):
        self.profile = profile
        self.now = now
        self.db_uuid = adapter(Subscription, "id")
        self.db_time = adapter(Subscription, "updated_at")
        self._times: dict[datetime, Any] = {}
        self.reset()

    def reset(self) -> None:
        """Forget the rows written (after a flush)."""
        self.new: list[_Sub] = []  # subscriptions to create (their ids are given at the flush)
        self.names: dict[Any, str] = {}  # their users' names (Subscription.user_name)
        self.updates: list[tuple] = []
        self.settle_closes: list[tuple] = []  # (ends_at, subscription id): a due downgrade
        self.settle_opens: list[tuple] = []
        self.closes: list[tuple] = []  # (ends_at, subscription id, at): the period that holds `now`
        self.opens: list[tuple] = []
        self.new_opens: list[tuple] = []

    def time(self, value: datetime | None) -> Any:
        if value is None:
            return None
        if (converted := self._times.get(value)) is None:  # a handful of distinct times: `now`, the next 1st
            converted = self._times[value] = self.db_time(value)
        return converted

    def period(self, target: list[tuple], sub: _Sub, tier: str, starts: datetime, ends: datetime | None = None) -> None:
        target.append((self.db_uuid(sub.id), tier, sub.status, self.time(starts), self.time(ends)))

    def row(self, sub: _Sub) -> tuple:
        t = self.time
        return (
            sub.status,
            sub.tier_id,
            sub.next_tier_id,
            t(sub.next_tier_from),
            sub.direct_tier_id,
            sub.direct_opt_out,
            t(sub.subscribed_at),
            t(sub.activated_at),
            t(sub.canceled_at),
            t(sub.access_until),
            t(self.now),
        )

    def flush(self) -> None:
        table = connections["default"].ops.quote_name(SubscriptionPeriod._meta.db_table)
        period_columns = ["subscription", "tier", "status", "starts_at", "ends_at"]
        close = (
            f"UPDATE {table} SET ends_at = %s WHERE subscription_id = %s "  # noqa: S608  # nosec B608
            f"AND (ends_at IS NULL OR ends_at > %s)"
        )
        # New subscriptions in the order of their users, with ids sorted the same way: every index then grows
        # in order (several times faster than random inserts at 20,000 rows).
        new = sorted(self.new, key=lambda sub: _order(sub.user_id))
        for sub, pk in zip(new, sorted((uuid.uuid4() for _ in new), key=_order), strict=True):
            sub.id = pk
            self.period(self.new_opens, sub, sub.tier_id, sub.subscribed_at)
        db_profile, db_uuid = self.profile.pk, self.db_uuid
        insert_rows(
            Subscription,
            ["id", "profile", "user", "user_name", *WRITTEN],
            [(db_uuid(sub.id), db_profile, sub.user_id, self.names[sub.user_id], *self.row(sub)) for sub in new],
        )
        insert_rows(SubscriptionPeriod, ["subscription", "tier", "status", "starts_at", "ends_at"], self.new_opens)
        update_rows(Subscription, WRITTEN, self.updates)
        with connections["default"].cursor() as cursor:
            if self.settle_closes:
                cursor.executemany(close, [(at, sub, at) for at, sub in self.settle_closes])
            insert_rows(SubscriptionPeriod, period_columns, self.settle_opens)
            if self.closes:
                cursor.executemany(close, self.closes)
            insert_rows(SubscriptionPeriod, period_columns, self.opens)
        self.reset()


def recompute(
    *,
    profile: Profile,
    users: UserSet,
    now: datetime,
    direct: Mapping[uuid.UUID, tuple[str | None, bool]] | None = None,
) -> Changes:
    """Bring the subscriptions of `users` in `profile` in line with their sources; `direct` sets, for some of
    them, a new direct source first (tier code or None, opted out). Call inside a transaction, holding
    `lock_profile(profile)`. Returns what changed."""
    assert transaction.get_connection().in_atomic_block, "recompute runs inside the caller's transaction"
    db_uuid = adapter(Subscription, "id")
    direct = {db_uuid(user_id): value for user_id, value in (direct or {}).items()}  # by the database's id form
    ranks = dict(Tier.objects.values_list("code", "rank"))
    by_rank = {rank: code for code, rank in ranks.items()}
    changes = Changes()
    writer = _Writer(profile, now)
    for chunk in _chunks(users):
        _recompute_chunk(profile, chunk, now, direct, ranks, by_rank, changes, writer)
        writer.flush()
    return changes


def _recompute_chunk(
    profile: Profile,
    chunk: Any,
    now: datetime,
    direct: Mapping[Any, tuple[str | None, bool]],
    ranks: dict[str, int],
    by_rank: dict[int, str],
    changes: Changes,
    w: _Writer,
) -> None:
    # User ids stay in the database's form throughout (hex text on SQLite): 20,000 users would otherwise cost
    # 40,000 UUID objects made and converted back.
    db_uuid = w.db_uuid
    subs: dict[Any, _Sub] = {}
    for row in (
        Subscription.objects.filter(profile=profile, user_id__in=chunk)
        .select_for_update()
        .order_by("id")
        .values_list("id", "user_id", *SUB_COLUMNS)
    ):
        read = _Sub(*row)
        read.user_id = db_uuid(read.user_id)
        subs[read.user_id] = read
    group_ranks = dict(
        _raw(
            GroupMembership.objects.filter(
                user_id__in=chunk, group__deleted_at__isnull=True, group__assignments__profile=profile
            )
            .values("user_id")
            .annotate(rank=Max("group__assignments__tier__rank"))
            .order_by()
            .values_list("user_id", "rank")
        )
    )
    people = DirectoryUser.objects.filter(pk__in=chunk, identity_center_id=profile.identity_center_id).order_by()
    for user_id, user_name, active, deleted_at in _raw(people.values_list("pk", "user_name", "active", "deleted_at")):
        sub = subs.get(user_id)
        direct_tier, opt_out = (sub.direct_tier_id, sub.direct_opt_out) if sub is not None else (None, False)
        if user_id in direct:
            direct_tier, opt_out = direct[user_id]
        sources = [] if deleted_at is not None else [ranks[direct_tier]] if direct_tier else []
        if deleted_at is None and not opt_out and (group_rank := group_ranks.get(user_id)) is not None:
            sources.append(group_rank)
        target = by_rank[max(sources)] if sources else None
        eligible = bool(active) and deleted_at is None

        if sub is None:
            if target is not None and eligible:
                new = _Sub(NO_ID, user_id, PENDING, target, None, None, direct_tier, opt_out, now, None, None, None)
                w.new.append(new)
                w.names[user_id] = user_name
                changes.subscribed.append(user_name)
            continue

        if (sub.direct_tier_id, sub.direct_opt_out) != (direct_tier, opt_out):
            sub.direct_tier_id, sub.direct_opt_out, sub.changed = direct_tier, opt_out, True
        before = (sub.status, sub.tier_id)
        # A downgrade whose 1st has come: the lower tier holds from that 1st.
        if sub.next_tier_id is not None and sub.next_tier_from is not None and sub.next_tier_from <= now:
            w.settle_closes.append((w.time(sub.next_tier_from), w.db_uuid(sub.id)))
            w.period(w.settle_opens, sub, sub.next_tier_id, sub.next_tier_from)
            sub.tier_id, sub.next_tier_id, sub.next_tier_from, sub.changed = sub.next_tier_id, None, None, True
            before = (sub.status, sub.tier_id)
        kind = _decide(sub, target, eligible, now, ranks)
        if kind is not None:
            getattr(changes, kind).append(user_name)
        elif sub.changed and before == (sub.status, sub.tier_id):
            changes.source_changed.append(user_name)
        if sub.changed:
            w.updates.append((*w.row(sub), w.db_uuid(sub.id)))
        if before != (sub.status, sub.tier_id):
            w.closes.append((w.time(now), w.db_uuid(sub.id), w.time(now)))
            w.period(w.opens, sub, sub.tier_id, now, sub.access_until)


def _raw(queryset: QuerySet) -> list[tuple]:
    """The rows of a values_list queryset as the database driver gives them, without Django's conversions
    (ids stay in the database's form; booleans may be 0 and 1; only None-ness of dates is used)."""
    sql, params = queryset.query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _decide(sub: _Sub, target: str | None, eligible: bool, now: datetime, ranks: dict[str, int]) -> str | None:
    """Change `sub` (settled) towards `target`; return the kind of change (a Changes field) or None."""
    if target is None:
        if sub.status == CANCELED:
            return None
        sub.status, sub.canceled_at, sub.access_until = CANCELED, now, next_month_start(now)
        sub.next_tier_id = sub.next_tier_from = None
        sub.changed = True
        return "canceled"
    kind = None
    if sub.status == CANCELED:
        if not eligible:
            return None
        if sub.access_until is not None and now < sub.access_until:  # canceled this month: the same subscription
            sub.status = ACTIVE if sub.activated_at is not None else PENDING
            kind = "reactivated"
        else:  # a new subscription, at the target tier
            sub.status, sub.subscribed_at, sub.activated_at, sub.tier_id = PENDING, now, None, target
            kind = "subscribed"
        sub.canceled_at = sub.access_until = None
        sub.changed = True
    current, wanted = ranks[sub.tier_id], ranks[target]
    if wanted > current:
        sub.tier_id, sub.next_tier_id, sub.next_tier_from, sub.changed = target, None, None, True
        return kind or "upgraded"
    if wanted < current:
        if sub.next_tier_id != target:
            sub.next_tier_id, sub.next_tier_from, sub.changed = target, next_month_start(now), True
            return kind or "downgrade_scheduled"
        return kind
    if sub.next_tier_id is not None:
        sub.next_tier_id, sub.next_tier_from, sub.changed = None, None, True
        return kind or "downgrade_undone"
    return kind


def profiles_assigning(identity_center_id: Any, group_ids: Iterable[uuid.UUID]) -> list[Profile]:
    """The live profiles in which any of the groups is assigned."""
    return list(
        Profile.objects.live()
        .filter(identity_center_id=identity_center_id, group_assignments__group_id__in=list(group_ids))
        .distinct()
        .order_by("pk")
    )


def profiles_subscribing(identity_center_id: Any, user_ids: Iterable[uuid.UUID]) -> list[Profile]:
    """The live profiles in which any of the users has a subscription."""
    return list(
        Profile.objects.live()
        .filter(identity_center_id=identity_center_id, subscriptions__user_id__in=list(user_ids))
        .distinct()
        .order_by("pk")
    )

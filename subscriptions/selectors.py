from __future__ import annotations

import datetime
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    Func,
    IntegerField,
    Lookup,
    Max,
    OrderBy,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    UUIDField,
    When,
)
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from directory.selectors import search_users
from subscriptions.models import (
    AiModel,
    GroupAssignment,
    Profile,
    ProfileSettings,
    Subscription,
    SubscriptionStatus,
    Tier,
)


def profiles() -> QuerySet[Profile]:
    """Live profiles with what their pages and the API show."""
    return Profile.objects.live().select_related("account", "region", "identity_center")


def profile_by_id(profile_id: str) -> Profile:
    """The access helper for one profile: 404 for an unknown or deleted one."""
    profile = profiles().filter(profile_id=profile_id).first()
    if profile is None:
        raise Http404("No such Kiro profile.")
    return profile


def profile_by_reference(reference: str) -> Profile | None:
    """A profile by id, ARN or name (management commands accept all three)."""
    reference = reference.strip()
    if reference.startswith("arn:"):
        reference = reference.rsplit("/", 1)[-1]
    matches = list(profiles().filter(Q(profile_id=reference) | Q(name=reference))[:2])
    return matches[0] if len(matches) == 1 else None


def profile_settings(profile: Profile) -> ProfileSettings:
    return (
        ProfileSettings.objects.select_related("default_model", "profile__region", "profile__account")
        .prefetch_related("approved_models")
        .get(profile=profile)
    )


def ai_models() -> QuerySet[AiModel]:
    return AiModel.objects.filter(active=True)


# --- Subscription pages (the Users and Groups tabs, their dialogs, the profile page, a user's page) ----------


def tier_catalogue() -> list[Tier]:
    """The tiers by rank (four rows: pages read them once and look tiers up by code)."""
    return list(Tier.objects.order_by("rank"))


def effective_tier(now: datetime.datetime) -> Case:
    """A subscription's tier at `now`: its next tier once the 1st of a pending downgrade has come (the SQL form of
    `Subscription.effective_tier_id`)."""
    return Case(When(next_tier_from__lte=now, then=F("next_tier")), default=F("tier"), output_field=CharField())


def effective_rank(now: datetime.datetime) -> Case:
    return Case(
        When(next_tier_from__lte=now, then=F("next_tier__rank")),
        default=F("tier__rank"),
        output_field=IntegerField(),
    )


class Unindexed(Func):
    """A column compared without the help of an index: on SQLite a unary plus, its documented way to keep a term out
    of the planner's choice of index; elsewhere the column itself. SQLite plans without statistics (Django never runs
    ANALYZE): given `profile = ? AND status = ?` it reads a profile's 50,000 Active subscriptions by index and sorts
    them all by user name (300 ms), where walking the users by name and keeping the Active ones fills a page in a
    millisecond. PostgreSQL, with statistics, picks the walk by itself."""

    template = "%(expressions)s"

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="+%(expressions)s", **extra_context)


class InArray(Lookup):
    """`column IN (subquery)`, written for PostgreSQL as `column = ANY(ARRAY(subquery))`. Counting the subscriptions of
    a group's members, PostgreSQL joins the IN (subquery) and, the profile being most of the table, hashes the members
    and reads every subscription (5,000 members among 100,000: 35 ms); an array it looks up in the (profile, user)
    index once per member (9 ms). A group of every user of the directory (100,000) counts twice as slow this way."""

    lookup_name = "in_array"
    prepare_rhs = False

    def __init__(self, lhs, rhs: QuerySet):
        super().__init__(lhs, rhs.order_by())  # unordered, as `__in` makes a subquery

    def as_sql(self, compiler, connection, template="%s IN %s"):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return template % (lhs, rhs), (*lhs_params, *rhs_params)

    def as_postgresql(self, compiler, connection):
        return self.as_sql(compiler, connection, template="%s = ANY(ARRAY%s)")


def with_status(queryset: QuerySet[Subscription], status: str, *, walk: bool = True) -> QuerySet[Subscription]:
    """`walk`: the queryset walks the users in user-name order (`profile_subscriptions`): the status is compared
    `Unindexed`; otherwise plainly, so that a count reads the (profile, status, ...) index."""
    term: Func | F = Unindexed("status", output_field=CharField()) if walk else F("status")
    return queryset.alias(status_term=term).filter(status_term=status)


def with_effective_tier(
    queryset: QuerySet[Subscription], code: str, now: datetime.datetime, *, walk: bool = True
) -> QuerySet[Subscription]:
    """The subscriptions whose tier at `now` is `code`: their tier while no next tier is due, else their next tier
    once its 1st has come. `walk` as for `with_status`; without it, a count reads the (profile, status, tier, next
    tier, its date) index alone."""
    tier: Func | F = Unindexed("tier_id", output_field=CharField()) if walk else F("tier_id")
    next_tier: Func | F = Unindexed("next_tier_id", output_field=CharField()) if walk else F("next_tier_id")
    queryset = queryset.alias(tier_term=tier, next_tier_term=next_tier)
    pending = Q(next_tier_from__isnull=True) | Q(next_tier_from__gt=now)
    return queryset.filter(Q(next_tier_from__lte=now, next_tier_term=code) | (Q(tier_term=code) & pending))


def users_of_directory(profile: Profile) -> QuerySet[DirectoryUser]:
    """The users of the profile's directory, for a subquery of the subscriptions of some of them (a search): the
    directory is compared `Unindexed`, so that SQLite starts from what narrows more (the search's candidates) rather
    than reading the whole directory by its index."""
    return DirectoryUser.objects.alias(directory_term=Unindexed("identity_center_id", output_field=UUIDField())).filter(
        directory_term=profile.identity_center_id
    )


def group_sources(profile: Profile) -> Prefetch:
    """The assigned groups of each subscription's user in `profile` (its group sources), with their tier, as
    `user.assigned_memberships`: one query for a whole page of subscriptions. Of each group, only its name."""
    memberships = (
        GroupMembership.objects.filter(group__deleted_at__isnull=True, group__assignments__profile=profile)
        .select_related("group")
        .only("user_id", "group__display_name")
        .annotate(source_tier=F("group__assignments__tier"))
        .order_by("group__display_name", "group_id")
    )
    return Prefetch("user__memberships", queryset=memberships, to_attr="assigned_memberships")


def user_name_order(descending: bool = False) -> list[OrderBy]:
    """The Users tab's order: by user name, ties by user id, both the subscription's own columns (`user_name` is
    kept equal to its user's), which the (profile, user name, user) index serves."""
    columns = [F("user_name"), F("user_id")]
    return [column.desc() if descending else column.asc() for column in columns]


def _with_columns(
    queryset: QuerySet[Subscription], profile: Profile, now: datetime.datetime | None
) -> QuerySet[Subscription]:
    """What the Users tab shows of each subscription: its user, its tier at `now` (`current_tier`, a code) and its
    group sources (`user.assigned_memberships`)."""
    return (
        queryset.select_related("user")
        .annotate(current_tier=effective_tier(now or timezone.now()))
        .prefetch_related(group_sources(profile))
        .order_by(*user_name_order())
    )


def profile_subscriptions(profile: Profile, now: datetime.datetime | None = None) -> QuerySet[Subscription]:
    """The Users tab (and the API's list): the profile's subscriptions in user-name order, with their user, their
    tier at `now` (`current_tier`, a code) and their group sources (`user.assigned_memberships`).

    A page walks the profile's (profile, user name, user) index of subscriptions and stops after 50 rows, instead of
    sorting every subscription of the profile; a deep page skips its OFFSET over entries of that index alone, without
    visiting a user (each subscription keeps its user's name: see `Subscription.user_name`). To list in the order
    of another column of the subscriptions, the (profile, column) index serves (see `in_profile_order`). The Users
    tab reads a later page's rows by their users on PostgreSQL (`subscriptions_of_users`, see `tables.PagesByUser`)."""
    return _with_columns(Subscription.objects.filter(profile=profile), profile, now)


def subscriptions_of_users(
    profile: Profile, users: Any, now: datetime.datetime | None = None
) -> QuerySet[Subscription]:
    """The subscriptions of some users (ids, or a query of them: a search's, a group's, a page's) in `profile`, in
    user-name order, with what `profile_subscriptions` gives each. SQLite finds them from the users, by the
    (user, profile) index: the users' directory is compared `Unindexed`, or SQLite would walk the whole directory in
    user-name order looking for them (a search's ten users). PostgreSQL is given a query of users as an array
    (`InArray`): it looks each one up in the (user, profile) index and sorts what it found, where with `IN (query)`
    it walked the profile's (profile, user name, user) index and probed each entry for membership (a group of 5,000
    whose names come late in the order: 15,000 probes, 40 ms, instead of 15 ms)."""
    subscriptions = Subscription.objects.filter(profile=profile)
    if connections[subscriptions.db].vendor == "sqlite":
        subscriptions = subscriptions.alias(
            directory_term=Unindexed("user__identity_center_id", output_field=UUIDField())
        ).filter(user__in=users, directory_term=profile.identity_center_id)
    elif isinstance(users, QuerySet) and not users.query.is_sliced:
        subscriptions = subscriptions.filter(InArray(F("user_id"), users))
    else:
        subscriptions = subscriptions.filter(user__in=users)
    return _with_columns(subscriptions, profile, now)


def in_profile_order(queryset: QuerySet[Subscription], profile: Profile, *fields: str) -> QuerySet[Subscription]:
    """`profile_subscriptions` in the order of columns of the subscriptions, read from their (profile, ...) index."""
    return queryset.filter(profile=profile).order_by(*fields)


def subscriptions_of(profile: Profile, user_ids: list) -> list[Subscription]:
    """Some users' subscriptions in `profile` (the change-plan and unsubscribe dialogs), by user name."""
    return list(subscriptions_of_users(profile, user_ids))


def group_ranks(profile: Profile, user_ids: list) -> dict:
    """For each user, the highest tier rank its assigned groups give in `profile` (users in none left out)."""
    return dict(
        GroupMembership.objects.filter(
            user_id__in=user_ids, group__deleted_at__isnull=True, group__assignments__profile=profile
        )
        .values("user_id")
        .annotate(rank=Max("group__assignments__tier__rank"))
        .order_by()
        .values_list("user_id", "rank")
    )


def assignment_member_count() -> Subquery:
    """An assignment's group's number of members, counted for that group alone (a correlated subquery on the
    (group, user) index, not a GROUP BY over every membership)."""
    memberships = GroupMembership.objects.filter(group=OuterRef("group_id")).order_by()
    count = Func(template="COUNT(*)", output_field=IntegerField())
    return Subquery(memberships.annotate(n=count).values("n"), output_field=IntegerField())


def group_assignments(profile: Profile) -> QuerySet[GroupAssignment]:
    """The Groups tab: the profile's assigned groups with their tier and number of members."""
    return (
        GroupAssignment.objects.filter(profile=profile)
        .select_related("group", "tier")
        .annotate(member_count=assignment_member_count())
        .order_by("group__display_name", "pk")
    )


def group_assignment(profile: Profile, group_id: Any) -> GroupAssignment:
    assignment = group_assignments(profile).filter(group_id=group_id).first()
    if assignment is None:
        raise Http404("This group is not assigned in this profile.")
    return assignment


def member_sources(profile: Profile, assignment: GroupAssignment, now: datetime.datetime) -> Counter:
    """What the live subscriptions of an assigned group's members hold besides this group, counted by
    (their tier rank now, the highest rank of their other sources or 0): one aggregate query, whatever the size of
    the group. The group dialogs tell from it who moves up, who moves down and who is canceled."""
    other_groups = (
        GroupAssignment.objects.filter(
            profile=profile, group__deleted_at__isnull=True, group__memberships__user=OuterRef("user_id")
        )
        .exclude(group_id=assignment.group_id)
        .order_by()
        .values("profile")
        .annotate(rank=Max("tier__rank"))
        .values("rank")
    )
    rows = (
        Subscription.objects.filter(profile=profile, direct_opt_out=False, user__memberships__group=assignment.group_id)
        .exclude(status=SubscriptionStatus.CANCELED)
        .annotate(
            rank_now=effective_rank(now),
            other=Coalesce(Subquery(other_groups, output_field=IntegerField()), 0),
            direct=Coalesce(F("direct_tier__rank"), 0),
        )
        .values("rank_now", "other", "direct")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts: Counter = Counter()
    for row in rows:
        counts[(row["rank_now"], max(row["other"], row["direct"]))] += row["n"]
    return counts


def subscription_counts(profile: Profile, now: datetime.datetime) -> dict[tuple[str, str], int]:
    """The profile page's table: the number of subscriptions per (tier at `now`, status) (see `subscription_tally`)."""
    return subscription_tally(profile, now).counts


@dataclass(frozen=True)
class Tally:
    """Subscriptions per (tier at a moment, status), and a stamp of the profile's subscriptions: for each
    combination of status, tier, next tier and its date, their number and latest `updated_at`. Every change the
    bill can see (a subscription created, upgraded, scheduled down, settled, canceled, reactivated, activated)
    moves a subscription to another combination, so it changes the stamp whatever the order in which concurrent
    changes commit."""

    counts: dict[tuple[str, str], int]
    stamp: frozenset


def subscription_tally(profile: Profile, now: datetime.datetime) -> Tally:
    """One aggregate query, read from the (profile, status, tier, next tier, its date, updated at) index alone; the
    tier at `now` is told apart here, from the few (tier, next tier, date) combinations."""
    rows = list(
        Subscription.objects.filter(profile=profile)
        .values_list("status", "tier_id", "next_tier_id", "next_tier_from")
        .annotate(n=Count("*"), changed=Max("updated_at"))
        .order_by()
    )
    counts: Counter = Counter()
    for status, tier, next_tier, next_from, n, _ in rows:
        current = next_tier if next_tier is not None and next_from is not None and next_from <= now else tier
        counts[(current, status)] += n
    return Tally(counts=dict(counts), stamp=frozenset(rows))


def user_subscriptions(user: Any) -> list[Subscription]:
    """A directory user's subscriptions in every live profile, with the groups that are their sources."""
    subscriptions = list(
        Subscription.objects.filter(user=user, profile__deleted_at__isnull=True)
        .select_related("profile", "profile__region")
        .order_by("profile__name", "pk")
    )
    sources: dict[Any, list[GroupAssignment]] = {}
    if subscriptions:
        assignments = (
            GroupAssignment.objects.filter(
                profile_id__in=[s.profile_id for s in subscriptions],
                group__deleted_at__isnull=True,
                group__memberships__user=user,
            )
            .select_related("group")
            .order_by("group__display_name", "pk")
        )
        for assignment in assignments:
            sources.setdefault(assignment.profile_id, []).append(assignment)
    for subscription in subscriptions:
        subscription.group_sources = sources.get(subscription.profile_id, [])  # type: ignore[attr-defined]
    return subscriptions


def directory_users_matching(profile: Profile, q: str) -> QuerySet[DirectoryUser]:
    """Users of the profile's directory matching `q` (the subscribe dialog's type-ahead), by user name."""
    users = DirectoryUser.objects.live().filter(identity_center_id=profile.identity_center_id)
    return search_users(users, q).order_by("user_name", "pk")


def directory_groups_matching(profile: Profile, q: str) -> QuerySet[DirectoryGroup]:
    """Groups of the profile's directory whose name contains `q`, with their number of members and their tier in
    this profile if they are assigned (`assigned_tier`)."""
    assigned = GroupAssignment.objects.filter(profile=profile, group=OuterRef("pk")).values("tier_id")[:1]
    memberships = GroupMembership.objects.filter(group=OuterRef("pk")).order_by()
    count = Func(template="COUNT(*)", output_field=IntegerField())
    return (
        DirectoryGroup.objects.live()
        .filter(identity_center_id=profile.identity_center_id, display_name__icontains=q.strip())
        .annotate(
            member_count=Subquery(memberships.annotate(n=count).values("n"), output_field=IntegerField()),
            assigned_tier=Subquery(assigned, output_field=CharField()),
        )
        .order_by("display_name", "pk")
    )

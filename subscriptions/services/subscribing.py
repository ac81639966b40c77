"""Subscribe users and groups to tiers (DOMAIN.md §4), and follow the directory (its signals, connected in
`subscriptions.apps`). Every service validates, locks the profile, sets the sources, lets `propagation.recompute`
bring the subscriptions in line, and records one audit event naming every user whose subscription changed."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from directory.models import DirectoryGroup, DirectoryUser
from kiroconsole.audit import Actor, audit_record
from kiroconsole.bulk import adapter, insert_rows, update_by_key
from kiroconsole.errors import ConflictError
from subscriptions.models import (
    GroupAssignment,
    Profile,
    Subscription,
    SubscriptionPeriod,
    SubscriptionStatus,
    Tier,
)
from subscriptions.services.propagation import (
    Changes,
    lock_profile,
    lock_profiles_of,
    profiles_assigning,
    profiles_subscribing,
    recompute,
)

__all__ = [
    "Changes",
    "group_assign",
    "group_change_plan",
    "group_unassign",
    "subscription_change_plan",
    "subscription_record_activity",
    "subscription_subscribe",
    "subscription_unsubscribe",
    "subscriptions_follow_activation",
    "subscriptions_follow_deleted_groups",
    "subscriptions_follow_deleted_users",
    "subscriptions_follow_memberships",
    "subscriptions_record_first_use",
    "tier_by_code",
]


def tier_by_code(code: Any, field: str = "tier") -> Tier:
    """The tier of a code (or a Tier), else ValidationError naming the codes there are."""
    if isinstance(code, Tier):
        return code
    tier = Tier.objects.filter(code=str(code or "").strip().upper()).first() if code else None
    if tier is None:
        codes = ", ".join(Tier.objects.values_list("code", flat=True))
        raise ValidationError({field: f"Unknown tier {code!r}: choose one of {codes}."}, code="unknown_tier")
    return tier


def _live_profile(profile: Profile) -> None:
    if profile.deleted_at is not None:
        raise ValidationError(f"The profile “{profile.name}” is deleted: nothing can be subscribed in it.")


def _check_users(profile: Profile, users: list[DirectoryUser], *, subscribing: bool) -> None:
    errors = []
    for user in users:
        if user.identity_center_id != profile.identity_center_id:
            errors.append(
                f"{user.user_name} is in another directory than this profile's "
                f"({profile.identity_center.identity_store_id})."
            )
        elif user.deleted_at is not None:
            errors.append(f"{user.user_name} is deleted.")
        elif subscribing and not user.active:
            errors.append(f"{user.user_name} is deactivated: reactivate the user before subscribing it.")
    if not users:
        errors.append("Choose at least one user.")
    if errors:
        raise ValidationError({"users": errors})


def _subscribed(profile: Profile, users: list[DirectoryUser], now) -> None:
    """ValidationError unless every user has a subscription that is not canceled."""
    live = set(
        Subscription.objects.filter(profile=profile, user__in=[u.pk for u in users])
        .exclude(status="CANCELED")
        .values_list("user_id", flat=True)
    )
    missing = [u.user_name for u in users if u.pk not in live]
    if missing:
        raise ValidationError(
            {"users": [f"{name} is not subscribed in this profile." for name in missing]}, code="not_subscribed"
        )


def _audit(actor: Actor, action: str, target: Any, changes: Changes, before: Any = None, **after: Any) -> None:
    audit_record(actor=actor, action=action, target=target, before=before, after={**after, **changes.summary()})


def _unique(users: Iterable[DirectoryUser] | DirectoryUser) -> list[DirectoryUser]:
    return list(dict.fromkeys([users] if isinstance(users, DirectoryUser) else users))


def subscription_subscribe(
    *, profile: Profile, users: Iterable[DirectoryUser] | DirectoryUser, tier: Any, actor: Actor
) -> Changes:
    """Subscribe users directly at `tier` (a re-subscribe after an unsubscribe counts their groups again)."""
    users, tier = _unique(users), tier_by_code(tier)
    _live_profile(profile)
    _check_users(profile, users, subscribing=True)
    now = timezone.now()
    with transaction.atomic():
        lock_profile(profile)
        direct = {u.pk: (tier.code, False) for u in users}
        changes = recompute(profile=profile, users=list(direct), now=now, direct=direct)
        _audit(actor, "subscription.subscribe", profile, changes, tier=tier.code, users=[u.user_name for u in users])
    return changes


def subscription_change_plan(
    *, profile: Profile, users: Iterable[DirectoryUser] | DirectoryUser, tier: Any, actor: Actor
) -> Changes:
    """Set the direct tier of subscribed users: an upgrade applies now, a downgrade from the 1st; a user whose
    groups give a higher tier keeps it (the highest source wins)."""
    users, tier = _unique(users), tier_by_code(tier)
    _live_profile(profile)
    _check_users(profile, users, subscribing=False)
    now = timezone.now()
    with transaction.atomic():
        lock_profile(profile)
        _subscribed(profile, users, now)
        direct = {u.pk: (tier.code, False) for u in users}
        changes = recompute(profile=profile, users=list(direct), now=now, direct=direct)
        _audit(actor, "subscription.change_plan", profile, changes, tier=tier.code, users=[u.user_name for u in users])
    return changes


def subscription_unsubscribe(
    *, profile: Profile, users: Iterable[DirectoryUser] | DirectoryUser, actor: Actor
) -> Changes:
    """Cancel the users' subscriptions: access lasts until the 1st of next month. They stay unsubscribed even
    while their groups are assigned, until they are subscribed directly again."""
    users = _unique(users)
    _live_profile(profile)
    _check_users(profile, users, subscribing=False)
    now = timezone.now()
    with transaction.atomic():
        lock_profile(profile)
        _subscribed(profile, users, now)
        direct: dict[uuid.UUID, tuple[str | None, bool]] = {u.pk: (None, True) for u in users}
        changes = recompute(profile=profile, users=list(direct), now=now, direct=direct)
        _audit(actor, "subscription.unsubscribe", profile, changes, users=[u.user_name for u in users])
    return changes


def _check_group(profile: Profile, group: DirectoryGroup) -> None:
    _live_profile(profile)
    if group.identity_center_id != profile.identity_center_id:
        raise ValidationError({"group": f"The group {group.display_name} is in another directory than this profile's."})
    if group.deleted_at is not None:
        raise ValidationError({"group": f"The group {group.display_name} is deleted."})


def _members(group: DirectoryGroup):
    return group.memberships.values("user_id")


def group_assign(
    *, profile: Profile, group: DirectoryGroup, tier: Any, actor: Actor
) -> tuple[GroupAssignment, Changes]:
    """Subscribe a group's members at `tier`, and from now on every member it gains (rule 3)."""
    tier = tier_by_code(tier)
    _check_group(profile, group)
    now = timezone.now()
    with transaction.atomic():
        lock_profile(profile)
        if GroupAssignment.objects.filter(profile=profile, group=group).exists():
            raise ConflictError({"group": f"The group {group.display_name} is already assigned in this profile."})
        assignment = GroupAssignment.objects.create(
            profile=profile, group=group, tier=tier, assigned_at=now, updated_at=now
        )
        changes = recompute(profile=profile, users=_members(group), now=now)
        _audit(actor, "group_assignment.create", assignment, changes, group=group.display_name, tier=tier.code)
    return assignment, changes


def group_change_plan(
    *, profile: Profile, group: DirectoryGroup, tier: Any, actor: Actor
) -> tuple[GroupAssignment, Changes]:
    """Change an assigned group's tier: members move up at once, down from the 1st (rule 4)."""
    tier = tier_by_code(tier)
    _check_group(profile, group)
    now = timezone.now()
    with transaction.atomic():
        lock_profile(profile)
        assignment = GroupAssignment.objects.select_for_update().filter(profile=profile, group=group).first()
        if assignment is None:
            raise ValidationError({"group": f"The group {group.display_name} is not assigned in this profile."})
        before = {"group": group.display_name, "tier": assignment.tier_id}
        if assignment.tier_id == tier.code:
            return assignment, Changes()
        assignment.tier, assignment.updated_at = tier, now
        assignment.save(update_fields=["tier", "updated_at"])
        changes = recompute(profile=profile, users=_members(group), now=now)
        _audit(actor, "group_assignment.update", assignment, changes, before, group=group.display_name, tier=tier.code)
    return assignment, changes


def group_unassign(*, profile: Profile, group: DirectoryGroup, actor: Actor) -> Changes:
    """Unassign a group: each member keeps what its other sources give, or is canceled (rule 6)."""
    _live_profile(profile)
    now = timezone.now()
    with transaction.atomic():
        lock_profile(profile)
        assignment = GroupAssignment.objects.select_for_update().filter(profile=profile, group=group).first()
        if assignment is None:
            raise ValidationError({"group": f"The group {group.display_name} is not assigned in this profile."})
        before = {"group": group.display_name, "tier": assignment.tier_id}
        target = ("groupassignment", assignment.pk, str(assignment))
        assignment.delete()
        changes = recompute(profile=profile, users=_members(group), now=now)
        _audit(actor, "group_assignment.delete", target, changes, before)
    return changes


# --- Following the directory (receivers connected in subscriptions.apps) ------------------------------------


def _follow(profiles: list[Profile], users: list[uuid.UUID], actor: Actor | None, cause: str) -> None:
    now = timezone.now()
    for profile in profiles:
        lock_profile(profile)
        changes = recompute(profile=profile, users=users, now=now)
        if changes:
            _audit(actor or Actor.system(), "subscription.follow_directory", profile, changes, cause=cause)


def subscriptions_follow_memberships(
    *, identity_center: Any, added: list, removed: list, actor: Actor | None = None, **_: Any
) -> None:
    """Members added to or removed from assigned groups: their subscriptions follow at once (rules 3, 6)."""
    pairs = [*added, *removed]
    if not pairs:
        return
    profiles = profiles_assigning(identity_center.pk, {group_id for group_id, _ in pairs})
    _follow(profiles, [user_id for _, user_id in pairs], actor, "group membership changed")


def subscriptions_follow_activation(
    *, identity_center: Any, user_ids: list, active: bool, actor: Actor | None = None, **_: Any
) -> None:
    """A reactivated user gets the subscriptions its groups give (a deactivated one keeps its subscriptions,
    flagged, and may not use credits: DOMAIN.md §4 rule 7)."""
    if not active or not user_ids:
        return
    profiles = list(Profile.objects.live().filter(identity_center_id=identity_center.pk).order_by("pk"))
    _follow(profiles, list(user_ids), actor, "user reactivated")


def subscriptions_follow_renames(*, identity_center: Any, user_ids: list, **_: Any) -> None:
    """Renamed users' subscriptions take their new name (`Subscription.user_name`, the Users tab's order): one
    UPDATE per 10,000 users, in the rename's transaction. Not a change of the subscriptions: `updated_at` stays.

    The directory's profiles are locked first, in id order (`lock_profiles_of`), as every change of subscriptions does:
    metering locks a profile (shared) before its subscriptions, and an UPDATE takes its rows' locks in no set
    order, so without it a rename of several users and a batch of their events could each hold a subscription the
    other waits for (PostgreSQL ends one of the two with a deadlock error)."""
    ids = list(user_ids)
    if not ids:
        return
    name = DirectoryUser.objects.filter(pk=OuterRef("user_id")).values("user_name")[:1]
    with transaction.atomic():
        lock_profiles_of(identity_center)
        for start in range(0, len(ids), 10_000):
            Subscription.objects.filter(user_id__in=ids[start : start + 10_000]).update(user_name=Subquery(name))


def subscriptions_follow_deleted_users(
    *, identity_center: Any, user_ids: list, actor: Actor | None = None, **_: Any
) -> None:
    """Deleting a user cancels its subscriptions; their history stays (rule 7)."""
    _follow(profiles_subscribing(identity_center.pk, user_ids), list(user_ids), actor, "user deleted")


def subscriptions_follow_deleted_groups(
    *, identity_center: Any, group_ids: list, actor: Actor | None = None, **_: Any
) -> None:
    """A deleted group's assignments end (its members were reported removed just before)."""
    for assignment in GroupAssignment.objects.filter(group_id__in=list(group_ids)).select_related("profile", "group"):
        group_unassign(profile=assignment.profile, group=assignment.group, actor=actor or Actor.system())


def subscription_record_activity(*, subscription_id: uuid.UUID, at: datetime.datetime) -> bool:
    """A use of Kiro at `at` (an accepted usage event, DOMAIN.md §5 rule 2): a Pending subscription becomes Active
    from then on (its history gets an Active period), and "last active" moves forward. Returns whether it was
    activated. Conditional updates, safe when events race: exactly one of them activates."""
    with transaction.atomic():
        activated = Subscription.objects.filter(pk=subscription_id, status=SubscriptionStatus.PENDING).update(
            status=SubscriptionStatus.ACTIVE, activated_at=at, last_active_at=at, updated_at=timezone.now()
        )
        if activated:
            current = (
                SubscriptionPeriod.objects.filter(subscription_id=subscription_id, starts_at__lte=at)
                .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=at))
                .order_by("-starts_at", "-id")
                .first()
            )
            if current is not None:
                SubscriptionPeriod.objects.filter(pk=current.pk).update(ends_at=at)
                tier = current.tier_id
            else:
                tier = Subscription.objects.values_list("tier_id", flat=True).get(pk=subscription_id)
            SubscriptionPeriod.objects.create(
                subscription_id=subscription_id, tier_id=tier, status=SubscriptionStatus.ACTIVE, starts_at=at
            )
            return True
        Subscription.objects.filter(pk=subscription_id).filter(
            Q(last_active_at__isnull=True) | Q(last_active_at__lt=at)
        ).update(last_active_at=at)
        return False


def subscriptions_record_first_use(*, first_use: dict[uuid.UUID, datetime.datetime]) -> set[uuid.UUID]:
    """`subscription_record_activity` for many subscriptions at once (a batch of usage events): each Pending one
    becomes Active from its first use, with an Active period from then on, in a few statements whatever their
    number. Returns the ids activated (those still Pending once locked; a racing request may have activated one)."""
    if not first_use:
        return set()
    with transaction.atomic():
        pending = list(
            Subscription.objects.select_for_update()
            .filter(pk__in=list(first_use), status=SubscriptionStatus.PENDING)
            .order_by("pk")
            .values_list("pk", "tier_id")
        )
        if not pending:
            return set()
        now = timezone.now()
        stamp, at_db = adapter(Subscription, "updated_at"), adapter(Subscription, "activated_at")
        update_by_key(
            Subscription,
            "status = 'ACTIVE', activated_at = v.at, last_active_at = v.at, updated_at = v.stamp",
            {"at": "activated_at", "stamp": "updated_at"},
            [(adapter(Subscription, "id")(pk), at_db(first_use[pk]), stamp(now)) for pk, _ in pending],
        )
        tiers = dict(pending)
        earliest = min(first_use[pk] for pk in tiers)
        current: dict[uuid.UUID, tuple[int, str]] = {}
        periods = (
            SubscriptionPeriod.objects.filter(subscription_id__in=list(tiers))
            .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=earliest))
            .order_by("subscription_id", "starts_at", "id")
            .values_list("pk", "subscription_id", "tier_id", "starts_at", "ends_at")
        )
        for pk, sub_id, tier, starts, ends in periods:
            at = first_use[sub_id]
            if starts <= at and (ends is None or ends > at):
                current[sub_id] = (pk, tier)  # the latest period holding the moment of first use
        ends_db = adapter(SubscriptionPeriod, "ends_at")
        update_by_key(
            SubscriptionPeriod,
            "ends_at = v.ends",
            {"ends": "ends_at"},
            [(pk, ends_db(first_use[sub_id])) for sub_id, (pk, _) in current.items()],
        )
        insert_rows(
            SubscriptionPeriod,
            ["subscription_id", "tier_id", "status", "starts_at"],
            [
                (
                    adapter(SubscriptionPeriod, "subscription_id")(sub_id),
                    current[sub_id][1] if sub_id in current else tiers[sub_id],
                    SubscriptionStatus.ACTIVE,
                    adapter(SubscriptionPeriod, "starts_at")(first_use[sub_id]),
                )
                for sub_id in tiers
            ],
        )
    return set(tiers)

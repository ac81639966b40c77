"""Reads of subscriptions for the JSON API, built on the page selectors (`subscriptions.selectors`): the same
querysets, with the API's filters, so a page of rows costs the same few queries whatever its length."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from directory.models import GroupMembership
from directory.selectors import search_users
from subscriptions import selectors
from subscriptions.models import GroupAssignment, Profile, Subscription


def subscriptions_filtered(
    profile: Profile,
    *,
    status: str | None = None,
    tier: str | None = None,
    group_id: uuid.UUID | None = None,
    q: str = "",
) -> QuerySet[Subscription]:
    """A profile's subscriptions in user-name order, with their users and group sources (see
    `selectors.profile_subscriptions`): of a status, of a tier now, of the members of a group, of the users
    matching `q`."""
    now = timezone.now()
    # A group's and a search's users: the list starts from them (see `selectors.subscriptions_of_users`).
    users: list[QuerySet] = []
    if group_id is not None:
        users.append(GroupMembership.objects.filter(group_id=group_id).values("user_id"))
    if q.strip():
        people = search_users(selectors.users_of_directory(profile), q)
        users.append(people.values("pk"))
    if users:
        queryset = selectors.subscriptions_of_users(profile, users[0], now)
        for more in users[1:]:
            queryset = queryset.filter(user__in=more)
    else:
        queryset = selectors.profile_subscriptions(profile, now)
    if status:
        queryset = selectors.with_status(queryset, status)
    if tier:
        queryset = selectors.with_effective_tier(queryset, tier, now)
    return queryset


def subscription_of(profile: Profile, user_id: Any) -> Subscription:
    """The subscription of one user in the profile (whatever its status), or 404."""
    subscription = selectors.profile_subscriptions(profile, timezone.now()).filter(user_id=user_id).first()
    if subscription is None:
        raise Http404("This user has no subscription in this profile.")
    return subscription


def sources(subscription: Subscription) -> list[dict[str, Any]]:
    """What gives the subscription its tier (DOMAIN.md §4 rule 2): the direct assignment, then the assigned groups
    the user is a member of, by name. An unsubscribed user's groups don't count (until it is subscribed directly
    again), nor anything of a deleted user. Reads the group sources that `selectors.group_sources` prefetched."""
    user = subscription.user
    if user.deleted_at is not None:
        return []
    found: list[dict[str, Any]] = []
    if subscription.direct_tier_id and not subscription.direct_opt_out:
        found.append({"type": "direct", "tier": subscription.direct_tier_id})
    if not subscription.direct_opt_out:
        for membership in user.assigned_memberships:  # type: ignore[attr-defined]
            group = membership.group
            found.append(
                {"type": "group", "group_id": group.pk, "name": group.display_name, "tier": membership.source_tier}
            )
    return found


def group_assignments_filtered(profile: Profile, *, tier: str | None = None, q: str = "") -> QuerySet[GroupAssignment]:
    """A profile's assigned groups by name, with their member counts (see `selectors.group_assignments`)."""
    queryset = selectors.group_assignments(profile)
    if tier:
        queryset = queryset.filter(tier=tier)
    if q.strip():
        queryset = queryset.filter(group__display_name__icontains=q.strip())
    return queryset

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.models import IdentityCenterInstance
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership


def users() -> QuerySet[DirectoryUser]:
    return DirectoryUser.objects.live().select_related("identity_center").order_by("user_name", "pk")


def groups() -> QuerySet[DirectoryGroup]:
    # Meta.ordering is dropped from GROUP BY queries: order explicitly, or API pages come in any order.
    return (
        DirectoryGroup.objects.live()
        .select_related("identity_center")
        .annotate(member_count=Count("memberships", distinct=True))
        .order_by("display_name", "pk")
    )


def search_users(queryset: QuerySet[DirectoryUser], q: str) -> QuerySet[DirectoryUser]:
    q = q.strip()
    if not q:
        return queryset
    return queryset.filter(
        Q(user_name__icontains=q)
        | Q(display_name__icontains=q)
        | Q(email__icontains=q)
        | Q(given_name__icontains=q)
        | Q(family_name__icontains=q)
    )


def user_by_id(user_id) -> DirectoryUser:
    user = users().filter(pk=user_id).first()
    if user is None:
        raise Http404("No such user.")
    return user


def group_by_id(group_id) -> DirectoryGroup:
    group = groups().filter(pk=group_id).first()
    if group is None:
        raise Http404("No such group.")
    return group


def group_members(group: DirectoryGroup) -> QuerySet[DirectoryUser]:
    return DirectoryUser.objects.live().filter(memberships__group=group)


def user_groups(user: DirectoryUser) -> QuerySet[DirectoryGroup]:
    return DirectoryGroup.objects.live().filter(memberships__user=user)


def identity_center_by_store_id(identity_store_id: str | None) -> IdentityCenterInstance | None:
    """The directory named by its identity store id, or the only one when it is left out (None if ambiguous)."""
    if identity_store_id:
        return IdentityCenterInstance.objects.filter(identity_store_id=identity_store_id).first()
    instances = list(IdentityCenterInstance.objects.all()[:2])
    return instances[0] if len(instances) == 1 else None


def membership_exists(group: DirectoryGroup, user: DirectoryUser) -> bool:
    return GroupMembership.objects.filter(group=group, user=user).exists()

"""The queries of the SCIM endpoints: always inside the token's directory, live rows only, a constant number of
queries per request whatever the page size or the number of members named."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Q, QuerySet

from accounts.models import IdentityCenterInstance
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership, same_lower
from directory.scim.filters import Comparison
from directory.scim.protocol import ScimError
from directory.scim.serializers import EMAIL_TYPE

NOTHING = Q(pk__in=[])


def as_uuid(value: object) -> uuid.UUID | None:
    """A UUID from a string id, or None (an id that is not a UUID names nothing)."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _text(comparison: Comparison) -> str:
    if not isinstance(comparison.value, str):
        raise ScimError(400, f"Compare {comparison.attr} with a string.", "invalidFilter")
    return comparison.value


def _unsupported(comparison: Comparison, attributes: str) -> ScimError:
    name = comparison.attr + (f".{comparison.sub}" if comparison.sub else "")
    return ScimError(400, f"Filtering on {name!r} is not supported: filter on {attributes}.", "invalidFilter")


USER_FILTER_ATTRIBUTES = 'userName, externalId, id, displayName or emails[type eq "work"].value'
GROUP_FILTER_ATTRIBUTES = "displayName, externalId, id or members"


def user_condition(comparison: Comparison) -> Q:
    key = (comparison.attr, comparison.sub)
    if key == ("username", None):
        return Q(same_lower("user_name", _text(comparison)))
    if key == ("externalid", None):
        return Q(external_id=_text(comparison))
    if key == ("id", None):
        user_id = as_uuid(comparison.value)
        return Q(pk=user_id) if user_id else NOTHING
    if key == ("displayname", None):
        return Q(same_lower("display_name", _text(comparison)))
    if key == ("emails", "value"):
        return Q(same_lower("email", _text(comparison)))
    if key == ("emails", "type"):  # every user's one email is its work email
        return Q() if _text(comparison).lower() == EMAIL_TYPE else NOTHING
    raise _unsupported(comparison, USER_FILTER_ATTRIBUTES)


def group_condition(comparison: Comparison) -> Q:
    key = (comparison.attr, comparison.sub)
    if key == ("displayname", None):
        return Q(same_lower("display_name", _text(comparison)))
    if key == ("externalid", None):
        return Q(external_id=_text(comparison))
    if key == ("id", None):
        group_id = as_uuid(comparison.value)
        return Q(pk=group_id) if group_id else NOTHING
    if key in (("members", None), ("members", "value")):
        user_id = as_uuid(comparison.value)
        return Q(pk__in=GroupMembership.objects.filter(user_id=user_id).values("group_id")) if user_id else NOTHING
    raise _unsupported(comparison, GROUP_FILTER_ATTRIBUTES)


def users(identity_center: IdentityCenterInstance, comparisons: Iterable[Comparison] = ()) -> QuerySet[DirectoryUser]:
    condition = Q()
    for comparison in comparisons:
        condition &= user_condition(comparison)
    return DirectoryUser.objects.live().filter(condition, identity_center=identity_center).order_by("user_name", "pk")


def groups(identity_center: IdentityCenterInstance, comparisons: Iterable[Comparison] = ()) -> QuerySet[DirectoryGroup]:
    condition = Q()
    for comparison in comparisons:
        condition &= group_condition(comparison)
    return (
        DirectoryGroup.objects.live().filter(condition, identity_center=identity_center).order_by("display_name", "pk")
    )


def user_in(identity_center: IdentityCenterInstance, user_id: str) -> DirectoryUser:
    pk = as_uuid(user_id)
    user = DirectoryUser.objects.live().filter(identity_center=identity_center, pk=pk).first() if pk else None
    if user is None:
        raise ScimError(404, f"There is no user {user_id} in this directory.")
    user.identity_center = identity_center  # known already: the services' signals need it
    return user


def group_in(identity_center: IdentityCenterInstance, group_id: str) -> DirectoryGroup:
    pk = as_uuid(group_id)
    group = DirectoryGroup.objects.live().filter(identity_center=identity_center, pk=pk).first() if pk else None
    if group is None:
        raise ScimError(404, f"There is no group {group_id} in this directory.")
    group.identity_center = identity_center  # known already: the services' signals need it
    return group


def member_ids(group_ids: list) -> dict:
    """{group id: [user ids]} for the groups, in one query, ordered by user id."""
    members: dict = defaultdict(list)
    for group_id, user_id in (
        GroupMembership.objects.filter(group_id__in=group_ids)
        .order_by("group_id", "user_id")
        .values_list("group_id", "user_id")
    ):
        members[group_id].append(user_id)
    return members


def users_by_id(identity_center: IdentityCenterInstance, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, DirectoryUser]:
    """The live users of the directory among `ids`, in one query."""
    ids = list(ids)
    if not ids:
        return {}
    return {u.pk: u for u in DirectoryUser.objects.live().filter(identity_center=identity_center, pk__in=ids)}

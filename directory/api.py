"""API: directory users, groups and members (CONTRACTS.md), through the directory services."""

from datetime import datetime
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from ninja import Query, Schema
from ninja.pagination import paginate

from directory import selectors, services
from kiroconsole.api import GuardedRouter, LimitOffsetPagination, api_actor, requires
from kiroconsole.roles import Cap

router = GuardedRouter(tags=["directory"])


class UserOut(Schema):
    id: UUID
    identity_store_id: str
    user_name: str
    display_name: str
    given_name: str
    family_name: str
    email: str
    external_id: str
    active: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_identity_store_id(obj) -> str:
        return obj.identity_center.identity_store_id


class UserIn(Schema):
    identity_store_id: str | None = None
    user_name: str
    display_name: str
    given_name: str
    family_name: str
    email: str
    external_id: str = ""
    active: bool = True


class UserPatch(Schema):
    user_name: str | None = None
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    external_id: str | None = None
    active: bool | None = None


class UserFilters(Schema):
    identity_store_id: str | None = None
    q: str | None = None
    active: bool | None = None


class GroupOut(Schema):
    id: UUID
    identity_store_id: str
    display_name: str
    description: str
    external_id: str
    member_count: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_identity_store_id(obj) -> str:
        return obj.identity_center.identity_store_id


class GroupIn(Schema):
    identity_store_id: str | None = None
    display_name: str
    description: str = ""
    external_id: str = ""


class GroupPatch(Schema):
    display_name: str | None = None
    description: str | None = None
    external_id: str | None = None


class MemberIn(Schema):
    user_id: UUID


class MemberOut(Schema):
    user_id: UUID
    user_name: str
    display_name: str
    email: str
    active: bool

    @staticmethod
    def resolve_user_id(obj) -> UUID:
        return obj.pk


def directory_or_error(identity_store_id: str | None):
    instance = selectors.identity_center_by_store_id(identity_store_id)
    if instance is None:
        if identity_store_id:
            raise ValidationError({"identity_store_id": f"No Identity Center instance {identity_store_id!r}."})
        raise ValidationError({"identity_store_id": "Name the directory: there is more than one (or none)."})
    return instance


@router.get("/users", response=list[UserOut], summary="Directory users")
@requires(Cap.VIEW)
@paginate(LimitOffsetPagination)
def list_users(request, filters: Query[UserFilters]):
    qs = selectors.users()
    if filters.identity_store_id:
        qs = qs.filter(identity_center__identity_store_id=filters.identity_store_id)
    if filters.active is not None:
        qs = qs.filter(active=filters.active)
    return selectors.search_users(qs, filters.q or "")


@router.post("/users", response={201: UserOut}, summary="Create a directory user")
@requires(Cap.DIRECTORY_CHANGE)
def create_user(request, payload: UserIn):
    data = payload.dict()
    instance = directory_or_error(data.pop("identity_store_id"))
    return 201, services.directory_user_create(identity_center=instance, actor=api_actor(request), **data)


@router.get("/users/{user_id}", response=UserOut, summary="One directory user")
@requires(Cap.VIEW)
def get_user(request, user_id: UUID):
    return selectors.user_by_id(user_id)


@router.patch("/users/{user_id}", response=UserOut, summary="Change a user (active: false deactivates)")
@requires(Cap.DIRECTORY_CHANGE)
def update_user(request, user_id: UUID, payload: UserPatch):
    user = selectors.user_by_id(user_id)
    return services.directory_user_update(user=user, actor=api_actor(request), **payload.dict(exclude_unset=True))


@router.delete("/users/{user_id}", response={204: None}, summary="Delete a user (its subscriptions are canceled)")
@requires(Cap.DIRECTORY_CHANGE)
def delete_user(request, user_id: UUID):
    services.directory_user_delete(user=selectors.user_by_id(user_id), actor=api_actor(request))
    return HttpResponse(status=204)


@router.get("/groups", response=list[GroupOut], summary="Directory groups, with member counts")
@requires(Cap.VIEW)
@paginate(LimitOffsetPagination)
def list_groups(request, identity_store_id: str | None = None, q: str | None = None):
    qs = selectors.groups()
    if identity_store_id:
        qs = qs.filter(identity_center__identity_store_id=identity_store_id)
    if q:
        qs = qs.filter(display_name__icontains=q.strip())
    return qs


@router.post("/groups", response={201: GroupOut}, summary="Create a group")
@requires(Cap.DIRECTORY_CHANGE)
def create_group(request, payload: GroupIn):
    data = payload.dict()
    instance = directory_or_error(data.pop("identity_store_id"))
    group = services.directory_group_create(identity_center=instance, actor=api_actor(request), **data)
    return 201, selectors.group_by_id(group.pk)


@router.get("/groups/{group_id}", response=GroupOut, summary="One group")
@requires(Cap.VIEW)
def get_group(request, group_id: UUID):
    return selectors.group_by_id(group_id)


@router.patch("/groups/{group_id}", response=GroupOut, summary="Rename a group or change its description")
@requires(Cap.DIRECTORY_CHANGE)
def update_group(request, group_id: UUID, payload: GroupPatch):
    group = selectors.group_by_id(group_id)
    services.directory_group_update(group=group, actor=api_actor(request), **payload.dict(exclude_unset=True))
    return selectors.group_by_id(group_id)


@router.delete("/groups/{group_id}", response={204: None}, summary="Delete a group")
@requires(Cap.DIRECTORY_CHANGE)
def delete_group(request, group_id: UUID):
    services.directory_group_delete(group=selectors.group_by_id(group_id), actor=api_actor(request))
    return HttpResponse(status=204)


@router.get("/groups/{group_id}/members", response=list[MemberOut], summary="A group's members")
@requires(Cap.VIEW)
@paginate(LimitOffsetPagination)
def list_members(request, group_id: UUID):
    return selectors.group_members(selectors.group_by_id(group_id))


@router.post("/groups/{group_id}/members", response={201: MemberOut, 200: MemberOut}, summary="Add a member")
@requires(Cap.DIRECTORY_CHANGE)
def add_member(request, group_id: UUID, payload: MemberIn):
    group = selectors.group_by_id(group_id)
    user = selectors.users().filter(pk=payload.user_id, identity_center=group.identity_center).first()
    if user is None:
        raise ValidationError({"user_id": "No such user in this group's directory."})
    added = services.group_members_add(group=group, users=[user], actor=api_actor(request))
    return (201 if added else 200), user


@router.delete("/groups/{group_id}/members/{user_id}", response={204: None}, summary="Remove a member")
@requires(Cap.DIRECTORY_CHANGE)
def remove_member(request, group_id: UUID, user_id: UUID):
    group = selectors.group_by_id(group_id)
    user = selectors.user_by_id(user_id)
    if not selectors.membership_exists(group, user):
        raise Http404("This user is not a member of the group.")
    services.group_members_remove(group=group, users=[user], actor=api_actor(request))
    return HttpResponse(status=204)

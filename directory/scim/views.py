"""The SCIM endpoints under `/scim/v2/` (CONTRACTS.md): plain Django views, a SCIM token in
`Authorization: Bearer`, every write through the directory services with the token as the audit actor.

Every answer is JSON in `application/scim+json`; every error a SCIM error body (401 without a valid token, 404 for
ids outside the token's directory, 405 for methods an endpoint lacks, 409 `uniqueness`, 400 with a `scimType`,
501 for what IAM Identity Center does not offer: `/Bulk`, `/Me`, `/.search`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core import signals as core_signals
from django.core.exceptions import RequestDataTooBig, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from directory import services
from directory.models import ScimToken
from directory.scim import schema, selectors
from directory.scim.filters import parse_filter
from directory.scim.patch import GroupPatch, MemberChanges, UserPatch, parse_operations
from directory.scim.protocol import (
    ACCEPTED_CONTENT_TYPES,
    GROUP_SCHEMA,
    LIST_RESPONSE,
    MAX_MEMBER_CHANGES,
    MAX_RESULTS,
    USER_SCHEMA,
    ScimError,
    bad_request,
    error_response,
    scim_response,
)
from directory.scim.serializers import (
    GROUP_ATTRIBUTE_OF,
    USER_ATTRIBUTE_OF,
    AttributeSelection,
    group_fields_from_body,
    group_location,
    group_resource,
    user_fields_from_body,
    user_location,
    user_resource,
)
from kiroconsole.audit import Actor
from kiroconsole.errors import ConflictError

logger = logging.getLogger("django.request")

ATTRIBUTE_OF = USER_ATTRIBUTE_OF | GROUP_ATTRIBUTE_OF
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="SCIM"'}


def _service_error(exc: ValidationError) -> HttpResponse:
    """A service's ValidationError (400 invalidValue) or ConflictError (409 uniqueness), with SCIM's names."""
    if hasattr(exc, "error_dict"):
        detail = " ".join(
            f"{ATTRIBUTE_OF.get(field, field)}: {message}"
            for field, messages in exc.message_dict.items()
            for message in messages
        )
    else:
        detail = " ".join(exc.messages)
    if isinstance(exc, ConflictError):
        return error_response(409, detail, "uniqueness")
    return error_response(400, detail, "invalidValue")


def scim_view(*methods: str) -> Callable:
    """A SCIM endpoint: no CSRF or log-in (the bearer token authenticates), the methods it answers (405 with a
    SCIM error otherwise), and every failure as a SCIM error body. The view gets the request's token."""

    def decorator(view: Callable) -> Callable:
        @csrf_exempt
        @login_not_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                token = authenticate(request)
                if request.method not in methods:
                    raise ScimError(405, f"{request.method} is not supported here: use {', '.join(methods)}.")
                return view(request, token, *args, **kwargs)
            except ScimError as exc:
                headers = {}
                if exc.status == 401:
                    headers = BEARER_CHALLENGE
                elif exc.status == 405:
                    headers = {"Allow": ", ".join(methods)}
                return error_response(exc.status, exc.detail, exc.scim_type, headers=headers)
            except ValidationError as exc:
                return _service_error(exc)
            except RequestDataTooBig:
                return error_response(413, "The request body is too large.")
            except Exception:
                # Django's own handling would answer an HTML page: tell its listeners (the test client re-raises),
                # log as Django does, and answer in SCIM.
                core_signals.got_request_exception.send(sender=None, request=request)
                logger.exception("Internal Server Error: %s", request.path, extra={"request": request})
                return error_response(500, "Internal server error.")

        return wrapped

    return decorator


def authenticate(request: HttpRequest) -> ScimToken:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ScimError(401, "Authenticate with a SCIM token: Authorization: Bearer <token>.")
    token = services.scim_token_authenticate(raw.strip())
    if token is None:
        raise ScimError(401, "The SCIM token is not valid: it is unknown, expired or revoked.")
    return token


def base_url(request: HttpRequest) -> str:
    """The absolute URL of /scim/v2/, with a trailing slash."""
    return request.build_absolute_uri(reverse("scim-root"))


def actor(request: HttpRequest, token: ScimToken) -> Actor:
    return Actor.for_scim_token(request, token)


def read_body(request: HttpRequest) -> Any:
    content_type = request.content_type or ""
    if content_type.lower() not in ACCEPTED_CONTENT_TYPES:
        raise ScimError(
            415, f"Send the body as application/scim+json (or application/json), not {content_type or 'untyped'}."
        )
    try:
        return json.loads(request.body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        raise bad_request(f"The body is not valid JSON: {exc}.", "invalidSyntax") from exc


def _int_parameter(request: HttpRequest, name: str, default: int) -> int:
    value = request.GET.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"{name} must be an integer, not {value!r}.") from None


def page_parameters(request: HttpRequest) -> tuple[int, int]:
    """(startIndex, count): 1-based; a startIndex below 1 means 1, a negative count 0, and at most 100 a page."""
    start = max(1, _int_parameter(request, "startIndex", 1))
    count = min(max(0, _int_parameter(request, "count", MAX_RESULTS)), MAX_RESULTS)
    return start, count


def selection(request: HttpRequest, urn: str) -> AttributeSelection:
    return AttributeSelection(urn, request.GET.get("attributes"), request.GET.get("excludedAttributes"))


def list_response(resources: list[dict], total: int, start: int) -> HttpResponse:
    return scim_response(
        {
            "schemas": [LIST_RESPONSE],
            "totalResults": total,
            "itemsPerPage": len(resources),
            "startIndex": start,
            "Resources": resources,
        }
    )


# --- Discovery -----------------------------------------------------------------------------------------------


@scim_view("GET")
def service_provider_config(request, token):
    return scim_response(schema.service_provider_config(base_url(request)))


@scim_view("GET")
def schemas(request, token):
    documents = [schema.schema_document(urn, base_url(request)) for urn in schema.SCHEMAS]
    return list_response(documents, len(documents), 1)


@scim_view("GET")
def schema_detail(request, token, urn: str):
    if urn not in schema.SCHEMAS:
        raise ScimError(404, f"There is no schema {urn!r}: see /Schemas.")
    return scim_response(schema.schema_document(urn, base_url(request)))


@scim_view("GET")
def resource_types(request, token):
    documents = [schema.resource_type_document(name, base_url(request)) for name in schema.RESOURCE_TYPES]
    return list_response(documents, len(documents), 1)


@scim_view("GET")
def resource_type_detail(request, token, name: str):
    if name not in schema.RESOURCE_TYPES:
        raise ScimError(404, f"There is no resource type {name!r}: see /ResourceTypes.")
    return scim_response(schema.resource_type_document(name, base_url(request)))


@scim_view("GET", "POST", "PUT", "PATCH", "DELETE")
def not_found(request, token):
    raise ScimError(404, f"{request.path} is not a SCIM endpoint of this console.")


@scim_view("GET", "POST", "PUT", "PATCH", "DELETE")
def not_implemented(request, token):
    raise ScimError(501, "Not implemented: like IAM Identity Center, this console has no /Bulk, /Me or /.search.")


# --- Users ---------------------------------------------------------------------------------------------------


@scim_view("GET", "POST")
def users(request, token):
    if request.method == "POST":
        fields = user_fields_from_body(read_body(request))
        user = services.directory_user_create(
            identity_center=token.identity_center, actor=actor(request, token), **fields
        )
        base = base_url(request)
        return scim_response(
            selection(request, USER_SCHEMA).apply(user_resource(user, base)),
            status=201,
            headers={"Location": user_location(base, user.pk)},
        )
    chosen = selection(request, USER_SCHEMA)
    text = request.GET.get("filter", "").strip()
    comparisons = parse_filter(text, USER_SCHEMA) if text else []
    start, count = page_parameters(request)
    queryset = selectors.users(token.identity_center, comparisons)
    total = queryset.count()
    page = list(queryset[start - 1 : start - 1 + count]) if count and total >= start else []
    base = base_url(request)
    return list_response([chosen.apply(user_resource(user, base)) for user in page], total, start)


@scim_view("GET", "PUT", "PATCH", "DELETE")
def user_detail(request, token, user_id: str):
    user = selectors.user_in(token.identity_center, user_id)
    if request.method == "DELETE":
        services.directory_user_delete(user=user, actor=actor(request, token))
        return HttpResponse(status=204)
    if request.method == "PUT":
        fields = user_fields_from_body(read_body(request))
        user = services.directory_user_update(user=user, actor=actor(request, token), **fields)
    elif request.method == "PATCH":
        changes = UserPatch(user).apply(parse_operations(read_body(request), USER_SCHEMA)).changes()
        if changes:
            user = services.directory_user_update(user=user, actor=actor(request, token), **changes)
    return scim_response(selection(request, USER_SCHEMA).apply(user_resource(user, base_url(request))))


# --- Groups --------------------------------------------------------------------------------------------------


def _too_many(count: int) -> ScimError:
    return bad_request(
        f"A request adds or removes at most {MAX_MEMBER_CHANGES} group members (IAM Identity Center's limit); "
        f"this one has {count}. Split it."
    )


@scim_view("GET", "POST")
def groups(request, token):
    directory = token.identity_center
    if request.method == "POST":
        fields, member_values = group_fields_from_body(read_body(request))
        if len(member_values) > MAX_MEMBER_CHANGES:
            raise _too_many(len(member_values))
        patch_actor = actor(request, token)
        with transaction.atomic():
            group = services.directory_group_create(identity_center=directory, actor=patch_actor, **fields)
            members = _resolve_new_members(directory, member_values)
            if members:
                services.group_members_add(group=group, users=members, actor=patch_actor)
        base = base_url(request)
        return scim_response(
            selection(request, GROUP_SCHEMA).apply(group_resource(group, base, sorted(u.pk for u in members))),
            status=201,
            headers={"Location": group_location(base, group.pk)},
        )
    chosen = selection(request, GROUP_SCHEMA)
    text = request.GET.get("filter", "").strip()
    comparisons = parse_filter(text, GROUP_SCHEMA) if text else []
    start, count = page_parameters(request)
    queryset = selectors.groups(directory, comparisons)
    total = queryset.count()
    page = list(queryset[start - 1 : start - 1 + count]) if count and total >= start else []
    member_map = selectors.member_ids([g.pk for g in page]) if page and chosen.wants("members") else None
    base = base_url(request)
    return list_response(
        [
            chosen.apply(group_resource(g, base, member_map.get(g.pk, []) if member_map is not None else None))
            for g in page
        ],
        total,
        start,
    )


def _resolve_new_members(directory, values: list[str]) -> list:
    """The users named as new members; an id that is no live user of the directory is a 400."""
    changes = MemberChanges()
    changes.add(values)
    ids = list(changes.added)
    found = selectors.users_by_id(directory, ids)
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise bad_request(f"There is no user {', '.join(missing[:5])} in this directory.")
    return [found[i] for i in ids]


@scim_view("GET", "PUT", "PATCH", "DELETE")
def group_detail(request, token, group_id: str):
    group = selectors.group_in(token.identity_center, group_id)
    if request.method == "DELETE":
        services.directory_group_delete(group=group, actor=actor(request, token))
        return HttpResponse(status=204)
    if request.method == "PATCH":
        patch = GroupPatch(group).apply(parse_operations(read_body(request), GROUP_SCHEMA))
        _write_group(request, token, group, patch.changes(), patch.members)
        # As IAM Identity Center: 204, so that a PATCH on a group of thousands does not send them all back.
        return HttpResponse(status=204)
    if request.method == "PUT":  # the whole group: members left out are removed
        fields, member_values = group_fields_from_body(read_body(request))
        members = MemberChanges()
        members.replace(member_values)
        changes = {field: value for field, value in fields.items() if getattr(group, field) != value}
        _write_group(request, token, group, changes, members)
    chosen = selection(request, GROUP_SCHEMA)
    members_now = selectors.member_ids([group.pk]).get(group.pk, []) if chosen.wants("members") else None
    return scim_response(chosen.apply(group_resource(group, base_url(request), members_now)))


def _write_group(request: HttpRequest, token: ScimToken, group, changes: dict, members: MemberChanges) -> None:
    """Change a group's fields and members through the services, all or nothing, within the member limit."""
    if members.named > MAX_MEMBER_CHANGES:
        raise _too_many(members.named)
    write_actor = actor(request, token)
    with transaction.atomic():
        current = set(selectors.member_ids([group.pk]).get(group.pk, [])) if members.cleared else None
        added, removed = members.net(current)
        if len(added) + len(removed) > MAX_MEMBER_CHANGES:
            raise _too_many(len(added) + len(removed))
        users = selectors.users_by_id(token.identity_center, [*added, *removed])
        missing = [str(user_id) for user_id in added if user_id not in users]
        if missing:
            raise bad_request(f"There is no user {', '.join(missing[:5])} in this directory.")
        # Every member this write changes, locked first and in id order, as one membership change locks its users
        # before its receivers lock the profiles that follow the group: else the add's profile locks would come
        # before the removed users' rows, the reverse of a rename's order (the user, then the profiles).
        services.lock_users([*added, *(user_id for user_id in removed if user_id in users)], exclusive=True)
        if changes:
            services.directory_group_update(group=group, actor=write_actor, **changes)
        if added:
            services.group_members_add(group=group, users=[users[u] for u in added], actor=write_actor)
        if removed_users := [users[u] for u in removed if u in users]:
            services.group_members_remove(group=group, users=removed_users, actor=write_actor)

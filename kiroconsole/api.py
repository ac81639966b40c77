"""The JSON API base: bearer-token authentication, role checks per operation, JSON errors.

The API itself (`kiroconsole.api_urls.api`) is assembled in kiroconsole/api_urls.py, the one composition file
that imports every app's router. Each app defines a `router` in its api.py and guards every operation with
`@requires(Cap.X)` from this module. (API modules don't use `from __future__ import annotations`: ninja reads
the real annotations to parse requests.)
"""

from collections.abc import Callable
from datetime import datetime

from django.core.exceptions import ImproperlyConfigured
from ninja import Field, Router, Schema, pagination
from ninja.errors import HttpError
from ninja.pagination import paginate
from ninja.security import HttpBearer

from kiroconsole import selectors
from kiroconsole.audit import Actor
from kiroconsole.roles import ROLE_LABELS, Cap, denial_message, has_cap, user_role
from kiroconsole.services import api_token_authenticate

MAX_PAGE_INTEGER = 2**31 - 1


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """ninja's `limit`/`offset` pagination with bounded integers: an offset or limit beyond what the database's
    integers hold (limit=45365176518947356672, found by schemathesis) was a 500; now it is a 422."""

    class Input(pagination.LimitOffsetPagination.Input):
        limit: int = Field(
            pagination.LimitOffsetPagination.Input.model_fields["limit"].default, ge=1, le=MAX_PAGE_INTEGER
        )
        offset: int = Field(0, ge=0, le=MAX_PAGE_INTEGER)


class BearerAuth(HttpBearer):
    """`Authorization: Bearer <token>`: a valid, unrevoked, unexpired API token of an active user, whose role
    holds the operation's capability. Runs before the request body is parsed, so a role without the right gets
    403 whatever it sends, and a missing or bad token 401."""

    def __init__(self, cap: Cap):
        super().__init__()
        self.cap = cap

    def authenticate(self, request, token: str):
        api_token = api_token_authenticate(token)
        if api_token is None:
            return None
        if not has_cap(api_token.user, self.cap):
            raise HttpError(403, denial_message(api_token.user, self.cap))
        request.user = api_token.user
        request.api_token = api_token
        return api_token


def requires(cap: Cap) -> Callable:
    """Guard an API operation: the token's user must hold `cap` (403 otherwise). Every operation needs one:
    `GuardedRouter` refuses to register an operation without it."""

    def decorator(func: Callable) -> Callable:
        func.required_capability = cap  # type: ignore[attr-defined]
        return func

    return decorator


class GuardedRouter(Router):
    """A ninja Router whose operations authenticate with `BearerAuth(<the operation's capability>)`."""

    def add_api_operation(self, path, methods, view_func, **kwargs):
        cap = getattr(view_func, "required_capability", None)
        if cap is None:
            raise ImproperlyConfigured(f"API operation {methods} {path} has no @requires(Cap.X) guard.")
        kwargs["auth"] = [BearerAuth(cap)]
        return super().add_api_operation(path, methods, view_func, **kwargs)


def api_actor(request) -> Actor:
    """The audit actor of an API call: the token and its user."""
    return Actor.for_api_token(request, request.auth)


router = GuardedRouter(tags=["console"])


class MeOut(Schema):
    username: str
    role: str | None
    role_label: str | None
    token_name: str
    token_prefix: str
    token_expires_at: datetime | None


@router.get("/me", response=MeOut, summary="Who am I: the token's console user and role")
@requires(Cap.AUTHENTICATED)
def me(request):
    token = request.auth
    role = user_role(token.user)
    return {
        "username": token.user.username,
        "role": role.value if role else None,
        "role_label": ROLE_LABELS.get(role) if role else None,
        "token_name": token.name,
        "token_prefix": token.prefix,
        "token_expires_at": token.expires_at,
    }


class AuditEventOut(Schema):
    id: int
    occurred_at: datetime
    source: str
    actor_type: str
    actor: str = Field(alias="actor_label")
    action: str
    target_type: str
    target_id: str
    target_label: str
    before: dict | list | None
    after: dict | list | None
    remote_addr: str | None


@router.get("/audit-events", response=list[AuditEventOut], summary="The audit trail, newest first")
@requires(Cap.AUDIT_VIEW)
@paginate(LimitOffsetPagination)
def audit_events(
    request,
    action: str | None = None,
    source: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
):
    qs = selectors.audit_events().defer(None)
    if action:
        qs = qs.filter(action__startswith=action)
    if source:
        qs = qs.filter(source=source)
    if target_type:
        qs = qs.filter(target_type=target_type)
    if target_id:
        qs = qs.filter(target_id=target_id)
    if since:
        qs = qs.filter(occurred_at__gte=since)
    if until:
        qs = qs.filter(occurred_at__lt=until)
    return qs

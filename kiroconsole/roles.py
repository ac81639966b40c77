"""Roles and what each may do (CONTRACTS.md "Roles"): the one place access is decided.

A role is a Django group created by a data migration (0002_roles). A view or API endpoint names the
*capability* it needs; `GRANTS` says which roles hold it. Pages use `@requires(Cap.X)`; API operations use
`kiroconsole.api.requires(Cap.X)`. Both attach `required_capability` to the view, which the access test
walks for every URL pattern.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    SUPPORT = "support"
    VIEWER = "viewer"
    METERING = "metering"


ROLE_LABELS = {
    Role.ADMINISTRATOR: "Administrator",
    Role.SUPPORT: "Support",
    Role.VIEWER: "Viewer",
    Role.METERING: "Metering (API only)",
}

# When a user is (wrongly) in several role groups, the most powerful one counts.
ROLE_PRIORITY = [Role.ADMINISTRATOR, Role.SUPPORT, Role.VIEWER, Role.METERING]


class Cap(StrEnum):
    """Capabilities. Name the one a view needs; never test a role by name in a view."""

    VIEW = "view"  # read pages, dashboards, reports and exports
    AUDIT_VIEW = "audit_view"  # the audit log
    DIRECTORY_CHANGE = "directory_change"  # users, groups, memberships
    SUBSCRIPTIONS_CHANGE = "subscriptions_change"  # subscribe, change plan, unsubscribe
    ORGANIZATION_CHANGE = "organization_change"  # accounts, Identity Center instances, profiles
    SETTINGS_CHANGE = "settings_change"  # profile settings, caps
    CATALOGUE_CHANGE = "catalogue_change"  # tiers and models
    CONSOLE_USERS_MANAGE = "console_users_manage"  # console users and their roles
    TOKENS_MANAGE = "tokens_manage"  # API and SCIM tokens
    ADMIN_SITE = "admin_site"  # the Django admin
    METERING_POST = "metering_post"  # post usage events
    ENTITLEMENTS_READ = "entitlements_read"  # read entitlements
    AUTHENTICATED = "authenticated"  # any console user with a role (e.g. GET /api/v1/me)


GRANTS: dict[Role, frozenset[Cap]] = {
    Role.ADMINISTRATOR: frozenset(Cap),
    Role.SUPPORT: frozenset(
        {
            Cap.VIEW,
            Cap.AUDIT_VIEW,
            Cap.DIRECTORY_CHANGE,
            Cap.SUBSCRIPTIONS_CHANGE,
            Cap.ADMIN_SITE,
            Cap.ENTITLEMENTS_READ,
            Cap.AUTHENTICATED,
        }
    ),
    Role.VIEWER: frozenset({Cap.VIEW, Cap.ENTITLEMENTS_READ, Cap.AUTHENTICATED}),
    Role.METERING: frozenset({Cap.METERING_POST, Cap.ENTITLEMENTS_READ, Cap.AUTHENTICATED}),
}

# What each role may do in the Django admin, as Django model permissions (synced after every migrate, so
# models added by later migrations are covered). Administrators hold every permission. Support views everything
# and changes only the directory and subscriptions (not profiles, settings, catalogues, console users or
# tokens); viewer and metering have no admin access.
SUPPORT_CHANGE_APPS = {"directory"}
SUPPORT_CHANGE_MODELS = {("subscriptions", "subscription"), ("subscriptions", "groupassignment")}
SUPPORT_READ_ONLY_MODELS = {("directory", "scimtoken")}  # tokens: administrators only (Cap.TOKENS_MANAGE)


def user_role(user: Any) -> Role | None:
    """The role of a console user, or None (anonymous, inactive or without a role)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if hasattr(user, "_kiro_role"):
        cached: Role | None = user._kiro_role
        return cached
    role = Role.ADMINISTRATOR if user.is_superuser else role_of(user, {g.name for g in user.groups.all()})
    user._kiro_role = role
    return role


def role_of(user: Any, group_names: set[str]) -> Role | None:
    """The role of an active console user in these groups: superusers are administrators; the most powerful
    role group counts."""
    if user.is_superuser:
        return Role.ADMINISTRATOR
    return next((r for r in ROLE_PRIORITY if r.value in group_names), None)


def has_cap(user: Any, cap: Cap) -> bool:
    role = user_role(user)
    return role is not None and cap in GRANTS[role]


def roles_with(cap: Cap) -> list[Role]:
    return [role for role in ROLE_PRIORITY if cap in GRANTS[role]]


def denial_message(user: Any, cap: Cap) -> str:
    role = user_role(user)
    allowed = ", ".join(ROLE_LABELS[r] for r in roles_with(cap))
    if role is None:
        return f"Your console account has no role. Ask an administrator to give you one (needed: {allowed})."
    if role == Role.METERING:
        return "The metering role is for the API only: it has no pages in the console."
    return f"Your role ({ROLE_LABELS[role]}) may not do this. It needs one of: {allowed}."


def requires(cap: Cap) -> Callable:
    """Guard a page view: the user's role must hold `cap`, otherwise the forbidden page (403).

    Anonymous users never reach the view: LoginRequiredMiddleware sends them to log in first.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not has_cap(request.user, cap):
                raise PermissionDenied(denial_message(request.user, cap))
            return view(request, *args, **kwargs)

        wrapped.required_capability = cap  # type: ignore[attr-defined]
        return wrapped

    return decorator


def sync_role_permissions(**kwargs: Any) -> None:
    """Give each role group its Django model permissions (post_migrate handler, idempotent)."""
    from django.contrib.auth.models import Group, Permission

    groups = {g.name: g for g in Group.objects.filter(name__in=[r.value for r in Role])}
    if not groups:
        return
    perms = list(Permission.objects.select_related("content_type"))
    if Role.ADMINISTRATOR in groups:
        groups[Role.ADMINISTRATOR].permissions.set(perms)
    if Role.SUPPORT in groups:
        support = []
        for perm in perms:
            app, model = perm.content_type.app_label, perm.content_type.model
            action = perm.codename.split("_", 1)[0]
            if action == "view" or (
                (app in SUPPORT_CHANGE_APPS or (app, model) in SUPPORT_CHANGE_MODELS)
                and (app, model) not in SUPPORT_READ_ONLY_MODELS
            ):
                support.append(perm)
        groups[Role.SUPPORT].permissions.set(support)
    for name in (Role.VIEWER, Role.METERING):
        if name in groups:
            groups[name].permissions.clear()

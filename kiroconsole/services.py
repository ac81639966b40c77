"""Core write services: console users, roles and API tokens. Each one validates, writes inside a
transaction and records its audit event there."""

from __future__ import annotations

import copy
import hashlib
import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from kiroconsole.audit import Actor, audit_record
from kiroconsole.bulk import hot_cursor, instance_of
from kiroconsole.models import ApiToken, User
from kiroconsole.roles import Role, role_of, user_role

API_TOKEN_PREFIX = "kiro_"  # noqa: S105 (a public prefix, not a secret)
TOKEN_BYTES = 32


def hash_token(raw: str) -> str:
    """SHA-256 of a token. Tokens carry 256 random bits, so a fast unsalted hash is enough to store them."""
    return hashlib.sha256(raw.encode()).hexdigest()


def new_secret(prefix: str) -> tuple[str, str, str]:
    """(raw token, display prefix, hash) for a new bearer token."""
    raw = prefix + secrets.token_urlsafe(TOKEN_BYTES)
    return raw, raw[: len(prefix) + 6], hash_token(raw)


def _user_snapshot(user: User) -> dict:
    user.__dict__.pop("_kiro_role", None)
    return {
        "username": user.username,
        "email": user.email,
        "is_active": user.is_active,
        "is_superuser": user.is_superuser,
        "role": user_role(user),
    }


def console_user_create(*, username: str, password: str | None, role: Role, email: str = "", actor: Actor) -> User:
    """Create a console user with one role. A None password creates a user that cannot log in by password
    (a service account for the API)."""
    username = username.strip()
    if not username:
        raise ValidationError({"username": "Enter a user name."})
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError({"username": f"A console user named {username!r} already exists."})
        user = User(username=username, email=email, is_staff=role in (Role.ADMINISTRATOR, Role.SUPPORT))
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        user.groups.set([Group.objects.get(name=role.value)])
        audit_record(actor=actor, action="console_user.create", target=user, after=_user_snapshot(user))
    return user


def console_user_set_role(*, user: User, role: Role, actor: Actor) -> User:
    with transaction.atomic():
        before = _user_snapshot(user)
        user.groups.remove(*Group.objects.filter(name__in=[r.value for r in Role]))
        user.groups.add(Group.objects.get(name=role.value))
        user.is_staff = role in (Role.ADMINISTRATOR, Role.SUPPORT)
        user.save(update_fields=["is_staff"])
        audit_record(
            actor=actor,
            action="console_user.set_role",
            target=user,
            before=before,
            after=_user_snapshot(user),
        )
    return user


def console_user_set_password(*, user: User, password: str, actor: Actor) -> User:
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(actor=actor, action="console_user.set_password", target=user)
    return user


def api_token_create(*, user: User, name: str, expires_at: datetime | None, actor: Actor) -> tuple[ApiToken, str]:
    """Create an API token for `user`. Returns the token and its raw value, which is never stored."""
    name = name.strip()
    errors = {}
    if not name:
        errors["name"] = "Give the token a name that says what it is for."
    elif len(name) > 100:
        errors["name"] = "Use at most 100 characters."
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = "The expiry must be in the future."
    if not user.is_active:
        errors["user"] = f"{user.username} is deactivated and cannot hold tokens."
    if errors:
        raise ValidationError(errors)
    raw, prefix, digest = new_secret(API_TOKEN_PREFIX)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=prefix,
            token_hash=digest,
            expires_at=expires_at,
            created_by=actor.user if getattr(actor.user, "pk", None) else None,
        )
        audit_record(
            actor=actor,
            action="api_token.create",
            target=token,
            after={"user": user.username, "name": name, "prefix": prefix, "expires_at": expires_at},
        )
    return token, raw


def api_token_revoke(*, token: ApiToken, actor: Actor) -> ApiToken:
    with transaction.atomic():
        # Conditional update: two revocations racing record one change.
        changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        forget_verified_tokens_on_commit()  # this process at once, the others within a second
        token.refresh_from_db()
        if changed:
            audit_record(
                actor=actor,
                action="api_token.revoke",
                target=token,
                before={"revoked_at": None},
                after={"revoked_at": token.revoked_at},
            )
    return token


LAST_USED_GRANULARITY = timedelta(minutes=1)


VERIFIED_KEPT = 10_000
_VERIFIED: dict[str, tuple[float, ApiToken]] = {}  # token hash -> (time.monotonic() of the check, the token)


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The valid token for a raw bearer value, or None. Marks it used (at most one write a minute).

    Every API call runs this, a metering event above all: one plain SQL statement reads the token, its user and
    the user's groups (the role), for a fraction of what the equivalent ORM queries cost to build. A token found
    valid is taken as valid for `API_TOKEN_CHECK_SECONDS` (1 s; 0: every call reads it) by this process: a
    revocation, a deactivation or a change of role holds at once in the process that made it and within that
    second everywhere else; an expiry holds to the instant."""
    if not raw or not raw.startswith(API_TOKEN_PREFIX) or len(raw) > 200:
        return None
    token_hash = hash_token(raw)
    keep = getattr(settings, "API_TOKEN_CHECK_SECONDS", 1.0)
    now = timezone.now()
    if keep > 0:
        verified = _VERIFIED.get(token_hash)
        if verified is not None and time.monotonic() - verified[0] < keep:
            token = verified[1]
            if token.expires_at is None or token.expires_at > now:
                return copy.copy(token)
    rows = _token_rows(token_hash, now)
    if not rows:
        _VERIFIED.pop(token_hash, None)
        return None
    token = instance_of(ApiToken, TOKEN_FIELDS, rows[0][: len(TOKEN_FIELDS)])
    user = instance_of(User, USER_FIELDS, rows[0][len(TOKEN_FIELDS) : -1])
    user._kiro_role = role_of(user, {row[-1] for row in rows if row[-1]})
    token.user = user
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    if keep > 0:
        if len(_VERIFIED) >= VERIFIED_KEPT:
            _VERIFIED.clear()
        _VERIFIED[token_hash] = (time.monotonic(), token)
        return copy.copy(token)
    return token


def forget_verified_tokens(**_: object) -> None:
    """This process checks every token again at its next use (a token, a console user or a role changed)."""
    _VERIFIED.clear()


def forget_verified_tokens_on_commit(**_: object) -> None:
    """`forget_verified_tokens` now and once the change commits (a check between the two would keep the old)."""
    _VERIFIED.clear()
    transaction.on_commit(forget_verified_tokens)


TOKEN_FIELDS = ("id", "user_id", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
USER_FIELDS = ("id", "username", "is_superuser", "is_active", "email")


def _token_rows(token_hash: str, now: datetime) -> list[tuple]:
    quote = connection.ops.quote_name
    token, user = ApiToken._meta, User._meta
    through = User.groups.through._meta
    columns = ", ".join(
        [f"t.{quote(token.get_field(name).column)}" for name in TOKEN_FIELDS]  # type: ignore[union-attr,arg-type]
        + [f"u.{quote(user.get_field(name).column)}" for name in USER_FIELDS]  # type: ignore[union-attr,arg-type]
        + ["g.name"]
    )
    sql = (
        f"SELECT {columns} FROM {quote(token.db_table)} t "  # noqa: S608  # nosec B608
        f"JOIN {quote(user.db_table)} u ON u.id = t.user_id "
        f"LEFT JOIN {quote(through.db_table)} ug ON ug.user_id = u.id "
        f"LEFT JOIN {quote(Group._meta.db_table)} g ON g.id = ug.group_id "
        "WHERE t.token_hash = %s AND u.is_active AND t.revoked_at IS NULL "
        "AND (t.expires_at IS NULL OR t.expires_at > %s)"
    )
    with hot_cursor() as cursor:
        cursor.execute(sql, [token_hash, connection.ops.adapt_datetimefield_value(now)])
        return cursor.fetchall()

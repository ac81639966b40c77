"""Write services for the directory. Pages, the API, SCIM, imports and the admin all call these.

Membership changes are set-based (one INSERT or DELETE for any number of members) and announced once per
operation with `directory.signals.memberships_changed`, inside the transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import IdentityCenterInstance
from directory import signals
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership, ScimToken, same_lower
from kiroconsole.audit import Actor, audit_record, audit_record_many, snapshot
from kiroconsole.errors import ConflictError
from kiroconsole.services import hash_token, new_secret

USER_FIELDS = ["user_name", "display_name", "given_name", "family_name", "email", "external_id", "active"]
GROUP_FIELDS = ["display_name", "description", "external_id"]
MAX_LENGTHS = {
    "user_name": 128,
    "display_name": 256,
    "given_name": 128,
    "family_name": 128,
    "email": 254,
    "external_id": 256,
    "description": 1024,
}
GROUP_MAX_LENGTHS = MAX_LENGTHS | {"display_name": 128}
REQUIRED_USER = {"user_name", "display_name", "given_name", "family_name", "email"}
LABELS = {
    "user_name": "a user name",
    "display_name": "a display name",
    "given_name": "a given name",
    "family_name": "a family name",
    "email": "an email",
}
NO_SPACE = re.compile(r"^\S+$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def user_field_error(field: str, value: Any) -> str | None:
    """The message for one bad user value, or None. Shared by services, imports, SCIM and the API."""
    if field == "active":
        return None if isinstance(value, bool) else "Use true or false."
    if not isinstance(value, str):
        return "Use text."
    if field in REQUIRED_USER and not value.strip():
        return f"Enter {LABELS[field]}."
    if len(value) > MAX_LENGTHS[field]:
        return f"Use at most {MAX_LENGTHS[field]} characters (it has {len(value)})."
    if CONTROL.search(value):
        return "Remove the control characters."
    if field == "user_name" and not NO_SPACE.match(value):
        return "A user name has no spaces."
    if field == "email":
        try:
            validate_email(value)
        except ValidationError:
            return f"{value!r} is not a valid email address."
    return None


def group_field_error(field: str, value: Any) -> str | None:
    if not isinstance(value, str):
        return "Use text."
    if field == "display_name" and not value.strip():
        return "Enter a display name."
    if len(value) > GROUP_MAX_LENGTHS[field]:
        return f"Use at most {GROUP_MAX_LENGTHS[field]} characters (it has {len(value)})."
    # A description may have line breaks and tabs; a display name no control character at all.
    checked = value.replace("\n", "").replace("\r", "").replace("\t", "") if field == "description" else value
    if CONTROL.search(checked):
        return "Remove the control characters."
    return None


def _clean(data: dict[str, Any], fields: list[str], error_fn) -> dict[str, Any]:
    errors = {}
    clean: dict[str, Any] = {}
    for field, value in data.items():
        if field not in fields:
            errors[field] = "There is no such attribute."
            continue
        if isinstance(value, str):
            value = value.strip()
        if (msg := error_fn(field, value)) is not None:
            errors[field] = msg
        clean[field] = value
    if errors:
        raise ValidationError(errors)
    return clean


def _user_clashes(identity_center, data: dict[str, Any], exclude_pk=None) -> None:
    live = DirectoryUser.objects.live().filter(identity_center=identity_center).exclude(pk=exclude_pk)
    errors = {}
    if "user_name" in data and live.filter(same_lower("user_name", data["user_name"])).exists():
        errors["user_name"] = f"The user name {data['user_name']!r} is already taken in this directory."
    if "email" in data and live.filter(same_lower("email", data["email"])).exists():
        errors["email"] = f"The email {data['email']!r} is already used by another user in this directory."
    if errors:
        raise ConflictError(errors)


def user_snapshot(user: DirectoryUser) -> dict:
    return snapshot(user, fields=["identity_center", *USER_FIELDS])


def group_snapshot(group: DirectoryGroup) -> dict:
    return snapshot(group, fields=["identity_center", *GROUP_FIELDS])


def directory_user_create(*, identity_center: IdentityCenterInstance, actor: Actor, **data: Any) -> DirectoryUser:
    data.setdefault("external_id", "")
    data.setdefault("active", True)
    missing = {f: f"Enter {LABELS[f]}." for f in REQUIRED_USER if f not in data}
    if missing:
        raise ValidationError(missing)
    clean = _clean(data, USER_FIELDS, user_field_error)
    _user_clashes(identity_center, clean)
    try:
        with transaction.atomic():
            user = DirectoryUser.objects.create(identity_center=identity_center, **clean)
            audit_record(actor=actor, action="directory_user.create", target=user, after=user_snapshot(user))
    except IntegrityError as exc:  # a concurrent request took the name or email first
        _user_clashes(identity_center, clean)
        raise ConflictError("Another request created a clashing user at the same time.") from exc
    return user


def directory_user_update(*, user: DirectoryUser, actor: Actor, **changes: Any) -> DirectoryUser:
    clean = _clean(changes, USER_FIELDS, user_field_error)
    _user_clashes(user.identity_center_id, clean, exclude_pk=user.pk)
    with transaction.atomic():
        before = user_snapshot(user)
        for field, value in clean.items():
            setattr(user, field, value)
        after = user_snapshot(user)
        if before == after:
            return user
        user.updated_at = timezone.now()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as exc:
            raise ConflictError("Another request took this user name or email at the same time.") from exc
        audit_record(actor=actor, action="directory_user.update", target=user, before=before, after=after)
        # The rename first, as an import sends them: it locks all the directory's profiles in id order, the
        # activation's receivers some of them, in the same order.
        if before["user_name"] != after["user_name"]:
            signals.users_renamed.send(
                sender=DirectoryUser, identity_center=user.identity_center, user_ids=[user.pk], actor=actor
            )
        if before["active"] != after["active"]:
            signals.users_activation_changed.send(
                sender=DirectoryUser,
                identity_center=user.identity_center,
                user_ids=[user.pk],
                active=user.active,
                actor=actor,
            )
    return user


def directory_user_delete(*, user: DirectoryUser, actor: Actor) -> None:
    """Mark the user deleted: its memberships go (announced), its subscriptions are canceled by their app."""
    with transaction.atomic():
        locked = DirectoryUser.objects.live().filter(pk=user.pk).update(deleted_at=timezone.now())
        if not locked:
            return
        # Locked as read (PostgreSQL): a membership another request is removing is announced by one of the two.
        pairs = list(GroupMembership.objects.filter(user=user).select_for_update().values_list("group_id", "user_id"))
        GroupMembership.objects.filter(user=user).delete()
        audit_record(actor=actor, action="directory_user.delete", target=user, before=user_snapshot(user))
        if pairs:
            announce_memberships_changed(
                sender=DirectoryUser, identity_center=user.identity_center, added=[], removed=pairs, actor=actor
            )
        signals.users_deleted.send(
            sender=DirectoryUser, identity_center=user.identity_center, user_ids=[user.pk], actor=actor
        )


def _group_clash(identity_center, display_name: str, exclude_pk=None) -> None:
    live = DirectoryGroup.objects.live().filter(identity_center=identity_center).exclude(pk=exclude_pk)
    if live.filter(same_lower("display_name", display_name)).exists():
        raise ConflictError({"display_name": f"A group named {display_name!r} already exists in this directory."})


def directory_group_create(*, identity_center: IdentityCenterInstance, actor: Actor, **data: Any) -> DirectoryGroup:
    data.setdefault("description", "")
    data.setdefault("external_id", "")
    if "display_name" not in data:
        raise ValidationError({"display_name": "Enter a display name."})
    clean = _clean(data, GROUP_FIELDS, group_field_error)
    _group_clash(identity_center, clean["display_name"])
    try:
        with transaction.atomic():
            group = DirectoryGroup.objects.create(identity_center=identity_center, **clean)
            audit_record(actor=actor, action="directory_group.create", target=group, after=group_snapshot(group))
    except IntegrityError as exc:
        raise ConflictError({"display_name": "Another request created this group at the same time."}) from exc
    return group


def directory_group_update(*, group: DirectoryGroup, actor: Actor, **changes: Any) -> DirectoryGroup:
    clean = _clean(changes, GROUP_FIELDS, group_field_error)
    if "display_name" in clean:
        _group_clash(group.identity_center_id, clean["display_name"], exclude_pk=group.pk)
    with transaction.atomic():
        before = group_snapshot(group)
        for field, value in clean.items():
            setattr(group, field, value)
        after = group_snapshot(group)
        if before == after:
            return group
        group.updated_at = timezone.now()
        try:
            with transaction.atomic():
                group.save()
        except IntegrityError as exc:
            raise ConflictError({"display_name": "Another request took this name at the same time."}) from exc
        audit_record(actor=actor, action="directory_group.update", target=group, before=before, after=after)
    return group


def directory_group_delete(*, group: DirectoryGroup, actor: Actor) -> None:
    with transaction.atomic():
        if not DirectoryGroup.objects.live().filter(pk=group.pk).update(deleted_at=timezone.now()):
            return
        # Locked as read (see directory_user_delete).
        pairs = list(GroupMembership.objects.filter(group=group).select_for_update().values_list("group_id", "user_id"))
        GroupMembership.objects.filter(group=group).delete()
        audit_record(
            actor=actor,
            action="directory_group.delete",
            target=group,
            before=group_snapshot(group) | {"members": len(pairs)},
        )
        if pairs:
            announce_memberships_changed(
                sender=DirectoryGroup, identity_center=group.identity_center, added=[], removed=pairs, actor=actor
            )
        signals.groups_deleted.send(
            sender=DirectoryGroup, identity_center=group.identity_center, group_ids=[group.pk], actor=actor
        )


def _users_in_directory(group: DirectoryGroup, users: Iterable[DirectoryUser]) -> list[DirectoryUser]:
    users = list(users)
    strangers = [u for u in users if u.identity_center_id != group.identity_center_id or u.deleted_at]
    if strangers:
        raise ValidationError(
            {"members": f"{', '.join(u.user_name for u in strangers[:5])} is not a user of this group's directory."}
        )
    return users


def group_members_add(*, group: DirectoryGroup, users: Iterable[DirectoryUser], actor: Actor) -> int:
    """Add users to a group (those already in it are left alone). Returns how many were added."""
    users = _users_in_directory(group, users)
    with transaction.atomic():
        # The group locked (PostgreSQL): two requests adding the same member are answered in turn, the second
        # finding it there, not failing on the unique constraint.
        DirectoryGroup.objects.select_for_update().filter(pk=group.pk).exists()
        present = set(
            GroupMembership.objects.filter(group=group, user__in=[u.pk for u in users]).values_list(
                "user_id", flat=True
            )
        )
        new = [u for u in dict.fromkeys(users) if u.pk not in present]
        if not new:
            return 0
        GroupMembership.objects.bulk_create(
            [GroupMembership(group=group, user=u) for u in new], batch_size=2000, ignore_conflicts=False
        )
        audit_record_many(
            actor=actor,
            entries=(("directory_group.member_add", group, None, {"user": u.user_name, "user_id": u.pk}) for u in new),
        )
        announce_memberships_changed(
            sender=GroupMembership,
            identity_center=group.identity_center,
            added=[(group.pk, u.pk) for u in new],
            removed=[],
            actor=actor,
        )
    return len(new)


def group_members_remove(*, group: DirectoryGroup, users: Iterable[DirectoryUser], actor: Actor) -> int:
    """Remove users from a group (those not in it are left alone). Returns how many were removed."""
    users = list(dict.fromkeys(users))
    with transaction.atomic():
        memberships = GroupMembership.objects.filter(group=group, user__in=[u.pk for u in users])
        # Locked as read (PostgreSQL): of two requests removing the same member, only one announces it removed.
        gone = set(memberships.select_for_update().values_list("user_id", flat=True))
        if not gone:
            return 0
        memberships.delete()
        audit_record_many(
            actor=actor,
            entries=(
                ("directory_group.member_remove", group, {"user": u.user_name, "user_id": u.pk}, None)
                for u in users
                if u.pk in gone
            ),
        )
        announce_memberships_changed(
            sender=GroupMembership,
            identity_center=group.identity_center,
            added=[],
            removed=[(group.pk, user_id) for user_id in gone],
            actor=actor,
        )
    return len(gone)


# --- SCIM tokens ----------------------------------------------------------------------------------------------

SCIM_TOKEN_PREFIX = "scim_"  # noqa: S105 (a public prefix, not a secret)
SCIM_TOKEN_VALIDITY = timedelta(days=365)
SCIM_TOKEN_LAST_USED_GRANULARITY = timedelta(minutes=1)
MAX_VALID_SCIM_TOKENS = len(ScimToken.SLOTS)


def scim_token_create(*, identity_center: IdentityCenterInstance, actor: Actor) -> tuple[ScimToken, str]:
    """A new SCIM token for the directory, valid for a year. Returns the token and its raw value, never stored.

    At most two valid tokens per directory, even when two requests race: each valid token holds one of the
    directory's two slots (a unique constraint), so a third creation finds no free slot, or loses the insert."""
    raw, prefix, digest = new_secret(SCIM_TOKEN_PREFIX)
    now = timezone.now()
    with transaction.atomic():
        # Expired tokens give their slots back (they can never be valid again).
        ScimToken.objects.filter(identity_center=identity_center, slot__isnull=False, expires_at__lte=now).update(
            slot=None
        )
        token = None
        for _attempt in range(len(ScimToken.SLOTS)):
            taken = set(
                ScimToken.objects.filter(identity_center=identity_center, slot__isnull=False).values_list(
                    "slot", flat=True
                )
            )
            free = [slot for slot in ScimToken.SLOTS if slot not in taken]
            if not free:
                break
            try:
                with transaction.atomic():
                    token = ScimToken.objects.create(
                        identity_center=identity_center,
                        prefix=prefix,
                        token_hash=digest,
                        slot=free[0],
                        created_at=now,
                        expires_at=now + SCIM_TOKEN_VALIDITY,
                        created_by=actor.user if getattr(actor.user, "pk", None) else None,
                    )
                break
            except IntegrityError:  # a concurrent creation took that slot first: look again
                continue
        if token is None:
            raise ConflictError(
                {
                    "token": f"{identity_center.name} already has {MAX_VALID_SCIM_TOKENS} valid SCIM tokens, the "
                    "most it may have. Revoke one first (rotate: create the new one after revoking the oldest)."
                }
            )
        audit_record(
            actor=actor,
            action="scim_token.create",
            target=token,
            after={
                "identity_center": identity_center.identity_store_id,
                "prefix": prefix,
                "expires_at": token.expires_at,
            },
        )
    return token, raw


def scim_token_revoke(*, token: ScimToken, actor: Actor) -> ScimToken:
    with transaction.atomic():
        # Conditional update: two revocations racing record one change.
        changed = ScimToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), slot=None
        )
        token.refresh_from_db()
        if changed:
            audit_record(
                actor=actor,
                action="scim_token.revoke",
                target=token,
                before={"revoked_at": None},
                after={"revoked_at": token.revoked_at},
            )
    return token


def scim_token_authenticate(raw: str) -> ScimToken | None:
    """The valid SCIM token for a raw bearer value (with its directory), or None. Marks it used, at most one write
    a minute."""
    if not raw or not raw.startswith(SCIM_TOKEN_PREFIX) or len(raw) > 200:
        return None
    now = timezone.now()
    token = ScimToken.objects.valid(now).select_related("identity_center").filter(token_hash=hash_token(raw)).first()
    if token is None:
        return None
    if token.last_used_at is None or token.last_used_at < now - SCIM_TOKEN_LAST_USED_GRANULARITY:
        ScimToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def lock_users(user_ids: Iterable[Any], *, exclusive: bool) -> None:
    """On PostgreSQL, lock the rows of `user_ids`, in id order. A change of memberships takes them exclusive (FOR
    UPDATE, `announce_memberships_changed`) before its receivers run; what reads a user's memberships to count
    usage takes them shared (FOR KEY SHARE: credits' metering). So one waits for the other, and usage kept per
    group (credits' `GroupDailyUsage`) counts each use once, in the groups of its moment. Neither blocks an
    update of the users' own columns. SQLite needs none: a write transaction holds the whole database (BEGIN
    IMMEDIATE)."""
    from django.db import connection

    ids = sorted(set(user_ids), key=str)
    if connection.vendor != "postgresql" or not ids:
        return
    table = connection.ops.quote_name(DirectoryUser._meta.db_table)
    mode = "UPDATE" if exclusive else "KEY SHARE"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR {mode}", [ids])  # noqa: S608  # nosec B608


def announce_memberships_changed(*, sender: Any, identity_center: Any, added: list, removed: list, actor: Any) -> None:
    """Send `memberships_changed` for the (group id, user id) pairs written, the users locked first (see
    `lock_users`): every writer of memberships announces them here."""
    lock_users([user for _, user in (*added, *removed)], exclusive=True)
    signals.memberships_changed.send(
        sender=sender, identity_center=identity_center, added=added, removed=removed, actor=actor
    )

"""The identity directory: users, groups and memberships of an IAM Identity Center identity store (DOMAIN.md §2),
and the SCIM tokens identity providers push them with.

Users and groups have stable opaque ids (UUIDs), as SCIM and the API expose them. Deleting one marks it deleted
(`deleted_at`): subscriptions and their billing history keep pointing at it, and the uniqueness rules apply to
the live rows only, so an identity provider may create the same user name again.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.utils import timezone

from accounts.models import IdentityCenterInstance


def same_lower(field: str, value: str) -> Exact:
    """`LOWER(field) = LOWER(value)`: the expression of the unique constraints below, so a look-up by user name,
    email or group name agrees with them and is an index look-up (`iexact` compiles to LIKE or UPPER(), which
    scan the directory: SCIM provisioning, one user at a time, would slow down as the directory grows)."""
    return Exact(Lower(field), Lower(Value(value)))


class LiveQuerySet(models.QuerySet):
    def live(self):
        return self.filter(deleted_at__isnull=True)


class DirectoryUser(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    identity_center = models.ForeignKey(IdentityCenterInstance, on_delete=models.PROTECT, related_name="users")
    user_name = models.CharField("user name", max_length=128)
    display_name = models.CharField("display name", max_length=256)
    given_name = models.CharField("given name", max_length=128)
    family_name = models.CharField("family name", max_length=128)
    email = models.CharField(max_length=254)
    external_id = models.CharField("external id", max_length=256, blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = LiveQuerySet.as_manager()

    class Meta:
        ordering = ["user_name"]
        verbose_name = "directory user"
        constraints = [
            models.UniqueConstraint(
                Lower("user_name"),
                "identity_center",
                condition=models.Q(deleted_at__isnull=True),
                name="directory_user_name_unique",
                violation_error_message="This user name is already taken in the directory.",
            ),
            models.UniqueConstraint(
                Lower("email"),
                "identity_center",
                condition=models.Q(deleted_at__isnull=True),
                name="directory_user_email_unique",
                violation_error_message="This email is already used in the directory.",
            ),
        ]
        indexes = [
            # A directory's users in user-name order, ties by id: the Users tab of a profile walks it (and reads the
            # ids of a page's users from it alone), see subscriptions.selectors.profile_subscriptions.
            models.Index(fields=["identity_center", "user_name", "id"], name="directory_user_name_idx"),
            models.Index(fields=["identity_center", "external_id"], name="directory_user_extid_idx"),
            # The Users page: live users in user-name order, a page at a time (migration 0003).
            models.Index(
                fields=["user_name", "id"],
                condition=models.Q(deleted_at__isnull=True),
                name="directory_user_live_name_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.user_name})"


class DirectoryGroup(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    identity_center = models.ForeignKey(IdentityCenterInstance, on_delete=models.PROTECT, related_name="groups")
    display_name = models.CharField("display name", max_length=128)
    description = models.CharField(max_length=1024, blank=True)
    external_id = models.CharField("external id", max_length=256, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    members = models.ManyToManyField(DirectoryUser, through="GroupMembership", related_name="groups")

    objects = LiveQuerySet.as_manager()

    class Meta:
        ordering = ["display_name"]
        verbose_name = "directory group"
        constraints = [
            models.UniqueConstraint(
                Lower("display_name"),
                "identity_center",
                condition=models.Q(deleted_at__isnull=True),
                name="directory_group_name_unique",
                violation_error_message="A group with this name already exists in the directory.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["display_name", "id"],
                condition=models.Q(deleted_at__isnull=True),
                name="directory_group_live_name_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name


class GroupMembership(models.Model):
    # No single-column indexes: the unique (group, user) and the (user, group) index serve both look-ups.
    group = models.ForeignKey(DirectoryGroup, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    user = models.ForeignKey(DirectoryUser, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["group", "user"]
        constraints = [models.UniqueConstraint(fields=["group", "user"], name="directory_membership_unique")]
        indexes = [models.Index(fields=["user", "group"], name="directory_membership_user_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.group_id}"


SCIM_TOKEN_SLOTS = (1, 2)  # at most two valid tokens per directory


class ScimTokenQuerySet(models.QuerySet["ScimToken"]):
    def valid(self, now=None):
        return self.filter(revoked_at__isnull=True, expires_at__gt=now or timezone.now())


class ScimToken(models.Model):
    """A SCIM bearer token of one directory (CONTRACTS.md "SCIM 2.0"): the token selects the directory.

    Only its SHA-256 is stored; the token is shown once. It is valid for a year unless revoked, and a directory has
    at most two valid tokens at a time (as IAM Identity Center). The database enforces that rule: a token that may
    still be valid holds one of the directory's two *slots* (unique per directory); revoking it frees its slot, and
    creating a token first frees the slots of expired ones (directory.services.scim_token_create).
    """

    SLOTS = SCIM_TOKEN_SLOTS

    identity_center = models.ForeignKey(IdentityCenterInstance, on_delete=models.CASCADE, related_name="scim_tokens")
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise the token.")
    token_hash = models.CharField(max_length=64, unique=True)
    slot = models.PositiveSmallIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ScimTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "SCIM token"
        constraints = [
            models.UniqueConstraint(fields=["identity_center", "slot"], name="scim_token_two_slots"),
            models.CheckConstraint(
                condition=models.Q(slot__isnull=True) | models.Q(slot__in=SCIM_TOKEN_SLOTS),
                name="scim_token_slot_values",
            ),
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True) | models.Q(slot__isnull=True),
                name="scim_token_revoked_frees_slot",
            ),
        ]

    def __str__(self) -> str:
        return f"SCIM token {self.prefix}…"

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"

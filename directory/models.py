"""The identity directory: users, groups and memberships of an IAM Identity Center identity store (DOMAIN.md §2).

Users and groups have stable opaque ids (UUIDs), as SCIM and the API expose them. Deleting one marks it deleted
(`deleted_at`): subscriptions and their billing history keep pointing at it, and the uniqueness rules apply to
the live rows only, so an identity provider may create the same user name again.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import IdentityCenterInstance


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
            models.Index(fields=["identity_center", "user_name"], name="directory_user_name_idx"),
            models.Index(fields=["identity_center", "external_id"], name="directory_user_extid_idx"),
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

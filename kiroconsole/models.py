"""Core models: console users, the audit trail and API tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """A person or a service that uses the console (not a directory user of Identity Center).

    The role is the Django group the user belongs to (see kiroconsole.roles); a superuser is an administrator.
    """

    class Meta(AbstractUser.Meta):
        verbose_name = "console user"
        verbose_name_plural = "console users"
        ordering = ["username"]

    @property
    def role(self) -> str | None:
        from kiroconsole.roles import user_role

        return user_role(self)


class Source(models.TextChoices):
    WEB = "web", "Web console"
    ADMIN = "admin", "Django admin"
    COMMAND = "command", "Management command"
    API = "api", "JSON API"
    SCIM = "scim", "SCIM"
    SYSTEM = "system", "System"


class ActorType(models.TextChoices):
    USER = "user", "Console user"
    API_TOKEN = "api_token", "API token"
    SCIM_TOKEN = "scim_token", "SCIM token"
    COMMAND = "command", "Command"
    SYSTEM = "system", "System"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs):  # type: ignore[override]
        raise TypeError("Audit events are append-only.")

    def delete(self):  # type: ignore[override]
        raise TypeError("Audit events are append-only.")


class AuditEvent(models.Model):
    """One change, from any entry point: who, what, when, from where, before and after.

    Append-only: written by services inside their transaction (kiroconsole.audit), never edited or deleted.
    """

    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_constraint=False
    )
    actor_label = models.CharField(max_length=200, help_text="The actor as it was named at the time.")
    actor_token_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=100, blank=True)
    target_label = models.CharField(max_length=255, blank=True)
    before = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    after = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(fields=["actor_label", "occurred_at"], name="audit_actor_idx"),
            models.Index(fields=["-occurred_at", "-id"], name="audit_recent_idx"),
            models.Index(fields=["source", "-occurred_at"], name="audit_source_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target_label}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise TypeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Audit events are append-only.")

    @property
    def changes(self) -> list[tuple[str, object, object]]:
        """(field, before, after) for every field that differs, in a stable order."""
        before = self.before if isinstance(self.before, dict) else {}
        after = self.after if isinstance(self.after, dict) else {}
        keys = list(dict.fromkeys([*before.keys(), *after.keys()]))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def valid(self, now=None):
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the token is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'Terraform' or 'metering'.")
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise the token.")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"

"""Marking alerts read (DOMAIN.md §5 rule 7). A notification belongs to its profile, not to a console user: read
once, it is read for everyone, so marking is a change (administrators, `Cap.SETTINGS_CHANGE`, the people alerts
are mailed to) and audited. Marking what is already read changes nothing and records nothing."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from credits.models import Notification
from kiroconsole.audit import Actor, audit_record
from subscriptions.models import Profile

__all__ = ["notification_mark_read", "notifications_mark_all_read"]


def notification_mark_read(*, notification: Notification, actor: Actor) -> bool:
    """Mark one notification read; False when it already was (nothing changes then)."""
    now = timezone.now()
    with transaction.atomic():
        # Conditional: two people marking the same alert at once record one change.
        changed = Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        if changed:
            notification.read_at = now
            audit_record(
                actor=actor,
                action="notification.read",
                target=notification,
                before={"read_at": None},
                after={"read_at": now},
            )
    return bool(changed)


def notifications_mark_all_read(*, actor: Actor, profile: Profile | None = None) -> int:
    """Mark every unread notification read (of `profile` only, when given); how many were. One audit event counts
    them: they were all unread and are all read now, at the same time."""
    now = timezone.now()
    unread = Notification.objects.filter(read_at__isnull=True)
    if profile is not None:
        unread = unread.filter(profile=profile)
    with transaction.atomic():
        count = unread.update(read_at=now)
        if count:
            target = (
                ("profile", profile.pk, f"Notifications of {profile.name}")
                if profile is not None
                else ("notification", "", "All notifications")
            )
            audit_record(
                actor=actor,
                action="notification.read_all",
                target=target,
                after={"read_at": now, "count": count, "profile": profile.profile_id if profile else None},
            )
    return count

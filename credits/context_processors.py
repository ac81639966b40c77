"""What every console page shows of the credits app: the number of unread alerts in the header."""

from __future__ import annotations

from functools import cache
from typing import Any

from credits.models import Notification
from kiroconsole.roles import Cap, has_cap


def unread_notification_count() -> int:
    """One COUNT on the (read_at, created_at) index."""
    return Notification.objects.filter(read_at__isnull=True).count()


def notifications(request) -> dict[str, Any]:
    """`unread_notifications` for those who may read the console: a callable the template calls once, when it
    renders the header (an htmx fragment, which has none, costs no query)."""
    if not has_cap(getattr(request, "user", None), Cap.VIEW):
        return {}
    return {"unread_notifications": cache(unread_notification_count)}

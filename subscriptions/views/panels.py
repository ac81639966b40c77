"""What the subscriptions app adds to the directory's pages (directory.signals, connected in subscriptions/apps.py):
a user's page lists its subscription in every profile."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from subscriptions import selectors
from subscriptions.models import SubscriptionStatus


def user_subscriptions_panel(sender, request, user, **kwargs: Any) -> SafeString:
    """The "Subscriptions" panel of a directory user's page (a receiver of directory.signals.user_panels): status,
    tier now and next, sources, dates, in each live profile. Three queries whatever the number of profiles."""
    now = timezone.now()
    subscriptions = selectors.user_subscriptions(user)
    names = {tier.code: tier.name for tier in selectors.tier_catalogue()} if subscriptions else {}
    for s in subscriptions:
        pending = s.next_tier_id is not None and s.next_tier_from is not None and s.next_tier_from > now
        s.tier_now = names[s.effective_tier_id(now)]  # type: ignore[attr-defined]
        s.tier_next = names[s.next_tier_id] if pending else ""  # type: ignore[attr-defined,index]
        s.direct_name = names.get(s.direct_tier_id or "", "") if not s.direct_opt_out else ""  # type: ignore[attr-defined]
        s.access_ended = s.status == SubscriptionStatus.CANCELED and not s.has_access(now)  # type: ignore[attr-defined]
        for assignment in s.group_sources:  # type: ignore[attr-defined]
            assignment.tier_name = names[assignment.tier_id]
    html = render_to_string(
        "subscriptions/user_panel.html", {"person": user, "subscriptions": subscriptions}, request=request
    )
    return mark_safe(html)  # noqa: S308 (rendered by the template engine, which escapes)  # nosec B308 B703

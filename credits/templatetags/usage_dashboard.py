"""`{% usage_summary profile %}`: this month's credits, active users and overage of a profile, with a link to its
usage dashboard. The profile's overview shows it when the "usage dashboard" setting is on (DOMAIN.md §6: the
setting "shows the dashboard on the profile's main page"); the subscriptions app's template loads this library, so
its Python code needs no import of the credits app. Two queries (credits.dashboard.month_summary)."""

from __future__ import annotations

from django import template
from django.utils import timezone

from credits.dashboard import month_summary

register = template.Library()


@register.inclusion_tag("credits/usage_summary.html")
def usage_summary(profile):
    return {"profile": profile, "summary": month_summary(profile, timezone.now())}

"""Core read queries: exactly the querysets the pages and the API need."""

from __future__ import annotations

from django.db.models import QuerySet

from kiroconsole.models import ApiToken, AuditEvent


def audit_events() -> QuerySet[AuditEvent]:
    # The table shows no related objects: no joins at all, so a page is two queries (count and rows).
    return AuditEvent.objects.defer("before", "after")


def audit_events_for(target_type: str, target_id: str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(target_type=target_type, target_id=str(target_id))


def api_tokens() -> QuerySet[ApiToken]:
    return ApiToken.objects.select_related("user", "created_by")

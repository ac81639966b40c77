"""The user activity report as a console download (issue 8 item 5): `?date=YYYY-MM-DD&client_type=KIRO_IDE|KIRO_CLI`
(client type default KIRO_IDE, as in the API) answers the CSV of `credits.reports` as an attachment. Bad parameters
get a 400 page saying what is expected; an unknown profile a 404."""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET

from credits.models import ClientType
from credits.reports import ReportInvalid, report_client_type, report_day, report_response, user_report
from kiroconsole.roles import Cap, requires
from subscriptions import selectors


@requires(Cap.VIEW)
@require_GET
def profile_user_report(request, profile_id: str):
    profile = selectors.profile_by_id(profile_id)
    try:
        day = report_day(request.GET.get("date"))
        client_type = report_client_type(request.GET.get("client_type") or ClientType.KIRO_IDE)
    except ReportInvalid as exc:
        context = {"profile": profile, "field": exc.field, "message": exc.message, "client_types": ClientType.values}
        return render(request, "credits/user_report_invalid.html", context, status=400)
    return report_response(user_report(profile=profile, day=day, client_type=client_type))

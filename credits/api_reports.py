"""The user activity report over the API (CONTRACTS.md): `GET /profiles/{id}/user-activity-report?date=&client_type=`
answers the CSV of `credits.reports` (streamed) as `text/csv`, with the file name Kiro gives it. `date` is
required; `client_type` defaults to KIRO_IDE (Kiro writes a file per client type: ask for KIRO_CLI too).
A bad date or client type is 422, an unknown profile 404; the VIEW capability reads it, as every report."""

from ninja import Schema
from ninja.responses import Status

from credits.reports import ReportInvalid, report_client_type, report_day, report_response, user_report
from kiroconsole.api import GuardedRouter, requires
from kiroconsole.roles import Cap
from subscriptions import selectors

router = GuardedRouter(tags=["reports"])


class ErrorOut(Schema):
    detail: str | dict | list


CSV_RESPONSE = {
    "responses": {
        200: {
            "description": "The report: a header row, then one row per user who used Kiro that day with that client.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
}


@router.get(
    "/profiles/{profile_id}/user-activity-report",
    response={404: ErrorOut, 422: ErrorOut},
    summary="The user activity report of one UTC day and client type, as text/csv",
    openapi_extra=CSV_RESPONSE,
)
@requires(Cap.VIEW)
def get_user_activity_report(request, profile_id: str, date: str | None = None, client_type: str = "KIRO_IDE"):
    profile = selectors.profile_by_id(profile_id)
    try:
        day = report_day(date)
        code = report_client_type(client_type)
    except ReportInvalid as exc:
        return Status(422, {"detail": {exc.field: [exc.message]}})
    return report_response(user_report(profile=profile, day=day, client_type=code))

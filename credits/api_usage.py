"""The usage API (CONTRACTS.md `GET /profiles/{id}/usage`): the usage explorer's question and answer as JSON.

The query parameters are the explorer page's (credits.explorer.UsageQueryForm validates both), so a bad value is a
422 naming its field with the page's message: `{"detail": {"to": ["The range ends (...) before it starts ..."]}}`.
Credits are decimal strings with two places, as everywhere in the API.
"""

import datetime
import json
from collections.abc import Iterator, Sequence
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]

from django.http import HttpResponse
from ninja import Field, Query, Schema
from ninja.responses import Status

from credits.explorer import UsageQueryForm, usage_answer
from credits.usage import GROUP_BY, UsageRow, UserRows, user_id_text
from kiroconsole.api import GuardedRouter, requires
from kiroconsole.roles import Cap
from subscriptions import selectors

router = GuardedRouter(tags=["usage"])


class UsageRowOut(Schema):
    key: str | None = Field(
        description="The day (YYYY-MM-DD), user id, group id (null: users in no group), tier code, client type or "
        "model code."
    )
    label: str = Field(
        description="What the console shows: the day, `Display name (user name)`, the group's, tier's "
        "or model's name, the client type's label."
    )
    plan_credits: str
    overage_credits: str
    credits: str = Field(description="Plan + overage credits.")
    messages: int
    events: int


class UsageTotalOut(Schema):
    plan_credits: str
    overage_credits: str
    credits: str
    messages: int
    events: int


class UsageOut(Schema):
    profile_id: str
    from_: datetime.date = Field(alias="from", description="The first day (UTC), included.")
    to: datetime.date = Field(description="The last day (UTC), included.")
    group_by: str
    rows: list[UsageRowOut] = Field(description="Days in date order; the others by credits, most first.")
    total: UsageTotalOut = Field(
        description="The sum of the rows; grouped by group, each user counts once (a user in two groups is in two "
        "rows)."
    )


class ErrorOut(Schema):
    detail: str | dict | list


def _figures(row: UsageRow) -> dict:
    return {
        "plan_credits": _credits(row.plan_hundredths),
        "overage_credits": _credits(row.overage_hundredths),
        "credits": _credits(row.plan_hundredths + row.overage_hundredths),
        "messages": row.messages,
        "events": row.events,
    }


def _credits(hundredths: int) -> str:
    """`f"{credits_of(hundredths):.2f}"` without the Decimal (60,000 rows' worth of formatting)."""
    whole, cents = divmod(hundredths if hundredths >= 0 else -hundredths, 100)
    return f"{whole}.{cents:02d}" if hundredths >= 0 else f"-{whole}.{cents:02d}"


def _row_items(rows: Sequence[UsageRow]) -> Iterator[tuple[str | None, str, int, int, int, int]]:
    """(key, label, plan, overage, messages, events) of each row. Every row by user comes from the database's
    tuples (no `UsageRow` nor UUID made for each of 60,000 users; `user_id_text`'s work written inline)."""
    if isinstance(rows, UserRows):
        for user_id, label, plan, overage, messages, events in rows.records():
            if type(user_id) is str and len(user_id) == 32:
                key = f"{user_id[:8]}-{user_id[8:12]}-{user_id[12:16]}-{user_id[16:20]}-{user_id[20:]}"
            else:
                key = user_id_text(user_id)
            yield key, label, plan or 0, overage or 0, messages or 0, events or 0
        return
    for row in rows:
        yield _key(row.key), row.label, row.plan_hundredths, row.overage_hundredths, row.messages, row.events


def rows_json(rows: Sequence[UsageRow]) -> str:
    """The rows as `UsageRowOut` and `json.JSONEncoder().encode` write them (a test holds the two equal), a line
    of text a row: a list of 60,000 dicts walked by the encoder cost twice as much, and so did `_credits`' calls."""
    lines: list[str] = []
    append = lines.append
    for key, label, plan, overage, messages, events in _row_items(rows):
        total = plan + overage
        if plan >= 0 and overage >= 0:  # `_credits`, inline
            figures = (
                f'"plan_credits": "{plan // 100}.{plan % 100:02d}", '
                f'"overage_credits": "{overage // 100}.{overage % 100:02d}", '
                f'"credits": "{total // 100}.{total % 100:02d}"'
            )
        else:
            figures = (
                f'"plan_credits": "{_credits(plan)}", "overage_credits": "{_credits(overage)}", '
                f'"credits": "{_credits(total)}"'
            )
        append(
            f'{{"key": {"null" if key is None else _quote(key)}, "label": {_quote(label)}, {figures}, '
            f'"messages": {messages}, "events": {events}}}'
        )
    return f"[{', '.join(lines)}]"


def _key(key) -> str | None:
    if key is None:
        return None
    return key.isoformat() if isinstance(key, datetime.date) else str(key)


@router.get(
    "/profiles/{profile_id}/usage",
    response={200: UsageOut, 422: ErrorOut},
    by_alias=True,
    summary="Accepted usage over a range of days, totalled by day, user, group, tier, client type or model",
    description=(
        "Read from the usage rollups. `from` and `to` are UTC days, both included (default: this month; at most "
        "366 days). Narrow with `user` (a user name, any case, or a user id), `group` (a group's display name or "
        "id: its current members), `tier`, `client_type` and `model` (codes). Each bad parameter is a 422 naming "
        "it; an unknown or deleted profile is a 404."
    ),
)
@requires(Cap.VIEW)
def get_usage(
    request,
    profile_id: str,
    from_: str | None = Query(None, alias="from", description="YYYY-MM-DD; default: the first of this month."),
    to: str | None = Query(None, description="YYYY-MM-DD, included; default: the end of from's month."),
    group_by: str | None = Query(None, description=f"One of {', '.join(GROUP_BY)}; default day."),
    user: str | None = Query(None, description="A user name (any case) or user id of the profile's directory."),
    group: str | None = Query(None, description="A live group's display name (any case) or id."),
    tier: str | None = Query(None, description="A tier code, like PRO."),
    client_type: str | None = Query(None, description="KIRO_IDE or KIRO_CLI."),
    model: str | None = Query(None, description="A model code of the catalogue, like auto."),
):
    profile = selectors.profile_by_id(profile_id)
    data = {
        "from": from_,
        "to": to,
        "group_by": group_by,
        "user": user,
        "group": group,
        "tier": tier,
        "client_type": client_type,
        "model": model,
    }
    form = UsageQueryForm({k: v for k, v in data.items() if v is not None}, profile=profile, page=False)
    if not form.is_valid():
        return Status(422, {"detail": form.errors_by_field()})
    answer = usage_answer(form.query())
    query = answer.query
    head = {
        "profile_id": str(profile.profile_id),
        "from": query.span.start.isoformat(),
        "to": query.span.end.isoformat(),
        "group_by": query.group_by,
    }
    # Written directly, as `UsageOut` declares it (what ninja's renderer would write): validating 60,000 rows
    # again cost three times the reading of them.
    total = _ENCODER.encode(_figures(answer.total))
    body = f'{_ENCODER.encode(head)[:-1]}, "rows": {rows_json(answer.rows)}, "total": {total}}}'
    return HttpResponse(body, content_type=JSON_TYPE)


_ENCODER = json.JSONEncoder()
_quote = encode_basestring_ascii  # what _ENCODER writes for a string (ensure_ascii)
JSON_TYPE = "application/json; charset=utf-8"

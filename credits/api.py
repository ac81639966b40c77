"""The metering API (CONTRACTS.md): usage events, single or in batches, and entitlements.

`POST /profiles/{id}/usage-events` reads its body itself, with JSON numbers as exact decimals
(`credits.events.json_loads`), so a batch answers bad events one by one instead of refusing the whole batch, and
`0.1` is never a float. Everything else goes through `credits.services`.
"""

import json
from datetime import datetime
from uuid import UUID

from django.http import Http404, HttpResponse
from django.utils import timezone
from ninja import Schema
from ninja.responses import Status

from credits import catalogue, services
from credits import selectors as credit_selectors
from credits.events import FIELDS, EventIn, EventInvalid, event_parse, json_loads
from credits.models import ClientType
from credits.services.metering import usage_record_one
from directory.models import DirectoryUser
from kiroconsole.api import GuardedRouter, api_actor, requires
from kiroconsole.roles import Cap
from subscriptions import selectors

router = GuardedRouter(tags=["metering"])
MAX_BATCH = 1000


class EventResultOut(Schema):
    idempotency_key: str
    status: str  # accepted or rejected
    reason: str | None = None
    detail: str | None = None
    field: str | None = None
    plan_credits: str
    overage_credits: str
    remaining_credits: str
    replayed: bool


class BatchOut(Schema):
    accepted: int
    rejected: int
    results: list[EventResultOut]


class ErrorOut(Schema):
    detail: str | dict | list


class EntitlementSettingsOut(Schema):  # not SettingsOut: the name of the profile settings' schema
    mcp: dict
    web_tools: bool
    models: dict
    user_api_keys: bool
    code_references: bool


class EntitlementOut(Schema):
    entitled: bool
    reason: str | None
    status: str | None
    tier: str | None
    next_tier: str | None
    access_until: datetime | None
    month: str
    allowance: str
    used: str
    plan_used: str
    overage_enabled: bool
    overage_used: str
    overage_cap: str | None
    shared_cap: str | None
    shared_overage_used: str
    remaining: str
    settings: EntitlementSettingsOut


def _money(value) -> str | None:
    return None if value is None else f"{value:.2f}"


def _out(result: services.Result) -> dict:
    return {
        "idempotency_key": result.key,
        "status": result.status,
        "reason": result.reason or None,
        "detail": result.detail or None,
        "field": result.invalid_field or None,
        "plan_credits": _money(result.plan_credits),
        "overage_credits": _money(result.overage_credits),
        "remaining_credits": _money(result.remaining_credits),
        "replayed": result.replayed,
    }


EVENT_SCHEMA = {
    "type": "object",
    "required": ["idempotency_key", "credits", "client_type", "model"],
    "properties": {
        "idempotency_key": {"type": "string", "maxLength": 128, "description": "Unique per profile."},
        "user_id": {"type": "string", "format": "uuid", "description": "The user, or give user_name."},
        "user_name": {"type": "string"},
        "credits": {
            "oneOf": [{"type": "string", "pattern": r"^\d+(\.\d{1,2})?$"}, {"type": "number", "multipleOf": 0.01}],
            "description": "More than 0, at most two decimals.",
        },
        "occurred_at": {"type": "string", "format": "date-time", "description": "Default: now. With a zone."},
        "client_type": {"type": "string", "enum": list(ClientType.values)},
        "model": {"type": "string", "description": "A model id of the catalogue, like auto."},
        "messages": {"type": "integer", "minimum": 0, "default": 1},
    },
    "additionalProperties": False,
}
BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        EVENT_SCHEMA,
                        {
                            "type": "object",
                            "required": ["events"],
                            "properties": {"events": {"type": "array", "items": EVENT_SCHEMA, "maxItems": MAX_BATCH}},
                            "additionalProperties": False,
                        },
                    ]
                }
            }
        },
    }
}


def _invalid(detail) -> Status:
    return Status(422, {"detail": detail})


_ENCODER = json.JSONEncoder()  # what ninja's renderer writes for these plain values (strings, numbers, null)
JSON_TYPE = "application/json; charset=utf-8"


def _answer(status: int, data: dict) -> HttpResponse:
    """The JSON answer of `post_usage_events`, written directly: `data` is built to the declared schemas
    (`EventResultOut`, `BatchOut`) already, and validating it again costs as much as a batch's parsing."""
    return HttpResponse(_ENCODER.encode(data), status=status, content_type=JSON_TYPE)


@router.post(
    "/profiles/{profile_id}/usage-events",
    response={
        200: EventResultOut | BatchOut,
        201: EventResultOut,
        402: EventResultOut,
        403: EventResultOut | ErrorOut,
        409: EventResultOut,
        422: ErrorOut,
    },
    summary="Record usage: one event (201 accepted, 200 replay, 402, 403, 409, 422) or {events: [...]} (200)",
    openapi_extra=BODY,
)
@requires(Cap.METERING_POST)
def post_usage_events(request, profile_id: str):
    profile, settings = credit_selectors.metering_profile(profile_id)
    try:
        body = json_loads(request.body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # RecursionError: nested too deep
        return _invalid(f"The body is not valid JSON: {error}.")
    if not isinstance(body, dict):
        return _invalid('Send one event as a JSON object, or {"events": [...]}.')
    now = timezone.now()
    models = catalogue.model_codes()
    actor = api_actor(request)
    if "events" not in body:
        try:
            event = event_parse(body, now=now, models=models)
        except EventInvalid as error:
            return _invalid({error.field: [error.message]})
        result = usage_record_one(profile=profile, event=event, actor=actor, now=now, settings=settings)
        if result.invalid_field:  # an unknown user, or one of another directory
            return _invalid({"user_id" if event.user_id else "user_name": [result.detail]})
        return _answer(result.http_status, _out(result))
    extra = sorted(set(body) - {"events"})
    if extra:
        fields = ", ".join(FIELDS)
        return _invalid({extra[0]: [f'Not a field of a batch: send {{"events": [...]}}; {fields} go in each event.']})
    raws = body["events"]
    if not isinstance(raws, list) or not raws:
        return _invalid({"events": ["Send a list of 1 to 1,000 events."]})
    if len(raws) > MAX_BATCH:
        return _invalid({"events": [f"{len(raws):,} events: a batch holds at most {MAX_BATCH:,}."]})
    parsed: list[EventIn | services.Result] = []
    for raw in raws:
        try:
            parsed.append(event_parse(raw, now=now, models=models))
        except EventInvalid as error:
            key = raw.get("idempotency_key") if isinstance(raw, dict) else None
            parsed.append(services.Result.invalid(str(key or ""), error.field, f"{error.field}: {error.message}"))
    events = [item for item in parsed if isinstance(item, EventIn)]
    if settings is None:  # a profile this process knew: its settings, and that it still lives, read now
        settings = credit_selectors.metering_settings(profile_id)
        profile = settings.profile
    recorded = iter(
        services.usage_record(profile=profile, events=events, actor=actor, now=now, settings=settings) if events else []
    )
    results = [item if isinstance(item, services.Result) else next(recorded) for item in parsed]
    accepted = sum(result.status == "accepted" for result in results)
    return _answer(
        200, {"accepted": accepted, "rejected": len(results) - accepted, "results": [_out(r) for r in results]}
    )


@router.get(
    "/profiles/{profile_id}/entitlements/{user_id}",
    response=EntitlementOut,
    summary="What a user may use now: access, allowance, use, overage, caps, and the settings a client obeys",
)
@requires(Cap.ENTITLEMENTS_READ)
def get_entitlement(request, profile_id: str, user_id: UUID):
    profile = selectors.profile_by_id(profile_id)
    user = DirectoryUser.objects.filter(pk=user_id, identity_center_id=profile.identity_center_id).first()
    if user is None:
        raise Http404("No such user in this profile's directory.")
    e = services.entitlement_for(profile=profile, user=user)
    return {
        "entitled": e.entitled,
        "reason": e.reason or None,
        "status": e.status,
        "tier": e.tier,
        "next_tier": e.next_tier,
        "access_until": e.access_until,
        "month": e.month,
        "allowance": _money(e.allowance),
        "used": _money(e.used),
        "plan_used": _money(e.plan_used),
        "overage_enabled": e.overage_enabled,
        "overage_used": _money(e.overage_used),
        "overage_cap": _money(e.overage_cap),
        "shared_cap": _money(e.shared_cap),
        "shared_overage_used": _money(e.shared_overage_used),
        "remaining": _money(e.remaining),
        "settings": e.settings,
    }

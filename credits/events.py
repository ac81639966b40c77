"""Reading a usage event from its wire form (the API's JSON, a CSV or JSON Lines row) into a checked `EventIn`.

Every entry point uses `event_parse`, so the API, `import_usage` and the tests refuse exactly the same input with
the same messages. Credits are decimals with at most two places, never floats: the API parses JSON numbers as
`Decimal` from their text (`json_loads`), so `0.1` is exactly 0.1 and `0.123` is refused, not rounded.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.dateparse import parse_datetime

from credits.models import ClientType
from subscriptions.calendar import month_start

MAX_KEY_LENGTH = 128
MAX_CREDITS = Decimal("100000")  # far above any single interaction; more is a client's bug, not a use of Kiro
MAX_MESSAGES = 100_000
FUTURE_TOLERANCE = datetime.timedelta(minutes=5)
KEY_PATTERN = re.compile(r"^[\x21-\x7e]+\Z")  # printable ASCII, no spaces
FIELDS = ("idempotency_key", "user_id", "user_name", "credits", "occurred_at", "client_type", "model", "messages")
_FIELD_SET = frozenset(FIELDS)
_CENT = Decimal("0.01")
_CANONICAL = json.JSONEncoder(separators=(",", ":"))  # one encoder: json.dumps builds one a call with separators


class EventInvalid(Exception):
    """Bad input in one event: the field and a message a person can act on."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class EventIn:
    key: str
    user_id: uuid.UUID | None
    user_name: str | None
    credits: Decimal
    occurred_at: datetime.datetime | None  # as given; None: the time it is received
    client_type: str
    model: str
    messages: int
    payload_hash: str
    hundredths: int  # credits in hundredths, as balances count them

    def at(self, now: datetime.datetime) -> datetime.datetime:
        return self.occurred_at or now


def json_loads(text: str | bytes) -> Any:
    """JSON with its numbers as written: decimals as Decimal (never a float), integers as int."""
    return json.loads(text, parse_float=Decimal)


def _text(raw: Mapping[str, Any], field: str, required: bool = True) -> str | None:
    value = raw.get(field)
    if value is None or value == "":
        if required:
            raise EventInvalid(field, "is required.")
        return None
    if not isinstance(value, str):
        raise EventInvalid(field, "must be a string.")
    return value.strip()


def parse_credits(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None or value == "":
        raise EventInvalid("credits", "is required: a positive number with at most two decimals, like 1.25.")
    if isinstance(value, float):
        raise EventInvalid("credits", 'must be exact: send it as a decimal string, like "1.25".')
    try:
        credits = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise EventInvalid("credits", f"{value!r} is not a number.") from None
    if not credits.is_finite():
        raise EventInvalid("credits", f"{value!r} is not a number.")
    if credits <= 0:
        raise EventInvalid("credits", "must be more than 0 (the least an event can cost is 0.01).")
    if credits > MAX_CREDITS:  # first: quantizing 1e30 to 0.01 overflows the decimal context
        raise EventInvalid("credits", f"{value} is more than one event can cost ({MAX_CREDITS:,}).")
    cents = credits.quantize(_CENT)
    if credits != cents:
        raise EventInvalid("credits", f"{value} has more than two decimals: credits are metered to 0.01.")
    return cents


def parse_occurred_at(value: Any, now: datetime.datetime) -> datetime.datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise EventInvalid("occurred_at", "must be an ISO 8601 date and time with its zone, like 2026-11-27T15:04:05Z.")
    try:
        moment = parse_datetime(value.strip())
    except ValueError:
        moment = None
    if moment is None:
        raise EventInvalid("occurred_at", f"{value!r} is not an ISO 8601 date and time, like 2026-11-27T15:04:05Z.")
    if moment.tzinfo is None:
        raise EventInvalid("occurred_at", f"{value!r} has no time zone: add Z (UTC) or an offset like +01:00.")
    try:
        moment = moment.astimezone(datetime.UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise EventInvalid("occurred_at", f"{value!r} is out of range.") from None
    if moment > now + FUTURE_TOLERANCE:
        raise EventInvalid("occurred_at", f"{value} is in the future (more than 5 minutes from now).")
    earliest = _earliest(now)
    if moment < earliest:
        raise EventInvalid(
            "occurred_at", f"{value} is before {earliest:%Y-%m-%d}: events older than last month are not accepted."
        )
    return moment


@functools.lru_cache(maxsize=8)
def _earliest(now: datetime.datetime) -> datetime.datetime:
    """The start of the month before `now`'s: the oldest moment an event may have (a batch asks 1,000 times)."""
    return month_start(month_start(now) - datetime.timedelta(days=1))


CLIENT_TYPES = frozenset(ClientType.values)


def parse_client_type(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EventInvalid("client_type", f"is required: one of {', '.join(ClientType.values)}.")
    code = value.strip().upper()
    if code not in CLIENT_TYPES:
        raise EventInvalid("client_type", f"unknown client type {value!r}: use one of {', '.join(ClientType.values)}.")
    return code


def parse_messages(value: Any) -> int:
    if value is None or value == "":
        return 1
    if isinstance(value, bool):
        raise EventInvalid("messages", "must be a whole number.")
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():  # not "²"
        text = value.strip()
        value = int(text) if len(text) <= 9 else MAX_MESSAGES + 1  # int() refuses over 4,300 digits
    if not isinstance(value, int):
        raise EventInvalid("messages", f"{value!r} is not a whole number.")
    if not 0 <= value <= MAX_MESSAGES:
        raise EventInvalid("messages", f"must be between 0 and {MAX_MESSAGES:,}.")
    return value


def event_parse(raw: Any, *, now: datetime.datetime, models: frozenset[str]) -> EventIn:
    """The checked event of one wire object, or EventInvalid. `models` are the model codes of the catalogue."""
    if not isinstance(raw, Mapping):
        raise EventInvalid("event", "must be a JSON object.")
    unknown = None if _FIELD_SET.issuperset(raw) else sorted(set(raw) - _FIELD_SET)
    if unknown:
        raise EventInvalid(unknown[0], f"is not a field of a usage event (fields: {', '.join(FIELDS)}).")
    key = _text(raw, "idempotency_key")
    assert key is not None
    if len(key) > MAX_KEY_LENGTH:
        raise EventInvalid("idempotency_key", f"is {len(key)} characters long; at most {MAX_KEY_LENGTH}.")
    if not KEY_PATTERN.match(key):
        raise EventInvalid("idempotency_key", "may hold printable ASCII characters only, without spaces.")
    user_ref = _text(raw, "user_id", required=False)
    user_name = _text(raw, "user_name", required=False)
    user_id = None
    if user_ref is not None:
        try:
            user_id = uuid.UUID(user_ref)
        except ValueError:
            raise EventInvalid("user_id", f"{user_ref!r} is not a user id.") from None
        if user_name is not None:
            raise EventInvalid("user_id", "give user_id or user_name, not both.")
    elif user_name is None:
        raise EventInvalid("user_id", "is required (or user_name).")
    credits = parse_credits(raw.get("credits"))
    occurred_at = parse_occurred_at(raw.get("occurred_at"), now)
    client_type = parse_client_type(raw.get("client_type"))
    model = _text(raw, "model")
    assert model is not None
    if model.lower() not in models:
        raise EventInvalid("model", f"unknown model {model!r}: use a model id of the catalogue, like auto.")
    messages = parse_messages(raw.get("messages"))
    model = model.lower()
    canonical = _CANONICAL.encode(
        [
            key,
            str(user_id) if user_id else None,
            user_name.lower() if user_name else None,
            str(credits),
            occurred_at.isoformat() if occurred_at else None,
            client_type,
            model,
            messages,
        ]
    )
    return EventIn(
        key=key,
        user_id=user_id,
        user_name=user_name,
        credits=credits,
        occurred_at=occurred_at,
        client_type=client_type,
        model=model,
        messages=messages,
        payload_hash=hashlib.sha256(canonical.encode()).hexdigest(),
        hundredths=int(credits.scaleb(2)),
    )

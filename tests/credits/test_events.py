"""Bad input in a usage event: a clear message naming the field, nothing counted (issue 7 "Bad input")."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from credits.events import EventInvalid, event_parse, json_loads

NOW = datetime.datetime(2026, 11, 15, 12, 0, tzinfo=datetime.UTC)
MODELS = frozenset({"auto", "claude-sonnet-4.5"})
GOOD = {
    "idempotency_key": "k-1",
    "user_name": "ann",
    "credits": "1.25",
    "client_type": "KIRO_IDE",
    "model": "auto",
}


def parse(**changes):
    raw = {**GOOD, **changes}
    return event_parse({k: v for k, v in raw.items() if v is not ...}, now=NOW, models=MODELS)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"credits": "0"}, "credits", "must be more than 0"),
        ({"credits": "-1"}, "credits", "must be more than 0"),
        ({"credits": "0.001"}, "credits", "more than two decimals"),
        ({"credits": "1.234"}, "credits", "more than two decimals"),
        ({"credits": 0.1}, "credits", "must be exact"),
        ({"credits": "1e9"}, "credits", "more than one event can cost"),
        ({"credits": "NaN"}, "credits", "is not a number"),
        ({"credits": "lots"}, "credits", "is not a number"),
        ({"credits": True}, "credits", "is required"),
        ({"credits": ...}, "credits", "is required"),
        ({"idempotency_key": ...}, "idempotency_key", "is required"),
        ({"idempotency_key": "k" * 129}, "idempotency_key", "129 characters long; at most 128"),
        ({"idempotency_key": "has space"}, "idempotency_key", "printable ASCII"),
        ({"user_name": ...}, "user_id", "is required"),
        ({"user_name": ..., "user_id": "not-a-uuid"}, "user_id", "is not a user id"),
        ({"client_type": "VSCODE"}, "client_type", "unknown client type 'VSCODE'"),
        ({"client_type": ...}, "client_type", "is required"),
        ({"model": "gpt-9"}, "model", "unknown model 'gpt-9'"),
        ({"occurred_at": "2026-11-15T10:00:00"}, "occurred_at", "has no time zone"),
        ({"occurred_at": "2026-11-15T12:06:00Z"}, "occurred_at", "is in the future"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at", "is in the future"),
        ({"occurred_at": "2026-09-30T23:59:59Z"}, "occurred_at", "older than last month"),
        ({"occurred_at": "yesterday"}, "occurred_at", "is not an ISO 8601"),
        ({"messages": -1}, "messages", "between 0 and"),
        ({"messages": "two"}, "messages", "is not a whole number"),
        ({"colour": "red"}, "colour", "is not a field of a usage event"),
    ],
)
def test_bad_events_are_refused_with_the_field_and_a_message(changes, field, message):
    with pytest.raises(EventInvalid) as error:
        parse(**changes)
    assert error.value.field == field
    assert message in error.value.message


def test_json_numbers_are_read_as_exact_decimals():
    raw = json_loads('{"credits": 0.1, "messages": 3}')
    assert raw["credits"] == Decimal("0.1") and isinstance(raw["credits"], Decimal)
    assert parse(credits=raw["credits"]).credits == Decimal("0.10")
    with pytest.raises(EventInvalid):
        parse(credits=json_loads('{"c": 0.30000000000000004}')["c"])


def test_a_good_event_is_normalised():
    event = parse(client_type="kiro_cli", model="Auto", occurred_at="2026-11-15T13:00:00+01:00", credits=2)
    assert (event.client_type, event.model, event.credits) == ("KIRO_CLI", "auto", Decimal("2.00"))
    assert event.occurred_at == datetime.datetime(2026, 11, 15, 12, 0, tzinfo=datetime.UTC)
    assert event.messages == 1


def test_the_payload_hash_tells_replays_from_other_payloads():
    assert parse().payload_hash == parse(credits="1.250").payload_hash  # the same amount, written otherwise
    assert parse().payload_hash != parse(credits="1.26").payload_hash
    assert parse().payload_hash == parse(user_name="ANN").payload_hash

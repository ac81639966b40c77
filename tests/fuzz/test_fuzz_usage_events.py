"""Fuzzing `POST /api/v1/profiles/{id}/usage-events` (issue 9; CONTRACTS.md "JSON API") with a metering token:
single events and batches whose every field may be of any JSON type, huge numbers, NaN and Infinity as JSON text,
Unicode keys, deep nesting, bodies that are no JSON. Never a 500: bad input is a 422 (a single event) or a rejected
result with its reason (in a batch). Examples are not rolled back: keys repeat across them (replays, conflicts) and
allowances run out, as in production; and after every example the books agree: balances equal the accepted events
(`balance_mismatches`) and the rollups the events (`rollups_differences`).
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from credits.models import UsageEvent
from credits.selectors import balance_mismatches
from credits.services.rollups import rollups_differences
from kiroconsole.models import AuditEvent
from subscriptions.services import profile_settings_update
from tests.credits.conftest import metered  # noqa: F401  (a fixture)
from tests.fuzz.conftest import examples
from tests.subscriptions.conftest import ACTOR, clock, org  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

FUZZ = settings.get_profile("fuzz")
SINGLE_STATUSES = {200, 201, 402, 403, 409, 422}
FIELDS = ("idempotency_key", "user_id", "user_name", "credits", "occurred_at", "client_type", "model", "messages")


class Raw(str):
    """A JSON value written as is into the body (NaN, 1e400, 0.1: text json.dumps would not write)."""


RAW_NUMBERS = (
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1e30",
    "1E2",
    "0.1",
    "1.005",
    "0.001",
    "-0",
    "0",
    "12345678901234567890123456789012345",
    "1" + "0" * 4400,  # more digits than int() converts
    "1." + "0" * 50 + "1",
)


def dumps(value: Any) -> str:
    """JSON text of `value`, with every Raw written as is."""
    raws: dict[str, str] = {}
    counter = itertools.count()

    def swap(item: Any) -> Any:
        if isinstance(item, Raw):
            marker = f"@@raw{next(counter)}@@"
            raws[marker] = str(item)
            return marker
        if isinstance(item, dict):
            return {swap(k) if isinstance(k, Raw) else k: swap(v) for k, v in item.items()}
        if isinstance(item, list):
            return [swap(v) for v in item]
        return item

    text = json.dumps(swap(value), ensure_ascii=False)
    for marker, raw in raws.items():
        text = text.replace(f'"{marker}"', raw)
    return text


TEXT = st.text(max_size=16)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(RAW_NUMBERS).map(Raw),
    st.sampled_from(("", " ", "True", "False", "NaN", "Infinity", "1e30", "-1", "²", "١٢", "9" * 5000, "x" * 200)),
    TEXT,
)
ANY_JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6
)


def valid_fields(users: dict[str, Any]) -> dict[str, st.SearchStrategy[Any]]:
    ids = [str(user.pk) for user in users.values()]
    return {
        "idempotency_key": st.one_of(
            st.sampled_from([f"k-{i}" for i in range(8)]),
            st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=130),
        ),
        "user_id": st.sampled_from([*ids, str(uuid.UUID(int=0)), "not-a-uuid"]),
        "user_name": st.sampled_from(("ann", "bob", "BOB", "cat", "dan", "zed")),
        "credits": st.one_of(
            st.sampled_from(("1", "0.01", "2.50", "999.99", "100000", "100000.01", " 3 ")),
            st.sampled_from(("0.5", "1", "12.25")).map(Raw),
            st.integers(1, 50),
        ),
        "occurred_at": st.sampled_from(
            (
                None,
                "2026-11-15T11:00:00Z",
                "2026-11-01T00:00:00+01:00",
                "2026-10-01T00:00:00Z",
                "2026-09-30T23:59:59Z",
                "2026-11-15T12:06:00Z",
                "2026-11-15T11:00:00",
                "0001-01-01T00:00:00+01:00",
                "9999-12-31T23:59:59-01:00",
                "2026-02-30T00:00:00Z",
            )
        ),
        "client_type": st.sampled_from(("KIRO_IDE", "KIRO_CLI", "kiro_ide", " KIRO_CLI ", "KIRO_WEB")),
        "model": st.sampled_from(("auto", "AUTO", "claude-sonnet-4.5", "claude-opus-4.5", "gpt-5")),
        "messages": st.sampled_from((1, 0, 3, "4", 100_000, 100_001, -1, "²", True, None)),
    }


def clean_fields(users: dict[str, Any]) -> dict[str, st.SearchStrategy[Any]]:
    """Values the API accepts: so that events are accepted too, and replays and conflicts happen."""
    return {
        "idempotency_key": st.sampled_from([f"k-{i}" for i in range(12)]),
        "user_id": st.sampled_from([str(users[name].pk) for name in ("ann", "bob")]),
        "user_name": st.sampled_from(("ann", "bob", "BOB")),
        "credits": st.one_of(st.sampled_from(("1", "0.01", "2.50", "40")), st.just(Raw("0.5")), st.integers(1, 9)),
        "occurred_at": st.sampled_from((None, "2026-11-15T11:00:00Z", "2026-11-01T00:00:00+01:00")),
        "client_type": st.sampled_from(("KIRO_IDE", "KIRO_CLI", "kiro_cli")),
        "model": st.sampled_from(("auto", "claude-sonnet-4.5")),
        "messages": st.sampled_from((1, 0, 3, "4", None)),
    }


@st.composite
def events(draw: st.DrawFn, users: dict[str, Any]) -> Any:
    """One event: each field valid-looking or of any JSON type, now and then left out or joined by another key;
    or, half the time, an event of valid values."""
    if draw(st.booleans()):
        clean = clean_fields(users)
        who = draw(st.sampled_from(("user_id", "user_name")))
        return {field: draw(clean[field]) for field in FIELDS if field not in ("user_id", "user_name") or field == who}
    valid = valid_fields(users)
    raw: dict[Any, Any] = {}
    for field in FIELDS:
        if field in ("user_id", "user_name"):
            continue
        choice = draw(st.integers(0, 9))
        if choice == 0:
            continue  # left out
        raw[field] = draw(ANY_JSON) if choice == 1 else draw(valid[field])
    who = draw(st.sampled_from(("user_id", "user_name", "user_name", "both", "neither")))
    for field in ("user_id", "user_name") if who == "both" else () if who == "neither" else (who,):
        raw[field] = draw(valid[field])
    if draw(st.integers(0, 9)) == 0:
        raw[draw(st.sampled_from(("extra", "événement", "😀", "Credits", "events", "")))] = draw(ANY_JSON)
    if draw(st.integers(0, 19)) == 0:
        return draw(ANY_JSON)  # not an event at all
    return raw


@st.composite
def bodies(draw: st.DrawFn, users: dict[str, Any]) -> tuple[str, str]:
    """(kind, JSON text) of a request body."""
    kind = draw(st.sampled_from(("single",) * 5 + ("batch",) * 4 + ("other", "raw")))
    if kind == "single":
        return kind, dumps(draw(events(users)))
    if kind == "batch":
        body: dict[str, Any] = {"events": draw(st.lists(events(users), min_size=1, max_size=8))}
        if draw(st.integers(0, 9)) == 0:
            body[draw(st.sampled_from(("extra", "idempotency_key")))] = draw(ANY_JSON)
        if draw(st.integers(0, 9)) == 0:
            body["events"] = draw(st.one_of(ANY_JSON, st.just([])))
        return kind, dumps(body)
    if kind == "other":
        return kind, dumps(draw(ANY_JSON))
    return kind, draw(
        st.sampled_from(
            (
                "",
                "{",
                "[" * 100_000,
                '{"events": ' + "[" * 50_000 + "]" * 50_000 + "}",
                '{"idempotency_key": "k", "credits": NaN}',
                "\xff\xfe",
                "null",
                '{"events": null}',
                '{"credits": 1' + "0" * 5000 + "}",
            )
        )
    )


def post(client, profile, text: str):
    return client.generic(
        "POST", f"/api/v1/profiles/{profile.profile_id}/usage-events", data=text, content_type="application/json"
    )


def check_answer(kind: str, response) -> str:
    """The contract's answer for the body: never a 500; 422 with a detail, or results with a status and, when
    rejected, a reason. Returns a label of the outcome."""
    status = response.status_code
    assert status < 500, response.content
    body = response.json()
    if status == 422:
        assert body["detail"], body
        return "422"
    if "results" in body:
        assert status == 200, (status, body)
        results = body["results"]
        assert body["accepted"] + body["rejected"] == len(results)
        for result in results:
            assert result["status"] in ("accepted", "rejected"), result
            if result["status"] == "rejected":
                assert result["reason"] or result["field"], result
        return "batch"
    assert status in SINGLE_STATUSES, (status, body)
    assert body["status"] in ("accepted", "rejected"), body
    if status == 201:
        assert body["status"] == "accepted" and not body["replayed"]
    if body["status"] == "rejected":
        assert body["reason"], body
    return f"single {status}"


@pytest.fixture
def world(metered, clock):  # noqa: F811  (the fixtures imported above)
    """ann at Pro and bob at Pro+ in Production (now 2026-11-15 12:00 UTC), overage on with a shared cap."""
    profile_settings_update(profile=metered.profile, changes={"overage_enabled": True}, actor=ACTOR)
    return metered


@settings(FUZZ, max_examples=examples(50))
@given(data=st.data())
def test_usage_events_never_answer_500_and_the_books_agree(world, metering_client, data):
    kind, text = data.draw(bodies(world.users), label="body")
    event(check_answer(kind, post(metering_client, world.profile, text)))
    assert balance_mismatches() == []
    assert rollups_differences() == []


def test_a_batch_of_1001_events_is_refused_whole(world, metering_client):
    ann = world.users["ann"]
    raw = {"user_id": str(ann.pk), "credits": "0.01", "client_type": "KIRO_IDE", "model": "auto"}
    batch = {"events": [{"idempotency_key": f"big-{i}", **raw} for i in range(1001)]}
    events_before, audit_before = UsageEvent.objects.count(), AuditEvent.objects.count()
    response = post(metering_client, world.profile, json.dumps(batch))
    assert response.status_code == 422
    assert "at most 1,000" in response.json()["detail"]["events"][0]
    assert (UsageEvent.objects.count(), AuditEvent.objects.count()) == (events_before, audit_before)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("credits", Raw("1e30")),  # quantizing it overflowed the decimal context: a 500
        ("credits", "1e30"),
        ("messages", "²"),  # a digit to str.isdigit, not to int(): a 500
        ("messages", "9" * 5000),  # more digits than int() converts: a 500
        ("occurred_at", "0001-01-01T00:00:00+01:00"),  # before year 1 in UTC: an OverflowError, a 500
        ("occurred_at", "9999-12-31T23:59:59-01:00"),
    ],
)
def test_what_the_fuzzing_found_is_a_422(world, metering_client, field, value):
    raw = {"idempotency_key": "found", "user_name": "ann", "credits": "1", "client_type": "KIRO_IDE", "model": "auto"}
    response = post(metering_client, world.profile, dumps(raw | {field: value}))
    assert response.status_code == 422, response.content
    assert list(response.json()["detail"]) == [field]


def test_a_body_nested_too_deep_is_a_422(world, metering_client):
    response = post(metering_client, world.profile, "[" * 100_000)  # a RecursionError in the decoder: a 500
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["detail"]

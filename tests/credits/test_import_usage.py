"""import_usage (CONTRACTS.md; issue 7 item 8): usage events from CSV or JSON Lines under the API's rules; every
issue printed as `FILE:LINE: COLUMN: message`; a bad row, an unknown user or a row that would be rejected means
nothing is written; a second import of the same file changes nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from credits import importers
from credits.models import Balance, Notification, Outcome, ProfileBalance, UsageEvent
from credits.selectors import balance_mismatches
from credits.services import group_assignment_set_overage_cap, subscription_set_overage_cap
from directory import services as directory
from kiroconsole.models import AuditEvent
from subscriptions.models import GroupAssignment, Subscription
from subscriptions.services import (
    group_assign,
    profile_settings_update,
    subscription_subscribe,
    subscription_unsubscribe,
)
from tests.credits.conftest import ACTOR
from tests.factories import IdentityCenterFactory

pytestmark = pytest.mark.django_db

HEADER = "idempotency_key,user_name,credits,occurred_at,client_type,model,messages\n"
GOOD = (
    HEADER
    + "oct-1,ann,250.50,2026-10-03T09:15:00Z,KIRO_IDE,auto,4\n"
    + "oct-2,bob,100,2026-10-20T17:00:00+02:00,KIRO_CLI,claude-sonnet-4.5,\n"
    + "nov-1,ANN,600,2026-11-02T08:00:00Z,kiro_ide,Claude-Haiku-4.5,12\n"
    + "nov-2,bob,0.01,2026-11-15T12:04:00Z,KIRO_IDE,auto,1\n"
)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def usage(org, clock):
    """`org` (now 2026-11-15 12:00 UTC) with ann at Pro (1,000 credits) and bob at Pro+ (2,000) in Production since
    October 1st, so that last month's events are theirs too."""
    clock.set(2026, 10, 1)
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=org.users["bob"], tier="PRO_PLUS", actor=ACTOR)
    clock.set(2026, 11, 15, 12, 0)
    return org


def write(name: str, text: str) -> str:
    with open(name, "w", encoding="utf-8", newline="") as file:
        file.write(text)
    return name


def jsonl(*rows: dict | str) -> str:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


def run(*args: str, profile=None, verbosity: int = 1) -> tuple[int, str, list[str]]:
    out, err = StringIO(), StringIO()
    try:
        call_command("import_usage", *args, stdout=out, stderr=err, verbosity=verbosity)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue().splitlines()
    return 0, out.getvalue(), err.getvalue().splitlines()


def state() -> tuple:
    return (
        sorted(map(str, UsageEvent.objects.values_list())),
        sorted(map(str, Balance.objects.values_list())),
        sorted(map(str, ProfileBalance.objects.values_list())),
        sorted(map(str, Subscription.objects.values_list())),
        Notification.objects.count(),
        AuditEvent.objects.count(),
    )


def refused(org, text: str, name: str = "usage.csv") -> list[str]:
    """Import a file that must be refused: exit 1, nothing written at all; the error lines."""
    write(name, text)
    before = state()
    status, out, errors = run(name, "--profile", org.profile.profile_id)
    assert (status, out) == (1, "")
    assert state() == before
    return errors


def used(org, name: str, month: str) -> tuple[Decimal, Decimal]:
    b = Balance.objects.get(subscription__profile=org.profile, subscription__user=org.users[name], month=month)
    return b.plan_used, b.overage_used


def test_a_csv_file_is_recorded_under_the_api_rules(usage):
    write("usage.csv", GOOD)
    status, out, errors = run("usage.csv", "--profile", usage.profile.profile_id)
    assert (status, out, errors) == (0, "accepted 4 (plan credits 950.51, overage credits 0.00), unchanged 0\n", [])
    events = {e.idempotency_key: e for e in UsageEvent.objects.filter(profile=usage.profile)}
    assert set(events) == {"oct-1", "oct-2", "nov-1", "nov-2"}
    oct2, nov1 = events["oct-2"], events["nov-1"]
    assert (oct2.client_type, oct2.model, oct2.messages, oct2.occurred_at.isoformat()) == (
        "KIRO_CLI",
        "claude-sonnet-4.5",
        1,  # an empty messages cell: one message, as in the API
        "2026-10-20T15:00:00+00:00",
    )
    assert (nov1.user.user_name, nov1.client_type, nov1.model, nov1.messages) == (
        "ann",
        "KIRO_IDE",
        "claude-haiku-4.5",
        12,
    )
    assert {(e.outcome, e.source, e.recorded_by) for e in events.values()} == {
        (Outcome.PLAN, "command", "manage.py import_usage")
    }
    assert used(usage, "ann", "2026-10-01") == (Decimal("250.50"), 0)
    assert used(usage, "ann", "2026-11-01") == (Decimal("600.00"), 0)
    assert used(usage, "bob", "2026-11-01") == (Decimal("0.01"), 0)
    assert balance_mismatches() == []
    ann = Subscription.objects.get(profile=usage.profile, user=usage.users["ann"])
    assert (ann.status, ann.last_active_at.isoformat()) == ("ACTIVE", "2026-11-02T08:00:00+00:00")
    # ann crossed 50% of November's allowance: the same alert as through the API.
    assert list(Notification.objects.values_list("threshold", flat=True)) == [50]


def test_a_subscription_is_active_from_its_first_imported_event(usage):
    write("usage.csv", GOOD)
    assert run("usage.csv", "--profile", usage.profile.profile_id)[0] == 0
    ann = Subscription.objects.get(profile=usage.profile, user=usage.users["ann"])
    assert ann.activated_at.isoformat() == "2026-10-03T09:15:00+00:00"  # so October is billed


def test_a_json_lines_file_reads_numbers_exactly_and_counts_overage(usage):
    profile_settings_update(profile=usage.profile, changes={"overage_enabled": True}, actor=ACTOR)
    write(
        "usage.jsonl",
        jsonl(
            '{"idempotency_key": "j-1", "user_name": "ann", "credits": 999.9, "occurred_at": "2026-11-01T00:00:00Z",'
            ' "client_type": "KIRO_IDE", "model": "auto"}',
            "",  # blank lines are skipped
            {
                "idempotency_key": "j-2",
                "user_name": "ann",
                "credits": "0.1",
                "occurred_at": "2026-11-02T10:00:00Z",
                "client_type": "KIRO_CLI",
                "model": "auto",
                "messages": 3,
            },
            '{"idempotency_key": "j-3", "user_name": "ann", "credits": 0.3, "occurred_at": "2026-11-03T10:00:00Z",'
            ' "client_type": "KIRO_CLI", "model": "claude-sonnet-4.5", "messages": 2}',
        ),
    )
    status, out, errors = run("usage.jsonl", "--profile", usage.profile.profile_id)
    assert (status, out, errors) == (0, "accepted 3 (plan credits 1000.00, overage credits 0.30), unchanged 0\n", [])
    assert used(usage, "ann", "2026-11-01") == (Decimal("1000.00"), Decimal("0.30"))
    assert ProfileBalance.objects.get(profile=usage.profile).overage_used == Decimal("0.30")
    assert UsageEvent.objects.get(idempotency_key="j-3").outcome == Outcome.OVERAGE
    assert balance_mismatches() == []


def test_importing_the_same_file_twice_changes_nothing_the_second_time(usage):
    write("usage.csv", GOOD)
    assert run("usage.csv", "--profile", usage.profile.profile_id)[0] == 0
    before = state()[:5]
    status, out, errors = run("usage.csv", "--profile", usage.profile.profile_id)
    assert (status, out, errors) == (0, "accepted 0 (plan credits 0.00, overage credits 0.00), unchanged 4\n", [])
    assert state()[:5] == before
    assert AuditEvent.objects.filter(action="usage.import").count() == 2
    # A file that adds to the first: the known keys are unchanged, the new one is recorded.
    write("more.csv", GOOD + "nov-3,bob,5,2026-11-15T11:00:00Z,KIRO_CLI,auto,1\n")
    status, out, _ = run("more.csv", "--profile", usage.profile.profile_id)
    assert (status, out) == (0, "accepted 1 (plan credits 5.00, overage credits 0.00), unchanged 4\n")


def test_a_key_repeated_with_the_same_payload_in_the_file_is_unchanged(usage):
    write("usage.csv", HEADER + "k-1,ann,1,2026-11-10T09:00:00Z,KIRO_IDE,auto,1\n" * 2)
    assert run("usage.csv", "--profile", usage.profile.profile_id)[:2] == (
        0,
        "accepted 1 (plan credits 1.00, overage credits 0.00), unchanged 1\n",
    )
    assert used(usage, "ann", "2026-11-01") == (Decimal("1.00"), 0)


def test_the_import_is_audited_as_the_command_on_the_profile(usage):
    write("usage.csv", GOOD)
    assert run("usage.csv", "--profile", usage.profile.profile_id)[0] == 0
    event = AuditEvent.objects.get(action="usage.import")
    assert (event.source, event.actor_label, event.target_type, event.target_id) == (
        "command",
        "manage.py import_usage",
        "profile",
        str(usage.profile.pk),
    )
    assert {k: v for k, v in event.after.items() if k != "sha256"} == {
        "file": "usage.csv",
        "accepted": 4,
        "plan_credits": "950.51",
        "overage_credits": "0.00",
        "unchanged": 0,
    }
    assert len(event.after["sha256"]) == 64


def row(**values: str) -> str:
    good = {
        "idempotency_key": "k-1",
        "user_name": "ann",
        "credits": "1",
        "occurred_at": "2026-11-10T09:00:00Z",
        "client_type": "KIRO_IDE",
        "model": "auto",
        "messages": "1",
    }
    return HEADER + ",".join(values.get(column, value) for column, value in good.items()) + "\n"


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"credits": "0"}, "credits: must be more than 0 (the least an event can cost is 0.01)."),
        ({"credits": "-5"}, "credits: must be more than 0 (the least an event can cost is 0.01)."),
        ({"credits": "1.005"}, "credits: 1.005 has more than two decimals: credits are metered to 0.01."),
        (
            {"credits": "0.30000000000000004"},
            "credits: 0.30000000000000004 has more than two decimals: credits are metered to 0.01.",
        ),
        ({"credits": "1e9"}, "credits: 1e9 is more than one event can cost (100,000)."),
        ({"credits": "lots"}, "credits: 'lots' is not a number."),
        ({"credits": ""}, "credits: is required: a positive number with at most two decimals, like 1.25."),
        ({"user_name": "mallory"}, "user_name: No user named 'mallory' in this profile's directory."),
        ({"user_name": ""}, "user_name: is required."),
        ({"idempotency_key": ""}, "idempotency_key: is required."),
        ({"idempotency_key": "k" * 129}, "idempotency_key: is 129 characters long; at most 128."),
        ({"idempotency_key": "a key"}, "idempotency_key: may hold printable ASCII characters only, without spaces."),
        ({"client_type": "VSCODE"}, "client_type: unknown client type 'VSCODE': use one of KIRO_IDE, KIRO_CLI."),
        (
            {"occurred_at": "2026-11-10T09:00:00"},
            "occurred_at: '2026-11-10T09:00:00' has no time zone: add Z (UTC) or an offset like +01:00.",
        ),
        (
            {"occurred_at": "2027-01-01T00:00:00Z"},
            "occurred_at: 2027-01-01T00:00:00Z is in the future (more than 5 minutes from now).",
        ),
        (
            {"occurred_at": "2026-09-30T23:59:59Z"},
            "occurred_at: 2026-09-30T23:59:59Z is before 2026-10-01: events older than last month are not accepted.",
        ),
        (
            {"occurred_at": "yesterday"},
            "occurred_at: 'yesterday' is not an ISO 8601 date and time, like 2026-11-27T15:04:05Z.",
        ),
        ({"occurred_at": ""}, "occurred_at: is required: a date and time with its zone, like 2026-11-27T15:04:05Z."),
        ({"model": "gpt-9"}, "model: unknown model 'gpt-9': use a model id of the catalogue, like auto."),
        ({"messages": "-1"}, "messages: '-1' is not a whole number."),
    ],
)
def test_each_bad_value_is_an_exact_error_and_nothing_is_written(usage, values, error):
    assert refused(usage, row(**values)) == [f"usage.csv:2: {error}"]


def test_a_user_of_another_directory_is_unknown(usage):
    elsewhere = IdentityCenterFactory()
    directory.directory_user_create(
        identity_center=elsewhere,
        actor=ACTOR,
        user_name="eve",
        display_name="Eve",
        given_name="Eve",
        family_name="Elsewhere",
        email="eve@example.com",
    )
    assert refused(usage, row(user_name="eve")) == [
        "usage.csv:2: user_name: No user named 'eve' in this profile's directory."
    ]


def test_every_bad_column_of_a_row_and_every_bad_row_is_reported_in_line_order(usage):
    text = (
        HEADER
        + "ok-1,ann,1,2026-11-10T09:00:00Z,KIRO_IDE,auto,1\n"  # a good row: not written either
        + ",ann,0,2026-11-10T09:00:00,IDE,gpt-9,x\n"
        + "ok-2,nobody,1,2026-11-10T09:00:00Z,KIRO_IDE,auto,1\n"
        + "ok-3,bob\n"
        + "ok-4,cat,1,2026-11-10T09:00:00Z,KIRO_IDE,auto,1\n"
    )
    assert refused(usage, text) == [
        "usage.csv:3: idempotency_key: is required.",
        "usage.csv:3: credits: must be more than 0 (the least an event can cost is 0.01).",
        "usage.csv:3: occurred_at: '2026-11-10T09:00:00' has no time zone: add Z (UTC) or an offset like +01:00.",
        "usage.csv:3: client_type: unknown client type 'IDE': use one of KIRO_IDE, KIRO_CLI.",
        "usage.csv:3: model: unknown model 'gpt-9': use a model id of the catalogue, like auto.",
        "usage.csv:3: messages: 'x' is not a whole number.",
        "usage.csv:4: user_name: No user named 'nobody' in this profile's directory.",
        "usage.csv:5: -: expected 7 fields separated by commas, found 2",
        "usage.csv:6: user_name: would be rejected (not_subscribed): The user has no subscription in this profile.",
    ]


def test_json_lines_errors_name_the_line_and_field(usage):
    good = {
        "idempotency_key": "j-1",
        "user_name": "ann",
        "credits": "1",
        "occurred_at": "2026-11-10T09:00:00Z",
        "client_type": "KIRO_IDE",
        "model": "auto",
    }
    text = jsonl(
        good,
        '{"idempotency_key": "j-2", "user_name": "ann"',
        "[1, 2]",
        {**good, "idempotency_key": "j-3", "user_id": "8a1e6f9e-0000-4000-8000-000000000000"},
        {**good, "idempotency_key": "j-4", "credits": 0.125},
        {**good, "idempotency_key": "j-5", "credits": 1e-3},
        {**good, "idempotency_key": "j-6", "credits": True},
        {**good, "idempotency_key": "j-7", "user_name": 7, "messages": 1.5},
        {k: v for k, v in good.items() if k != "client_type"} | {"idempotency_key": "j-8"},
    )
    assert refused(usage, text, "usage.jsonl") == [
        "usage.jsonl:2: -: invalid JSON: Expecting ',' delimiter (character 46)",
        'usage.jsonl:3: -: expected a JSON object, like {"idempotency_key": "...", ...}',
        "usage.jsonl:4: user_id: unknown field: the fields are idempotency_key, user_name, credits, occurred_at, "
        "client_type, model or messages",
        "usage.jsonl:5: credits: 0.125 has more than two decimals: credits are metered to 0.01.",
        "usage.jsonl:6: credits: 0.001 has more than two decimals: credits are metered to 0.01.",
        "usage.jsonl:7: credits: is required: a positive number with at most two decimals, like 1.25.",
        "usage.jsonl:8: user_name: must be a string.",
        "usage.jsonl:8: messages: Decimal('1.5') is not a whole number.",
        "usage.jsonl:9: client_type: is required: one of KIRO_IDE, KIRO_CLI.",
    ]


def test_a_key_reused_with_another_payload_is_an_error(usage):
    write("first.csv", row())
    assert run("first.csv", "--profile", usage.profile.profile_id)[0] == 0
    text = (
        HEADER
        + "k-1,ann,2,2026-11-10T09:00:00Z,KIRO_IDE,auto,1\n"  # k-1 was 1 credit
        + "k-2,ann,1,2026-11-10T09:00:00Z,KIRO_IDE,auto,1\n"
        + "k-2,ann,3,2026-11-10T09:00:00Z,KIRO_IDE,auto,1\n"
    )
    errors = refused(usage, text)
    assert errors == [
        "usage.csv:2: idempotency_key: 'k-1' was recorded before with another payload: use a new key",
        "usage.csv:4: idempotency_key: 'k-2' is already on line 3 with another payload: use a new key",
    ]


def test_rows_that_would_be_rejected_are_reported_and_nothing_is_written(usage, clock):
    profile = usage.profile
    clock.set(2026, 10, 1)
    subscription_subscribe(profile=profile, users=usage.users["cat"], tier="PRO", actor=ACTOR)
    subscription_unsubscribe(profile=profile, users=usage.users["cat"], actor=ACTOR)  # access until November 1st
    clock.set(2026, 11, 15, 12, 0)
    profile_settings_update(
        profile=profile,
        changes={"model_availability": "approved", "approved_models": ["auto", "claude-haiku-4.5"]},
        actor=ACTOR,
    )
    text = (
        HEADER
        + "r-1,ann,990,2026-11-02T09:00:00Z,KIRO_IDE,auto,1\n"  # fits: accepted (but not written: see below)
        + "r-2,ann,20,2026-11-03T09:00:00Z,KIRO_IDE,auto,1\n"  # past the allowance, overage off
        + "r-3,ann,10,2026-11-04T09:00:00Z,KIRO_IDE,auto,1\n"  # fits again: an event is never split
        + "r-4,cat,1,2026-10-31T23:59:59Z,KIRO_IDE,auto,1\n"  # canceled, but October is still its month
        + "r-5,cat,1,2026-11-01T00:00:00Z,KIRO_IDE,auto,1\n"  # access ended on the 1st
        + "r-6,dan,1,2026-11-05T09:00:00Z,KIRO_IDE,auto,1\n"  # deactivated
        + "r-7,bob,1,2026-11-05T09:00:00Z,KIRO_CLI,claude-opus-4.5,1\n"  # not approved here
        + "r-8,bob,1,2026-09-30T23:59:59+00:00,KIRO_CLI,auto,1\n"  # too old: bad input, not a rejection
    )
    assert refused(usage, text) == [
        "usage.csv:3: credits: would be rejected (allowance_exhausted): The month's credits are used up and overage "
        "is off.",
        "usage.csv:6: user_name: would be rejected (access_ended): The subscription was canceled and its access has "
        "ended.",
        "usage.csv:7: user_name: would be rejected (user_inactive): The user is deactivated or deleted in the "
        "directory.",
        "usage.csv:8: model: would be rejected (model_not_approved): The model is not approved in this profile.",
        "usage.csv:9: occurred_at: 2026-09-30T23:59:59+00:00 is before 2026-10-01: events older than last month are "
        "not accepted.",
    ]
    assert not UsageEvent.objects.exists() and not Balance.objects.exists() and not Notification.objects.exists()
    assert set(Subscription.objects.filter(profile=profile).values_list("status", flat=True)) == {
        "PENDING",
        "CANCELED",
    }


def test_caps_and_events_before_the_subscription_are_rejections_too(usage, clock):
    profile = usage.profile
    profile_settings_update(profile=profile, changes={"overage_enabled": True, "overage_shared_cap": "20"}, actor=ACTOR)
    group_assign(profile=profile, group=usage.groups["Research"], tier="PRO", actor=ACTOR)  # cat joins today
    research = GroupAssignment.objects.get(profile=profile, group=usage.groups["Research"])
    group_assignment_set_overage_cap(assignment=research, cap="10", actor=ACTOR)  # bob is in Research
    ann = Subscription.objects.get(profile=profile, user=usage.users["ann"])
    subscription_set_overage_cap(subscription=ann, cap="5", actor=ACTOR)
    text = (
        HEADER
        + "c-1,ann,1000,2026-11-02T09:00:00Z,KIRO_IDE,auto,1\n"
        + "c-2,bob,2000,2026-11-02T09:00:00Z,KIRO_IDE,auto,1\n"
        + "c-3,ann,6,2026-11-03T09:00:00Z,KIRO_IDE,auto,1\n"  # over ann's own cap of 5
        + "c-4,bob,11,2026-11-03T09:00:00Z,KIRO_IDE,auto,1\n"  # over Research's cap of 10
        + "c-5,bob,10,2026-11-03T10:00:00Z,KIRO_IDE,auto,1\n"  # overage: 10 of the shared 20
        + "c-6,ann,5,2026-11-03T11:00:00Z,KIRO_IDE,auto,1\n"  # overage: 15 of 20
        + "c-7,cat,1000,2026-11-15T12:01:00Z,KIRO_IDE,auto,1\n"
        + "c-8,cat,6,2026-11-15T12:02:00Z,KIRO_IDE,auto,1\n"  # within Research's 10, past the shared 20
        + "c-9,cat,1,2026-11-14T09:00:00Z,KIRO_IDE,auto,1\n"  # before cat was subscribed
    )
    assert refused(usage, text) == [
        "usage.csv:4: credits: would be rejected (user_cap_reached): The user's overage cap would be exceeded.",
        "usage.csv:5: credits: would be rejected (group_cap_reached): The group overage cap would be exceeded.",
        "usage.csv:9: credits: would be rejected (shared_cap_reached): The profile's shared overage cap would be "
        "exceeded.",
        "usage.csv:10: occurred_at: would be rejected (not_yet_subscribed): The user was not subscribed yet when the "
        "event occurred.",
    ]
    assert not UsageEvent.objects.exists() and not ProfileBalance.objects.exists()


def test_dry_run_tells_what_would_be_recorded_and_writes_nothing(usage):
    write("usage.csv", GOOD)
    before = state()
    assert run("usage.csv", "--profile", usage.profile.profile_id, "--dry-run") == (
        0,
        "would accept 4 (plan credits 950.51, overage credits 0.00), unchanged 0\n",
        [],
    )
    assert state() == before
    assert run("usage.csv", "--profile", usage.profile.profile_id)[0] == 0
    assert run("usage.csv", "--profile", usage.profile.profile_id, "--dry-run")[1] == (
        "would accept 0 (plan credits 0.00, overage credits 0.00), unchanged 4\n"
    )


def test_dry_run_of_a_file_with_a_rejection_exits_1(usage):
    write("usage.csv", row(user_name="cat"))
    status, out, errors = run("usage.csv", "--profile", usage.profile.profile_id, "--dry-run")
    assert (status, out, len(errors)) == (1, "", 1)
    assert not UsageEvent.objects.exists()


def test_a_long_file_is_recorded_in_chunks_in_file_order(usage, monkeypatch):
    calls = []
    real = importers.usage_record

    def counting(**kwargs):
        calls.append(len(kwargs["events"]))
        return real(**kwargs)

    monkeypatch.setattr(importers, "usage_record", counting)
    rows = "".join(f"e-{n},bob,1,2026-11-{1 + n // 200:02d}T09:00:00Z,KIRO_IDE,auto,1\n" for n in range(2001))
    # bob has 2,000 credits and overage is off: the 2,001st credit is refused, so nothing is written.
    errors = refused(usage, HEADER + rows)
    assert errors == [
        "usage.csv:2002: credits: would be rejected (allowance_exhausted): The month's credits are used up and "
        "overage is off."
    ]
    assert calls == [1000, 1000, 1]
    write("usage.csv", HEADER + rows[: rows.index("e-2000")])
    assert run("usage.csv", "--profile", usage.profile.profile_id)[:2] == (
        0,
        "accepted 2000 (plan credits 2000.00, overage credits 0.00), unchanged 0\n",
    )
    assert used(usage, "bob", "2026-11-01") == (Decimal("2000.00"), 0)
    assert balance_mismatches() == []


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        (
            "idempotency_key,user_name,credits\nk,ann,1\n",
            [
                "usage.csv:1: occurred_at: missing column",
                "usage.csv:1: client_type: missing column",
                "usage.csv:1: model: missing column",
            ],
        ),
        ("", ["usage.csv:1: -: the file is empty: expected a header row"]),
        (
            HEADER.replace("messages", "note") + "k,ann,1,2026-11-10T09:00:00Z,KIRO_IDE,auto,x\n",
            [
                "usage.csv:1: note: unknown column: the columns are idempotency_key, user_name, credits, occurred_at, "
                "client_type, model or messages"
            ],
        ),
    ],
)
def test_a_bad_header_is_an_error(usage, text, errors):
    assert refused(usage, text) == errors


def test_messages_may_be_left_out_and_columns_come_in_any_order(usage):
    write(
        "usage.csv",
        "model,client_type,occurred_at,credits,user_name,idempotency_key\nauto,KIRO_CLI,2026-11-10T09:00:00Z,2.5,bob,x-1\n",
    )
    assert run("usage.csv", "--profile", usage.profile.profile_id)[:2] == (
        0,
        "accepted 1 (plan credits 2.50, overage credits 0.00), unchanged 0\n",
    )
    assert UsageEvent.objects.get().messages == 1


def test_the_profile_may_be_named_by_arn_or_name_and_unknown_is_exit_2(usage):
    write("usage.csv", GOOD)
    assert run("usage.csv", "--profile", usage.profile.arn)[0] == 0
    assert run("usage.csv", "--profile", "Production")[1].endswith("unchanged 4\n")
    with pytest.raises(CommandError, match=r"No Kiro profile 'Nowhere'") as error:
        call_command("import_usage", "usage.csv", "--profile", "Nowhere")
    assert error.value.returncode == 2


def test_a_missing_or_unreadable_file_exits_2(usage, tmp_path):
    assert run("nope.csv", "--profile", usage.profile.profile_id)[:2] == (2, "")
    assert run(str(tmp_path), "--profile", usage.profile.profile_id)[:2] == (2, "")
    assert not UsageEvent.objects.exists()


def test_verbosity_2_logs_progress_when_standard_error_is_not_a_terminal(usage):
    write("usage.csv", GOOD)
    status, _out, err = run("usage.csv", "--profile", usage.profile.profile_id, verbosity=2)
    assert status == 0 and err[-1] == f"importing: 100% ({len(GOOD)} of {len(GOOD)} bytes)"

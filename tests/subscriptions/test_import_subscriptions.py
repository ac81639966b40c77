"""import_subscriptions (CONTRACTS.md): `type,name,tier` rows subscribe users directly and assign groups; every
issue printed as `FILE:LINE: COLUMN: message`, nothing written when there is any, and the services called
set-based (one call per tier for the users, one per group)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from directory import services as directory
from kiroconsole.models import AuditEvent
from subscriptions import importers
from subscriptions.models import GroupAssignment, Subscription, SubscriptionPeriod
from subscriptions.services import (
    group_assign,
    subscription_change_plan,
    subscription_subscribe,
    subscription_unsubscribe,
)
from tests.factories import DirectoryGroupFactory, DirectoryUserFactory, IdentityCenterFactory, ProfileFactory
from tests.subscriptions.conftest import ACTOR

HEADER = "type,name,tier\n"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(name: str, text: str) -> str:
    with open(name, "w", encoding="utf-8", newline="") as file:
        file.write(text)
    return name


def run(*args: str) -> tuple[int, str, list[str]]:
    out, err = StringIO(), StringIO()
    try:
        call_command("import_subscriptions", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue().splitlines()
    return 0, out.getvalue(), err.getvalue().splitlines()


def state() -> tuple:
    return (
        sorted(map(str, Subscription.objects.values_list())),
        sorted(map(str, SubscriptionPeriod.objects.values_list())),
        sorted(map(str, GroupAssignment.objects.values_list())),
        AuditEvent.objects.count(),
    )


def refused(org, text: str) -> list[str]:
    """Import a file that must be refused: exit 1, nothing written; the error lines."""
    write("subs.csv", text)
    before = state()
    status, out, errors = run("subs.csv", "--profile", org.profile.profile_id)
    assert (status, out) == (1, "")
    assert state() == before
    return errors


def tiers(org, profile=None) -> dict[str, tuple]:
    return {
        s.user.user_name: (s.status, s.tier_id, s.direct_tier_id)
        for s in Subscription.objects.filter(profile=profile or org.profile).select_related("user")
    }


def test_users_are_subscribed_directly_and_groups_assigned(org):
    write("subs.csv", HEADER + "user,ann,PRO_PLUS\ngroup,research,pro\nUSER,Cat,power\n")
    status, out, errors = run("subs.csv", "--profile", org.profile.profile_id)
    assert (status, out, errors) == (0, "created 3, updated 0, unchanged 0\n", [])
    assert tiers(org) == {
        "ann": ("PENDING", "PRO_PLUS", "PRO_PLUS"),
        "bob": ("PENDING", "PRO", None),
        "cat": ("PENDING", "POWER", "POWER"),
    }
    assert list(GroupAssignment.objects.values_list("profile", "group__display_name", "tier")) == [
        (org.profile.pk, "Research", "PRO")
    ]
    assert tiers(org, org.other) == {}


def test_importing_the_same_file_twice_changes_nothing_the_second_time(org):
    write("subs.csv", HEADER + "user,ann,PRO\ngroup,Research,PRO_PLUS\n")
    assert run("subs.csv", "--profile", org.profile.profile_id)[:2] == (0, "created 2, updated 0, unchanged 0\n")
    before = state()[:3]
    events = AuditEvent.objects.exclude(action="subscription.import").count()
    assert run("subs.csv", "--profile", org.profile.profile_id)[:2] == (0, "created 0, updated 0, unchanged 2\n")
    assert state()[:3] == before
    assert AuditEvent.objects.exclude(action="subscription.import").count() == events


def test_existing_subscriptions_and_assignments_are_updated(org):
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)  # bob, cat
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO_MAX", actor=ACTOR)  # ann, bob
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="POWER", actor=ACTOR)
    write(
        "subs.csv",
        HEADER
        + "group,Research,PRO_PLUS\n"  # another tier: a change of plan (an upgrade, now)
        + "group,Engineering,PRO_MAX\n"  # the same tier: unchanged
        + "user,ann,POWER\n"  # already direct at Power: unchanged
        + "user,bob,PRO\n"  # subscribed through groups only: gets a direct source
        + "user,cat,POWER\n",  # upgraded
    )
    status, out, _ = run("subs.csv", "--profile", org.profile.profile_id)
    assert (status, out) == (0, "created 0, updated 3, unchanged 2\n")
    assert tiers(org) == {
        "ann": ("PENDING", "POWER", "POWER"),
        "bob": ("PENDING", "PRO_MAX", "PRO"),
        "cat": ("PENDING", "POWER", "POWER"),
    }
    assert GroupAssignment.objects.get(group=org.groups["Research"]).tier_id == "PRO_PLUS"


def test_a_lower_tier_is_a_downgrade_from_the_1st_and_a_canceled_user_is_subscribed_again(org):
    subscription_subscribe(profile=org.profile, users=[org.users["ann"], org.users["bob"]], tier="POWER", actor=ACTOR)
    subscription_unsubscribe(profile=org.profile, users=org.users["bob"], actor=ACTOR)
    write("subs.csv", HEADER + "user,ann,PRO\nuser,bob,POWER\n")
    assert run("subs.csv", "--profile", org.profile.profile_id)[:2] == (0, "created 0, updated 2, unchanged 0\n")
    ann = Subscription.objects.get(profile=org.profile, user=org.users["ann"])
    assert (ann.tier_id, ann.next_tier_id) == ("POWER", "PRO")
    assert tiers(org)["bob"] == ("PENDING", "POWER", "POWER")


def test_the_services_are_called_once_per_tier_and_once_per_group(org, monkeypatch):
    people = [DirectoryUserFactory(identity_center=org.ic, user_name=f"p{n:02d}") for n in range(30)]
    calls = []
    real = importers.subscription_subscribe

    def counting(**kwargs):
        calls.append((kwargs["tier"], len(kwargs["users"])))
        return real(**kwargs)

    monkeypatch.setattr(importers, "subscription_subscribe", counting)
    rows = "".join(f"user,{p.user_name},{'PRO' if n % 3 else 'POWER'}\n" for n, p in enumerate(people))
    write("subs.csv", HEADER + rows + "group,Engineering,PRO\ngroup,Research,PRO_MAX\n")
    assert run("subs.csv", "--profile", org.profile.profile_id)[:2] == (0, "created 32, updated 0, unchanged 0\n")
    assert sorted(calls) == [("POWER", 10), ("PRO", 20)]
    assert Subscription.objects.filter(profile=org.profile).count() == 33
    assert AuditEvent.objects.filter(action="subscription.subscribe").count() == 2
    assert AuditEvent.objects.filter(action="group_assignment.create").count() == 2


def test_the_import_is_audited_as_the_command_on_the_profile(org):
    write("subs.csv", HEADER + "user,ann,PRO\n")
    assert run("subs.csv", "--profile", org.profile.profile_id)[0] == 0
    event = AuditEvent.objects.get(action="subscription.import")
    assert (event.source, event.actor_label, event.target_id) == (
        "command",
        "manage.py import_subscriptions",
        str(org.profile.pk),
    )
    assert {k: event.after[k] for k in ("file", "created", "updated", "unchanged")} == {
        "file": "subs.csv",
        "created": 1,
        "updated": 0,
        "unchanged": 0,
    }
    assert AuditEvent.objects.get(action="subscription.subscribe").source == "command"


def test_every_issue_is_printed_with_file_line_and_column_and_nothing_is_written(org):
    DirectoryGroupFactory(identity_center=IdentityCenterFactory(), display_name="Elsewhere")
    errors = refused(
        org,
        HEADER
        + "user,ann,PRO\n"  # a good row: not written either
        + "team,Engineering,PRO\n"
        + "user,mallory,PRO\n"
        + "user,dan,PRO\n"
        + "user,bob,GOLD\n"
        + "group,Sales,PRO\n"
        + "group,Elsewhere,PRO\n"
        + "user,ANN,POWER\n"
        + ",,\n"
        + "group,,PRO\n",
    )
    store = org.ic.identity_store_id
    assert errors == [
        "subs.csv:3: type: unknown type 'team': write user or group",
        f"subs.csv:4: name: no user named 'mallory' in this profile's directory ({store})",
        "subs.csv:5: name: dan is deactivated: reactivate the user before subscribing it",
        "subs.csv:6: tier: unknown tier 'GOLD': write one of PRO, PRO_PLUS, PRO_MAX, POWER",
        f"subs.csv:7: name: no group named 'Sales' in this profile's directory ({store})",
        f"subs.csv:8: name: no group named 'Elsewhere' in this profile's directory ({store})",
        "subs.csv:9: name: the user 'ANN' is already on line 2 (case ignored)",
        "subs.csv:11: name: missing: write a group display name",
    ]


def test_an_empty_row_is_skipped_and_empty_values_are_named(org):
    errors = refused(org, HEADER + "user,,\n ,ann,PRO\n")
    assert errors == [
        "subs.csv:2: name: missing: write a user name",
        "subs.csv:2: tier: missing: write one of PRO, PRO_PLUS, PRO_MAX, POWER",
        "subs.csv:3: type: missing: write user or group",
    ]


def test_a_user_and_a_group_of_the_same_name_are_not_duplicates(org):
    directory.directory_group_create(identity_center=org.ic, actor=ACTOR, display_name="ann")
    write("subs.csv", HEADER + "user,ann,PRO\ngroup,ann,PRO\n")
    assert run("subs.csv", "--profile", org.profile.profile_id)[:2] == (0, "created 2, updated 0, unchanged 0\n")


def test_a_deleted_user_is_unknown(org):
    directory.directory_user_delete(user=org.users["cat"], actor=ACTOR)
    assert refused(org, HEADER + "user,cat,PRO\n") == [
        f"subs.csv:2: name: no user named 'cat' in this profile's directory ({org.ic.identity_store_id})"
    ]


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        ("type,name\nuser,ann\n", ["subs.csv:1: tier: missing column"]),
        ("type;name;tier\nuser;ann;PRO\n", ["subs.csv:1: -: expected 3 fields separated by commas, found 1"]),
        (
            "type,name,tier,note\nuser,ann,PRO,x\n",
            ["subs.csv:1: note: unknown column: the columns are type, name or tier"],
        ),
        ("", ["subs.csv:1: -: the file is empty: expected a header row"]),
        (HEADER + "user,ann\n", ["subs.csv:2: -: expected 3 fields separated by commas, found 2"]),
    ],
)
def test_a_bad_header_or_row_shape_is_an_error(org, text, errors):
    assert refused(org, text) == errors


def test_a_header_only_file_changes_nothing(org):
    write("subs.csv", HEADER)
    assert run("subs.csv", "--profile", org.profile.profile_id)[:2] == (0, "created 0, updated 0, unchanged 0\n")
    assert not Subscription.objects.exists()


def test_dry_run_reports_what_would_change_and_writes_nothing(org):
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)
    write("subs.csv", HEADER + "user,ann,PRO\ngroup,Research,PRO\ngroup,Engineering,POWER\nuser,bob,PRO_MAX\n")
    before = state()
    assert run("subs.csv", "--profile", org.profile.profile_id, "--dry-run") == (
        0,
        "would create 2, update 1, unchanged 1\n",
        [],
    )
    assert state() == before


def test_dry_run_of_an_invalid_file_exits_1(org):
    write("subs.csv", HEADER + "user,nobody,PRO\n")
    status, out, errors = run("subs.csv", "--profile", org.profile.profile_id, "--dry-run")
    assert (status, out, len(errors)) == (1, "", 1)


def test_the_profile_may_be_named_by_id_arn_or_unique_name(org):
    write("subs.csv", HEADER + "user,ann,PRO\n")
    assert run("subs.csv", "--profile", org.other.arn)[0] == 0
    assert run("subs.csv", "--profile", "Production")[0] == 0
    assert set(Subscription.objects.values_list("profile__name", flat=True)) == {"Production", "Europe"}


def test_an_unknown_or_ambiguous_profile_exits_2(org):
    write("subs.csv", HEADER + "user,ann,PRO\n")
    with pytest.raises(CommandError, match=r"No Kiro profile 'Nowhere': give its id, ARN or name\.") as error:
        call_command("import_subscriptions", "subs.csv", "--profile", "Nowhere")
    assert error.value.returncode == 2
    ProfileFactory(name="Europe", region="eu-central-1")
    with pytest.raises(CommandError, match="Several Kiro profiles are named 'Europe'") as error:
        call_command("import_subscriptions", "subs.csv", "--profile", "Europe")
    assert error.value.returncode == 2
    assert not Subscription.objects.exists()


def test_a_missing_file_exits_2(org):
    assert run("nope.csv", "--profile", org.profile.profile_id)[:2] == (2, "")


def test_a_failure_while_writing_leaves_everything_as_it_was(org, monkeypatch):
    def crash(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(importers, "subscription_subscribe", crash)
    write("subs.csv", HEADER + "group,Research,PRO\nuser,ann,PRO\n")
    before = state()
    with pytest.raises(RuntimeError):
        run("subs.csv", "--profile", org.profile.profile_id)
    assert state() == before


def test_a_large_file_is_a_few_service_calls_with_a_bounded_number_of_queries(org, django_assert_max_num_queries):
    people = [
        directory.directory_user_create(
            identity_center=org.ic,
            actor=ACTOR,
            user_name=f"person{n:04d}",
            display_name=f"Person {n}",
            given_name="Person",
            family_name=str(n),
            email=f"person{n}@example.com",
        )
        for n in range(300)
    ]
    subscription_subscribe(profile=org.profile, users=people[:100], tier="PRO", actor=ACTOR)
    subscription_change_plan(profile=org.profile, users=people[:50], tier="POWER", actor=ACTOR)
    rows = "".join(f"user,{p.user_name},{('PRO', 'PRO_PLUS', 'POWER')[n % 3]}\n" for n, p in enumerate(people))
    write("subs.csv", HEADER + rows)
    with django_assert_max_num_queries(60):
        status, out, _ = run("subs.csv", "--profile", org.profile.profile_id)
    assert status == 0
    assert out == "created 200, updated 67, unchanged 33\n"

"""Usage per group (`GroupDailyUsage`, issue 8): the explorer's rows by group and a group's days are the usage of
the group's current members, equal to the sums of their accepted events, however the members change: by the
directory's services (pages, the API, SCIM, the admin), by import, and with events recorded at the same time."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from credits.models import NO_GROUP_KEY, GroupDailyUsage
from credits.services.rollups import rollups_differences
from credits.usage import DateRange, UsageFilters, usage_rows
from directory import services as directory
from directory.models import GroupMembership
from subscriptions.services import subscription_subscribe
from tests.credits.conftest import ACTOR, event, record, use_in_november
from tests.credits.test_usage_rows import SPANS, expected, got
from tests.threads import race

MONTH = SPANS[0]


@pytest.fixture
def used(metered, clock):
    """The usage of tests/credits/test_usage_rows.py: ann, bob and cat in November, read on 1 December."""
    return use_in_november(
        metered, clock, now=(2026, 12, 1, 12), bob_last="2026-11-30T23:00:00Z", cat_at="2026-11-28T09:00:00Z"
    )


def members_now(org) -> dict:
    found: dict = {}
    for user_id, group_id in GroupMembership.objects.filter(user__identity_center=org.ic).values_list(
        "user_id", "group_id"
    ):
        found.setdefault(user_id, []).append(group_id)
    return found


def assert_groups_agree(org) -> None:
    """Every reading by group equals the events' sums for the members of now, and the rollup agrees with a
    rebuild from the events."""
    members = members_now(org)
    for span in SPANS:
        assert got(usage_rows(org.profile, span, "group")) == expected(org.profile, span, "group", members)
        for group in org.groups.values():
            ids = [user for user, groups in members.items() if group.pk in groups]
            for group_by in ("day", "tier", "client_type", "model"):
                rows = usage_rows(org.profile, span, group_by, UsageFilters(group_id=group.pk))
                assert got(rows) == expected(org.profile, span, group_by, user_id__in=ids), (
                    group.display_name,
                    group_by,
                )
    assert rollups_differences() == []


def test_usage_by_group_is_kept_per_group_with_users_in_none_apart(used):
    assert_groups_agree(used)
    research = used.groups["Research"]
    keys = set(GroupDailyUsage.objects.values_list("group_key", flat=True))
    assert keys == {used.groups["Engineering"].pk, research.pk}  # ann and bob, bob and cat: nobody in no group
    directory.group_members_remove(group=used.groups["Engineering"], users=[used.users["ann"]], actor=ACTOR)
    assert NO_GROUP_KEY in set(GroupDailyUsage.objects.values_list("group_key", flat=True))
    assert_groups_agree(used)


def test_members_added_and_removed_bring_and_take_their_usage(used):
    ann, bob, cat = (used.users[name] for name in ("ann", "bob", "cat"))
    engineering, research = used.groups["Engineering"], used.groups["Research"]
    directory.group_members_add(group=research, users=[ann], actor=ACTOR)
    assert_groups_agree(used)
    directory.group_members_remove(group=research, users=[bob, cat], actor=ACTOR)  # cat is left in no group
    assert_groups_agree(used)
    directory.group_members_remove(group=engineering, users=[ann, bob], actor=ACTOR)  # ann still in Research
    assert_groups_agree(used)
    assert not GroupDailyUsage.objects.filter(group_key=engineering.pk).exists()  # emptied rows are deleted


def test_deleting_a_group_or_a_user_moves_their_usage(used):
    directory.directory_group_delete(group=used.groups["Research"], actor=ACTOR)
    assert_groups_agree(used)
    directory.directory_user_delete(user=used.users["ann"], actor=ACTOR)
    assert_groups_agree(used)


def test_an_import_of_memberships_brings_the_members_usage(used, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "members.csv").write_text("group,user_name\nResearch,ann\n")
    call_command("import_memberships", "members.csv", "--identity-store", used.ic.identity_store_id, stdout=StringIO())
    assert used.users["ann"].memberships.filter(group=used.groups["Research"]).exists()
    assert_groups_agree(used)


def test_a_group_of_new_members_starts_from_their_history(used):
    """A group created today and given members shows the whole of their usage, as filtering by it always did."""
    group = directory.directory_group_create(identity_center=used.ic, actor=ACTOR, display_name="Newcomers")
    directory.group_members_add(group=group, users=[used.users["ann"]], actor=ACTOR)
    used.groups["Newcomers"] = group
    ann_month = expected(used.profile, MONTH, "day", user=used.users["ann"])
    assert got(usage_rows(used.profile, MONTH, "day", UsageFilters(group_id=group.pk))) == ann_month
    assert_groups_agree(used)


@pytest.mark.django_db(transaction=True)
def test_events_recorded_while_members_move_are_counted_once_in_the_groups_of_now(catalogues, org):
    """Threads recording events race threads adding and removing the same users to and from groups: on PostgreSQL
    the users' row locks order each event against each change (without them the groups lose or double events),
    and two threads removing the same member announce it once. At the end the groups' rows are exactly the members'
    sums."""
    ann, bob, cat = (org.users[name] for name in ("ann", "bob", "cat"))
    subscription_subscribe(profile=org.profile, users=[ann, bob, cat], tier="POWER", actor=ACTOR)
    research, engineering = org.groups["Research"], org.groups["Engineering"]
    people = [ann, bob, cat]

    def spend(i: int):
        record(org.profile, *[event(people[(i + n) % 3], "0.25", key=f"move-{i}-{n}") for n in range(3)])

    def move(i: int):
        group = research if i % 2 else engineering
        user = people[i % 3]
        if group.memberships.filter(user=user).exists():
            directory.group_members_remove(group=group, users=[user], actor=ACTOR)
        else:
            directory.group_members_add(group=group, users=[user], actor=ACTOR)

    jobs = [lambda i=i: spend(i) for i in range(8)] + [lambda i=i: move(i) for i in range(8)]
    errors = race(*jobs)
    assert errors == []
    assert_groups_agree(org)
    day = timezone.now().astimezone(datetime.UTC).date()
    today = DateRange(day, day)
    assert sum(row.events for row in usage_rows(org.profile, today, "tier")) == 24

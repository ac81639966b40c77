"""Renames racing metering (issue 6's `Subscription.user_name` against issue 7's metering): a rename of several users
and a batch of their events take their locks in one order (the profile first, then the subscriptions), so on
PostgreSQL neither ends in a deadlock error; the names follow and the books agree, on both databases."""

from __future__ import annotations

import threading
import time
from io import BytesIO

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from credits.models import Outcome, UsageEvent
from credits.selectors import balance_mismatches
from credits.services import metering
from credits.services.rollups import rollups_differences
from directory import services as directory
from directory.importers import directory_users_import
from directory.models import DirectoryUser
from subscriptions.models import Profile, Subscription
from subscriptions.services import subscription_subscribe
from subscriptions.services.subscribing import subscriptions_follow_renames
from tests.credits.conftest import ACTOR, event, record
from tests.threads import race

pytestmark = pytest.mark.django_db(transaction=True)


def waiting_for_a_lock(seconds: float = 10) -> bool:
    """Whether another backend of this database waits for a lock, within `seconds` (PostgreSQL)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # else one snapshot per transaction
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
        time.sleep(0.02)
    return False


def hold_then_take(first, then, other) -> list[BaseException]:
    """Two threads on connections of their own (`race`): one runs `first` in a transaction (it takes its first
    locks), then `other` starts and blocks on them; once PostgreSQL shows it waiting, `then` runs in the same
    transaction. The errors they raised (a deadlock is one of them)."""
    holding = threading.Event()

    def holder() -> None:
        try:
            with transaction.atomic():
                first()
                holding.set()
                assert waiting_for_a_lock(), "the other side never waited"
                then()
        finally:
            holding.set()

    def waiter() -> None:
        assert holding.wait(10)
        other()

    return race(holder, waiter)


def import_renames(org, names: list[str]) -> None:
    """Rename users by an import (one transaction, every user first, then their subscriptions in one UPDATE):
    `names` in their new case."""
    rows = [f"{name},{name.title()},{name.title()},Tester,{name.lower()}@example.com" for name in names]
    text = "\n".join(["user_name,display_name,given_name,family_name,email", *rows]) + "\n"

    def refuse(issue):
        raise AssertionError(issue)

    directory_users_import(
        identity_center=org.ic, source=BytesIO(text.encode()), name="renames.csv", actor=ACTOR, on_issue=refuse
    )


def test_a_rename_waits_for_metering_holding_the_profile_instead_of_deadlocking(catalogues, org):
    """Metering's order: the profile (shared), then the subscriptions in id order. An import renaming two users
    updates their subscriptions in one UPDATE, in the table's order, which here puts the higher one first (the
    lower one was written last): it would lock that one, then wait for the lower one, held by metering, which
    then wants the higher one: a deadlock. The rename locks the profile first, so it waits for the batch whole."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks: SQLite runs one writing transaction at a time")
    ann, bob = org.users["ann"], org.users["bob"]
    subscription_subscribe(profile=org.profile, users=[ann, bob], tier="PRO", actor=ACTOR)
    subs = dict(Subscription.objects.filter(profile=org.profile).values_list("user_id", "pk"))
    low_user, high_user = sorted((ann, bob), key=lambda user: str(subs[user.pk]))
    Subscription.objects.filter(pk=subs[low_user.pk]).update(user_name=F("user_name"))  # after the higher one
    table = connection.ops.quote_name(Profile._meta.db_table)

    def lock_subscription(pk) -> None:  # as metering's UPDATE of "last active" locks it
        Subscription.objects.filter(pk=pk).update(last_active_at=timezone.now())

    def metering_first() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {table} WHERE id = %s FOR KEY SHARE", [org.profile.pk])  # noqa: S608
        lock_subscription(subs[low_user.pk])

    errors = hold_then_take(
        metering_first, lambda: lock_subscription(subs[high_user.pk]), lambda: import_renames(org, ["Ann", "Bob"])
    )
    assert errors == []
    names = dict(Subscription.objects.filter(profile=org.profile).values_list("user_id", "user_name"))
    assert names == {ann.pk: "Ann", bob.pk: "Bob"}


def test_renames_and_events_of_the_same_users_racing_all_succeed_and_the_books_agree(catalogues, org, monkeypatch):
    """Threads posting batches for ann, bob and cat race threads renaming two or three of them at once, in both
    profiles: no error (metering's retry of a deadlock's victim is off, so a deadlock would show), every event
    counted once, each subscription under its user's last name."""
    monkeypatch.setattr(metering, "RETRY_STATES", set())
    people = [org.users[name] for name in ("ann", "bob", "cat")]
    for profile in (org.profile, org.other):
        subscription_subscribe(profile=profile, users=people, tier="POWER", actor=ACTOR)

    def spend(i: int) -> None:
        profile = (org.profile, org.other)[i % 2]
        record(profile, *[event(people[(i + n) % 3], "0.50", key=f"rename-{i}-{n}") for n in range(3)])

    def rename(i: int) -> None:
        if i % 3 == 2:  # one user alone, from the console
            cat = DirectoryUser.objects.get(pk=people[2].pk)
            directory.directory_user_update(user=cat, actor=ACTOR, user_name="CAT" if i % 2 else "Cat")
        else:  # two or three users by import, their names' case changed
            import_renames(org, [name.upper() if i % 2 else name.title() for name in ("ann", "bob", "cat")[i % 2 :]])

    errors = race(*[lambda i=i: spend(i) for i in range(8)], *[lambda i=i: rename(i) for i in range(6)])
    assert errors == []
    assert balance_mismatches() == []
    assert rollups_differences() == []
    for profile in (org.profile, org.other):
        stored = Subscription.objects.filter(profile=profile)
        assert sorted(stored.values_list("user_name", flat=True)) == sorted(
            DirectoryUser.objects.get(pk=user.pk).user_name for user in people
        )
    assert UsageEvent.objects.exclude(outcome=Outcome.REJECTED).count() == 24


def test_a_scim_group_write_adding_and_removing_members_waits_for_a_rename_of_a_removed_member(catalogues, org):
    """A SCIM PATCH of an assigned group adds one member and removes another in one transaction; the add takes the
    profile's lock (the subscriptions follow). A rename holds the removed member's row and then wants the profiles
    (`subscriptions_follow_renames`). The group write locks every member it changes first, in id order, so it
    waits for the rename at the user instead of holding the profile the rename waits for (a deadlock)."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks: SQLite runs one writing transaction at a time")
    from directory.services import scim_token_create
    from subscriptions.services import group_assign
    from tests.directory.scim.conftest import ScimClient, patch_body

    ann, cat, research = org.users["ann"], org.users["cat"], org.groups["Research"]
    group_assign(profile=org.profile, group=research, tier="PRO", actor=ACTOR)
    _, raw = scim_token_create(identity_center=org.ic, actor=ACTOR)
    answers = []

    def group_write() -> None:
        body = patch_body(
            {"op": "add", "path": "members", "value": [{"value": str(ann.pk)}]},
            {"op": "remove", "path": f'members[value eq "{cat.pk}"]'},
        )
        answers.append(ScimClient(raw).send("PATCH", f"/Groups/{research.pk}", body).status_code)

    # directory_user_update's order, paused between the user's row and the profiles.
    errors = hold_then_take(
        lambda: DirectoryUser.objects.filter(pk=cat.pk).update(user_name="Cat"),
        lambda: subscriptions_follow_renames(identity_center=org.ic, user_ids=[cat.pk]),
        group_write,
    )
    assert errors == []
    assert len(answers) == 1 and answers[0] in {200, 204}
    assert set(research.memberships.values_list("user__user_name", flat=True)) == {"ann", "bob"}
    assert Subscription.objects.get(profile=org.profile, user=cat).user_name == "Cat"

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
from credits.services.rollups import rollups_differences
from directory import services as directory
from directory.importers import directory_users_import
from directory.models import DirectoryUser
from subscriptions.models import Profile, Subscription
from subscriptions.services import subscription_subscribe
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
    holding, errors = threading.Event(), []

    def lock_subscription(pk) -> None:  # as metering's UPDATE of "last active" locks it
        Subscription.objects.filter(pk=pk).update(last_active_at=timezone.now())

    def metering_like() -> None:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT id FROM {table} WHERE id = %s FOR KEY SHARE", [org.profile.pk])  # noqa: S608
                lock_subscription(subs[low_user.pk])
                holding.set()
                assert waiting_for_a_lock(), "the rename never waited"
                lock_subscription(subs[high_user.pk])
        except BaseException as error:
            errors.append(error)
        finally:
            holding.set()
            connection.close()

    def rename() -> None:
        try:
            assert holding.wait(10)
            import_renames(org, ["Ann", "Bob"])
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=metering_like), threading.Thread(target=rename)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    names = dict(Subscription.objects.filter(profile=org.profile).values_list("user_id", "user_name"))
    assert names == {ann.pk: "Ann", bob.pk: "Bob"}


def test_renames_and_events_of_the_same_users_racing_all_succeed_and_the_books_agree(catalogues, org):
    """Threads posting batches for ann, bob and cat race threads renaming two or three of them at once, in both
    profiles: no error, every event counted once, each subscription under its user's last name."""
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

"""At most one profile per account and Region, even when two requests create it at the same moment: the database
constraint decides, and the loser gets the same conflict as a sequential duplicate."""

from __future__ import annotations

import importlib
import threading

import pytest
from django.apps import apps
from django.db import connection

from kiroconsole.audit import Actor
from kiroconsole.errors import ConflictError
from kiroconsole.models import AuditEvent
from subscriptions import services
from subscriptions.models import Profile, ProfileSettings
from tests.factories import AwsAccountFactory, identity_center_for, region

RUNS = 5


@pytest.fixture
def regions(transactional_db):
    """The Region catalogue. Its data migration seeds it, but transactional tests flush every table afterwards:
    seed it again with the migration's own function (as tests/e2e does)."""
    importlib.import_module("accounts.migrations.0002_regions").seed_regions(apps, None)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", range(RUNS))
def test_two_simultaneous_creations_of_the_same_profile_make_exactly_one(regions, run):
    account = AwsAccountFactory(account_id="222222222222")
    profile_region = region("us-east-1")
    identity_center = identity_center_for(profile_region)
    barrier = threading.Barrier(2, timeout=10)
    results: list[object] = [None, None]

    def create(index: int) -> None:
        try:
            barrier.wait()
            results[index] = services.profile_create(
                account=account,
                region=profile_region,
                identity_center=identity_center,
                name=f"Racer {index}",
                actor=Actor.for_command("test"),
            )
        except Exception as exc:  # the test inspects whatever each thread got
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()

    profiles = [r for r in results if isinstance(r, Profile)]
    conflicts = [r for r in results if isinstance(r, ConflictError)]
    assert (len(profiles), len(conflicts)) == (1, 1), results
    (winner,), (conflict,) = profiles, conflicts
    assert f"already has the Kiro profile “{winner.name}” in us-east-1" in conflict.message_dict["region"][0]
    assert list(Profile.objects.values_list("profile_id", flat=True)) == [winner.profile_id]
    assert ProfileSettings.objects.count() == 1
    assert AuditEvent.objects.filter(action="profile.create").count() == 1

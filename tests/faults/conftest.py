"""Fixtures of the fault tests: a directory with a 20,000-member group and two profiles on it, a clean one and a
victim one, so that a clean run and a killed-then-rerun run of the same work can be compared."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from django.db import transaction
from django.utils import timezone

from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from kiroconsole.bulk import adapter, insert_rows
from tests.factories import IdentityCenterFactory, ProfileFactory

BIG = 20_000


@pytest.fixture
def org(catalogues):
    """The organization instance's directory (no users yet), a second directory (an account instance), and two
    profiles on the first: `clean` and `victim`."""
    directory = IdentityCenterFactory(organization=True)
    return SimpleNamespace(
        directory=directory,
        second_directory=IdentityCenterFactory(),
        clean=ProfileFactory(name="Clean", identity_center=directory),
        victim=ProfileFactory(name="Victim", identity_center=directory),
    )


@pytest.fixture
def big_group(org):
    """`BIG` users in the first directory, all in the group Everyone (plain INSERTs: no profile assigns it)."""
    now = timezone.now()
    user_fields = ["id", "identity_center", "user_name", "display_name", "given_name", "family_name", "email"]
    user_fields += ["external_id", "active", "created_at", "updated_at"]  # the last three: the same for all
    to_db = [adapter(DirectoryUser, name) for name in user_fields]
    ids = [uuid.uuid4() for _ in range(BIG)]
    rows = [
        (ids[n], org.directory.pk, f"member{n:05d}", f"Member {n}", "Member", f"N{n}", f"member{n:05d}@example.com", "")
        for n in range(BIG)
    ]
    group = DirectoryGroup.objects.create(identity_center=org.directory, display_name="Everyone")
    member_fields = ["group", "user", "created_at"]
    member_to_db = [adapter(GroupMembership, name) for name in member_fields]
    with transaction.atomic():
        for start in range(0, BIG, 2000):
            chunk = rows[start : start + 2000]
            insert_rows(
                DirectoryUser,
                user_fields,
                [[f(v) for f, v in zip(to_db, (*row, True, now, now), strict=True)] for row in chunk],
            )
            memberships = [(group.pk, row[0], now) for row in chunk]
            insert_rows(
                GroupMembership,
                member_fields,
                [[f(v) for f, v in zip(member_to_db, row, strict=True)] for row in memberships],
            )
    return group


@pytest.fixture
def console(org):
    """What a served console needs, committed: 20 users subscribed at Power in the victim profile, an
    administrator (password `correct horse battery`) with a session, and a metering API token."""
    from django.contrib.auth.models import Group
    from django.test import Client

    from kiroconsole.audit import Actor
    from kiroconsole.roles import Role, sync_role_permissions
    from subscriptions.services import subscription_subscribe
    from tests.factories import ApiTokenFactory, ConsoleUserFactory

    for role in Role:  # the role groups of the data migration, flushed by transactional tests
        Group.objects.get_or_create(name=role.value)
    sync_role_permissions()
    now = timezone.now()
    users = DirectoryUser.objects.bulk_create(
        [
            DirectoryUser(
                identity_center=org.directory,
                user_name=f"load{n:02d}",
                display_name=f"Load {n}",
                given_name="Load",
                family_name=f"N{n}",
                email=f"load{n:02d}@example.com",
                created_at=now,
                updated_at=now,
            )
            for n in range(20)
        ]
    )
    subscription_subscribe(profile=org.victim, users=users, tier="POWER", actor=Actor.for_command("test"))
    admin = ConsoleUserFactory(username="alice.admin", role=Role.ADMINISTRATOR)
    admin.set_password("correct horse battery")
    admin.save()
    client = Client()
    client.force_login(admin)
    _, raw = ApiTokenFactory.create_with_raw(user=ConsoleUserFactory(username="kiro-service", role=Role.METERING))
    return SimpleNamespace(
        profile=org.victim,
        user_names=[user.user_name for user in users],
        session=client.cookies["sessionid"].value,
        token=raw,
    )

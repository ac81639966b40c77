from __future__ import annotations

import datetime
from types import SimpleNamespace

import pytest
from django.utils import timezone

from directory import services as directory
from kiroconsole.audit import Actor
from tests.factories import ProfileFactory

UTC = datetime.UTC
ACTOR = Actor.for_command("test")


class Clock:
    """`timezone.now()` for the code under test, set by the test: the 15th, the last second of a month, the 1st."""

    def __init__(self, start: datetime.datetime):
        self.now = start

    def set(self, *args: int) -> datetime.datetime:
        self.now = datetime.datetime(*args, tzinfo=UTC)  # type: ignore[misc]
        return self.now

    def __call__(self) -> datetime.datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(datetime.datetime(2026, 11, 15, 12, 0, tzinfo=UTC))
    monkeypatch.setattr(timezone, "now", clock)
    return clock


@pytest.fixture
def org(db, clock):
    """Two profiles (us-east-1 and eu-central-1) on one directory; users ann, bob, cat, dan (dan deactivated);
    groups Engineering (ann, bob) and Research (bob, cat), unassigned."""
    profile = ProfileFactory(name="Production", region="us-east-1")
    other = ProfileFactory(name="Europe", region="eu-central-1", account=profile.account)
    ic = profile.identity_center
    users = {
        name: directory.directory_user_create(
            identity_center=ic,
            actor=ACTOR,
            user_name=name,
            display_name=name.title(),
            given_name=name.title(),
            family_name="Tester",
            email=f"{name}@example.com",
        )
        for name in ("ann", "bob", "cat", "dan")
    }
    directory.directory_user_update(user=users["dan"], actor=ACTOR, active=False)
    groups = {
        name: directory.directory_group_create(identity_center=ic, actor=ACTOR, display_name=name)
        for name in ("Engineering", "Research")
    }
    directory.group_members_add(group=groups["Engineering"], users=[users["ann"], users["bob"]], actor=ACTOR)
    directory.group_members_add(group=groups["Research"], users=[users["bob"], users["cat"]], actor=ACTOR)
    for user in users.values():
        user.refresh_from_db()
    return SimpleNamespace(profile=profile, other=other, ic=ic, users=users, groups=groups)

from __future__ import annotations

import pytest

from accounts import services as accounts_services
from accounts.models import Region
from kiroconsole.audit import Actor


@pytest.fixture
def identity_center(db):
    """The organization's Identity Center instance (d-1234567890, us-east-1), registered through the services."""
    actor = Actor.for_command("test")
    account = accounts_services.aws_account_create(
        account_id="111111111111", name="Acme management", kind="management", actor=actor
    )
    return accounts_services.identity_center_create(
        identity_store_id="d-1234567890",
        name="Acme",
        region=Region.objects.get(code="us-east-1"),
        account=account,
        kind="organization",
        actor=actor,
    )


@pytest.fixture
def second_identity_center(identity_center):
    """An account instance in a member account (d-abcdef0123, eu-central-1)."""
    actor = Actor.for_command("test")
    account = accounts_services.aws_account_create(
        account_id="222222222222", name="Acme research", kind="member", actor=actor
    )
    return accounts_services.identity_center_create(
        identity_store_id="d-abcdef0123",
        name="Research",
        region=Region.objects.get(code="eu-central-1"),
        account=account,
        kind="account",
        actor=actor,
    )


class SignalLog(dict):
    """What each directory signal carried during a test: {signal name: [the keyword arguments of each send]}."""

    def clear(self) -> None:
        for sends in self.values():
            sends.clear()


@pytest.fixture
def received():
    """Connect a recording receiver to every signal of directory/signals.py for the test, then disconnect it."""
    from directory import signals

    names = ["memberships_changed", "users_deleted", "users_activation_changed", "groups_deleted"]
    log = SignalLog({name: [] for name in names})
    for name in names:

        def record(sender, signal, _name=name, **kwargs):
            log[_name].append(kwargs)

        getattr(signals, name).connect(record, weak=False, dispatch_uid=f"test-received-{name}")
    yield log
    for name in names:
        getattr(signals, name).disconnect(dispatch_uid=f"test-received-{name}")

"""Assertions shared by the app test folders."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from accounts.models import AwsAccount, IdentityCenterInstance
from kiroconsole.models import AuditEvent
from subscriptions.models import Profile, ProfileSettings

WATCHED = [
    AuditEvent,
    AwsAccount,
    IdentityCenterInstance,
    Profile,
    ProfileSettings,
    ProfileSettings.approved_models.through,
]


def _rows() -> dict[str, list[dict]]:
    return {model._meta.label: list(model.objects.order_by("pk").values()) for model in WATCHED}


@contextmanager
def nothing_written() -> Iterator[None]:
    """The block changes no row of the organization, profile, settings or audit tables (no audit event either)."""
    before = _rows()
    yield
    after = _rows()
    changed = [label for label in before if after[label] != before[label]]
    assert not changed, f"rows changed in {', '.join(changed)}"

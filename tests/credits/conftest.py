from __future__ import annotations

import datetime
import itertools
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from credits.events import event_parse
from credits.services import usage_record
from subscriptions.models import AiModel
from subscriptions.services import group_assign, profile_settings_update, subscription_subscribe
from tests.subscriptions.conftest import ACTOR, clock, org  # noqa: F401  (fixtures of this folder too)

UTC = datetime.UTC
_keys = itertools.count(1)


def event(user: Any, credits: Any, **fields: Any) -> dict[str, Any]:
    """A usage event's wire form for `user` (a DirectoryUser, or a user name)."""
    raw: dict[str, Any] = {
        "idempotency_key": fields.pop("key", None) or f"evt-{next(_keys)}",
        "credits": str(credits) if isinstance(credits, Decimal | int) else credits,
        "client_type": "KIRO_IDE",
        "model": "auto",
    }
    if isinstance(user, str):
        raw["user_name"] = user
    else:
        raw["user_id"] = str(user.pk)
    raw.update(fields)
    return raw


def record(profile, *raws: dict[str, Any], now=None):
    """Parse and record events as the API does; the results in order (one result for one event)."""
    now = now or timezone.now()
    models = frozenset(AiModel.objects.values_list("code", flat=True))
    events = [event_parse(raw, now=now, models=models) for raw in raws]
    results = usage_record(profile=profile, events=events, actor=ACTOR, now=now)
    return results[0] if len(raws) == 1 else results


@pytest.fixture
def metered(org):  # noqa: F811  (the fixture imported above)
    """`org` with ann at Pro (1,000 credits) and bob at Pro+ (2,000) subscribed directly in Production."""
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=org.users["bob"], tier="PRO_PLUS", actor=ACTOR)
    return SimpleNamespace(**vars(org))


def use_in_november(metered_org: Any, fake_clock: Any, *, now: tuple[int, ...], bob_last: str, cat_at: str) -> Any:
    """Usage in November of ann (Pro), bob (Pro+) and cat (Pro Max through Research), in `metered_org` (the `metered`
    fixture) with overage on, recorded with `fake_clock` (the `clock` fixture) set to `now` (year, month, day, hour):
    ann 990 then 20 credits on the 16th (the 20 overage) and 3 by the CLI on the 20th; bob 7.5 on the 18th and 1.25
    at `bob_last`, both with claude-sonnet-4.5; cat 4 by the CLI at `cat_at`. Returns `metered_org`."""
    group_assign(profile=metered_org.profile, group=metered_org.groups["Research"], tier="PRO_MAX", actor=ACTOR)
    profile_settings_update(profile=metered_org.profile, changes={"overage_enabled": True}, actor=ACTOR)
    ann, bob, cat = (metered_org.users[name] for name in ("ann", "bob", "cat"))
    fake_clock.set(*now)
    record(
        metered_org.profile,
        event(ann, "990", occurred_at="2026-11-16T10:00:00Z"),
        event(ann, "20", occurred_at="2026-11-16T11:00:00Z", messages=4),  # overage
        event(ann, "3", occurred_at="2026-11-20T11:00:00Z", client_type="KIRO_CLI"),
        event(bob, "7.5", occurred_at="2026-11-18T09:00:00Z", model="claude-sonnet-4.5"),
        event(bob, "1.25", occurred_at=bob_last, model="claude-sonnet-4.5"),
        event(cat, "4", occurred_at=cat_at, client_type="KIRO_CLI", messages=2),
    )
    return metered_org

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
from subscriptions.services import subscription_subscribe
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

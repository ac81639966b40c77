"""Concurrent requests touching the same users end in one subscription per user with the right tier (issue 6),
on SQLite (one writer at a time) and PostgreSQL (the profile's row lock)."""

from __future__ import annotations

import pytest

from directory import services as directory
from subscriptions.models import Subscription, SubscriptionPeriod
from subscriptions.services import group_assign, subscription_subscribe
from tests.subscriptions.conftest import ACTOR
from tests.threads import race

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("round", range(3))
def test_a_direct_subscribe_and_a_group_assignment_racing_end_in_one_subscription_at_the_highest_tier(
    catalogues, org, round
):
    ann = org.users["ann"]
    errors = race(
        lambda: subscription_subscribe(profile=org.profile, users=ann, tier="PRO", actor=ACTOR),
        lambda: group_assign(profile=org.profile, group=org.groups["Engineering"], tier="POWER", actor=ACTOR),
        lambda: directory.group_members_add(group=org.groups["Research"], users=[ann], actor=ACTOR),
        lambda: group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO_PLUS", actor=ACTOR),
    )
    assert errors == []
    subs = Subscription.objects.filter(profile=org.profile)
    assert sorted(subs.values_list("user__user_name", "tier_id", "direct_tier_id")) == [
        ("ann", "POWER", "PRO"),
        ("bob", "POWER", None),
        ("cat", "PRO_PLUS", None),
    ]
    # Each subscription's history has exactly one open period, at its tier.
    for s in subs:
        open_periods = SubscriptionPeriod.objects.filter(subscription=s, ends_at__isnull=True)
        assert list(open_periods.values_list("tier_id", flat=True)) == [s.tier_id]


def test_eight_threads_subscribing_the_same_users_leave_one_subscription_each(catalogues, org):
    users = [org.users[name] for name in ("ann", "bob", "cat")]
    tiers = ["PRO", "PRO_PLUS", "PRO_MAX", "POWER"] * 2
    errors = race(
        *[
            (lambda tier=tier: subscription_subscribe(profile=org.profile, users=users, tier=tier, actor=ACTOR))
            for tier in tiers
        ]
    )
    assert errors == []
    assert Subscription.objects.filter(profile=org.profile).count() == 3
    # The last writer's direct tier is every user's tier (each request sets all three at once).
    assert len(set(Subscription.objects.values_list("tier_id", flat=True))) == 1

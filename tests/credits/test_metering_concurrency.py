"""Credits under concurrency (DOMAIN.md §5 rule 6, issue 7): threads racing for the last credits, for a shared cap,
and replaying the same keys never count a credit past a limit, nor twice; balances equal the accepted events.
Runs on SQLite (one writer at a time, IMMEDIATE transactions) and PostgreSQL (row locks)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from credits.models import Balance, Outcome, ProfileBalance, UsageEvent
from credits.selectors import balance_mismatches
from credits.services import metering
from credits.services.rollups import rollups_differences
from directory import services as directory
from subscriptions.models import Subscription
from subscriptions.services import profile_settings_update, subscription_subscribe
from tests.credits.conftest import ACTOR, event, record
from tests.threads import race

pytestmark = pytest.mark.django_db(transaction=True)
THREADS = 16


def new_users(org, prefix: str, count: int) -> list:
    """`count` more users of `org`'s directory: <prefix>0, <prefix>1, ..."""
    return [
        directory.directory_user_create(
            identity_center=org.ic,
            actor=ACTOR,
            user_name=f"{prefix}{i}",
            display_name=f"{prefix.title()} {i}",
            given_name=prefix.title(),
            family_name=str(i),
            email=f"{prefix}{i}@example.com",
        )
        for i in range(count)
    ]


def test_sixteen_threads_racing_for_the_last_credits_never_pass_the_allowance(catalogues, org):
    ann = org.users["ann"]
    subscription_subscribe(profile=org.profile, users=ann, tier="PRO", actor=ACTOR)
    record(org.profile, event(ann, "990"))
    results = []
    errors = race(
        *[lambda i=i: results.append(record(org.profile, event(ann, "1.5", key=f"race-{i}"))) for i in range(THREADS)]
    )
    assert errors == []
    accepted = [r for r in results if r.status == "accepted"]
    assert len(accepted) == 6  # 6 x 1.5 = 9 fits the last 10 credits; a 7th would pass the allowance
    b = Balance.objects.get(subscription__user=ann)
    assert (b.plan_used, b.overage_used) == (Decimal("999.00"), Decimal("0.00"))
    assert UsageEvent.objects.filter(outcome=Outcome.REJECTED).count() == THREADS - 6
    assert balance_mismatches() == []
    assert rollups_differences() == []


def test_many_users_filling_a_shared_cap_never_pass_it(catalogues, org):
    users = [org.users["ann"], org.users["bob"], org.users["cat"], *new_users(org, "extra", 5)]
    subscription_subscribe(profile=org.profile, users=users, tier="PRO", actor=ACTOR)
    profile_settings_update(
        profile=org.profile, changes={"overage_enabled": True, "overage_shared_cap": "100"}, actor=ACTOR
    )
    record(org.profile, *[event(user, "1000") for user in users])  # every allowance used
    results = []
    jobs = [
        lambda i=i: results.append(record(org.profile, event(users[i % len(users)], "7", key=f"cap-{i}")))
        for i in range(THREADS * 2)
    ]
    errors = race(*jobs)
    assert errors == []
    accepted = [r for r in results if r.outcome == Outcome.OVERAGE]
    assert len(accepted) == 14  # 14 x 7 = 98, within 100; 15 x 7 = 105 is not
    assert ProfileBalance.objects.get(profile=org.profile).overage_used == Decimal("98.00")
    assert sum(b.overage_used for b in Balance.objects.all()) == Decimal("98.00")
    assert balance_mismatches() == []
    assert rollups_differences() == []


def test_a_replay_storm_counts_each_key_once(catalogues, org):
    ann, bob = org.users["ann"], org.users["bob"]
    subscription_subscribe(profile=org.profile, users=[ann, bob], tier="POWER", actor=ACTOR)
    batch = [event(ann if i % 2 else bob, "0.5", key=f"storm-{i}") for i in range(1000)]
    results: list[list] = []
    errors = race(*[lambda: results.append(record(org.profile, *[dict(raw) for raw in batch])) for _ in range(5)])
    assert errors == []
    assert UsageEvent.objects.count() == 1000
    assert all(r.status == "accepted" for answer in results for r in answer)
    assert sum(not r.replayed for answer in results for r in answer) == 1000  # each key decided once
    for sub in Subscription.objects.filter(profile=org.profile):
        assert Balance.objects.get(subscription=sub).plan_used == Decimal("250.00")
    assert balance_mismatches() == []
    assert rollups_differences() == []


def test_batches_activating_pending_users_and_moving_active_ones_racing_stay_exact(catalogues, org, clock, monkeypatch):
    """Batches naming Pending users (their first use activates them, `FOR UPDATE`) and Active ones (their "last
    active" moves) in both orders race one another: each Pending subscription is activated once, with one open
    Active period; the books agree. A deadlock would surface as an error: metering's retry of a deadlock's victim
    is off here (batches sharing a user queue on their balances first, so none is expected)."""
    monkeypatch.setattr(metering, "RETRY_STATES", set())
    users = new_users(org, "mixed", 8)
    subscription_subscribe(profile=org.profile, users=users, tier="POWER", actor=ACTOR)
    active, pending = users[:4], users[4:]
    first = record(org.profile, *[event(user, "1") for user in active])
    assert [r.status for r in first] == ["accepted"] * 4
    clock.set(2026, 11, 15, 13)  # an hour later: the race moves the Active ones' "last active"

    def batch(i: int) -> None:
        named = [users[(i * 3 + n) % len(users)] for n in range(5)]
        named = named if i % 2 else list(reversed(named))
        record(org.profile, *[event(user, "0.25", key=f"mixed-{i}-{n}") for n, user in enumerate(named)])

    errors = race(*[lambda i=i: batch(i) for i in range(THREADS)])
    assert errors == []
    subs = Subscription.objects.filter(profile=org.profile, user__in=users)
    assert set(subs.values_list("status", flat=True)) == {"ACTIVE"}
    for sub in subs.filter(user__in=pending):
        assert sub.periods.filter(ends_at__isnull=True).count() == 1
        assert sub.periods.filter(status="ACTIVE").count() == 1
    for sub in subs.filter(user__in=active):
        assert sub.last_active_at > sub.activated_at  # moved by the race's events
    assert UsageEvent.objects.filter(idempotency_key__startswith="mixed-").count() == THREADS * 5
    assert balance_mismatches() == []
    assert rollups_differences() == []

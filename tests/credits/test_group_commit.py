"""Group commit of single events (`credits.services.metering.usage_record_one`, the API's single event): events
that threads send together share a transaction, each decided in its order with its own answer, sender and moment;
the rules of DOMAIN.md §5 hold as in the races of test_metering_concurrency, which record through `usage_record`."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.http import Http404
from django.utils import timezone

from credits.events import event_parse
from credits.models import Balance, Outcome, ProfileBalance, UsageEvent
from credits.selectors import balance_mismatches
from credits.services import metering
from credits.services.rollups import rollups_differences
from directory import services as directory
from kiroconsole.audit import Actor
from subscriptions.models import AiModel, Profile, Subscription
from subscriptions.services import profile_settings_update, subscription_subscribe
from tests.credits.conftest import ACTOR, event, record
from tests.threads import race

pytestmark = pytest.mark.django_db(transaction=True)
THREADS = 16


def one(profile, raw, actor=ACTOR, now=None):
    """A single event as the API records it."""
    now = now or timezone.now()
    models = frozenset(AiModel.objects.values_list("code", flat=True))
    parsed = event_parse(raw, now=now, models=models)
    return metering.usage_record_one(profile=profile, event=parsed, actor=actor, now=now)


@pytest.fixture
def calls(monkeypatch):
    """The sizes of the `usage_record` calls; the first one waits until `calls.waiting` events are queued behind
    it, so that they are recorded together, in one group."""
    sizes: list[int] = []
    real = metering.usage_record
    state = {"waiting": 0, "first": True}

    def counting(**kwargs):
        if state["first"]:
            state["first"] = False
            deadline = time.monotonic() + 30
            while len(metering._GROUP._queue) < state["waiting"] and time.monotonic() < deadline:
                time.sleep(0.01)
        sizes.append(len(kwargs["events"]))
        return real(**kwargs)

    monkeypatch.setattr(metering, "usage_record", counting)
    return SimpleNamespace(sizes=sizes, state=state)


def test_threads_racing_for_the_last_credits_in_groups_never_pass_the_allowance(catalogues, org, calls):
    ann = org.users["ann"]
    subscription_subscribe(profile=org.profile, users=ann, tier="PRO", actor=ACTOR)
    record(org.profile, event(ann, "990"))
    calls.state["waiting"] = THREADS - 1
    results = []
    errors = race(
        *[lambda i=i: results.append(one(org.profile, event(ann, "1.5", key=f"g-{i}"))) for i in range(THREADS)]
    )
    assert errors == []
    assert max(calls.sizes) == THREADS - 1  # all but the first together: a group
    accepted = [r for r in results if r.status == "accepted"]
    assert len(accepted) == 6  # 6 x 1.5 = 9 fits the last 10 credits; a 7th would pass the allowance
    assert sorted(r.http_status for r in results) == [201] * 6 + [402] * (THREADS - 6)
    b = Balance.objects.get(subscription__user=ann)
    assert (b.plan_used, b.overage_used) == (Decimal("999.00"), Decimal("0.00"))
    assert balance_mismatches() == []
    assert rollups_differences() == []


def test_groups_filling_a_shared_cap_never_pass_it(catalogues, org, calls):
    users = [org.users["ann"], org.users["bob"], org.users["cat"]]
    for i in range(5):
        users.append(
            directory.directory_user_create(
                identity_center=org.ic,
                actor=ACTOR,
                user_name=f"extra{i}",
                display_name=f"Extra {i}",
                given_name="Extra",
                family_name=str(i),
                email=f"extra{i}@example.com",
            )
        )
    subscription_subscribe(profile=org.profile, users=users, tier="PRO", actor=ACTOR)
    profile_settings_update(
        profile=org.profile, changes={"overage_enabled": True, "overage_shared_cap": "100"}, actor=ACTOR
    )
    record(org.profile, *[event(user, "1000") for user in users])  # every allowance used
    calls.state["waiting"] = 10
    results = []
    jobs = [
        lambda i=i: results.append(one(org.profile, event(users[i % len(users)], "7", key=f"cap-{i}")))
        for i in range(THREADS * 2)
    ]
    assert race(*jobs) == []
    assert max(calls.sizes) > 1
    assert len([r for r in results if r.outcome == Outcome.OVERAGE]) == 14  # 98 of 100; a 15th would be 105
    assert ProfileBalance.objects.get(profile=org.profile).overage_used == Decimal("98.00")
    assert balance_mismatches() == []
    assert rollups_differences() == []


def test_a_replay_storm_of_single_events_counts_each_key_once(catalogues, org, calls):
    ann, bob = org.users["ann"], org.users["bob"]
    subscription_subscribe(profile=org.profile, users=[ann, bob], tier="POWER", actor=ACTOR)
    raws = [event(ann if i % 2 else bob, "0.5", key=f"storm-{i}") for i in range(60)]
    calls.state["waiting"] = 4
    results: list = []
    assert race(*[lambda: results.extend(one(org.profile, dict(raw)) for raw in raws) for _ in range(5)]) == []
    assert max(calls.sizes) > 1
    assert UsageEvent.objects.count() == 60
    assert len(results) == 300 and all(r.status == "accepted" for r in results)
    assert sum(not r.replayed for r in results) == 60  # each key decided once; the others are replays (200)
    assert sorted({r.http_status for r in results}) == [200, 201]
    for sub in Subscription.objects.filter(profile=org.profile):
        assert Balance.objects.get(subscription=sub).plan_used == Decimal("15.00")
    assert balance_mismatches() == []
    assert rollups_differences() == []


def test_each_event_of_a_group_keeps_its_sender_and_its_moment(catalogues, org, calls):
    ann = org.users["ann"]
    subscription_subscribe(profile=org.profile, users=ann, tier="PRO", actor=ACTOR)
    calls.state["waiting"] = 3
    moments = {}

    def send(i):
        now = timezone.now()
        moments[f"who-{i}"] = now
        actor = Actor(source="api", actor_type="api_token", label=f"client {i}", remote_addr=f"10.0.0.{i}")
        one(org.profile, event(ann, "1", key=f"who-{i}"), actor=actor, now=now)

    assert race(*[lambda i=i: send(i) for i in range(4)]) == []
    assert max(calls.sizes) == 3
    for stored in UsageEvent.objects.filter(idempotency_key__startswith="who-"):
        i = stored.idempotency_key.removeprefix("who-")
        assert (stored.recorded_by, stored.remote_addr) == (f"client {i}", f"10.0.0.{i}")
        assert stored.occurred_at == moments[stored.idempotency_key]  # when it arrived, not when its group ran


def test_a_group_whose_transaction_fails_records_its_events_one_by_one(catalogues, org, monkeypatch):
    ann = org.users["ann"]
    subscription_subscribe(profile=org.profile, users=ann, tier="PRO", actor=ACTOR)
    real = metering.usage_record
    first = threading.Event()

    def failing_groups(**kwargs):
        if not first.is_set():  # the first call waits for company, so that the next one is a group
            first.set()
            deadline = time.monotonic() + 30
            while len(metering._GROUP._queue) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
        elif len(kwargs["events"]) > 1:
            raise RuntimeError("a group's transaction failed")
        return real(**kwargs)

    monkeypatch.setattr(metering, "usage_record", failing_groups)
    results = []
    assert (
        race(*[lambda i=i: results.append(one(org.profile, event(ann, "2", key=f"alone-{i}"))) for i in range(4)]) == []
    )
    assert [r.http_status for r in results] == [201] * 4
    assert Balance.objects.get(subscription__user=ann).plan_used == Decimal("8.00")
    assert balance_mismatches() == []


def test_an_error_reaches_the_request_of_its_event(catalogues, org, monkeypatch):
    ann = org.users["ann"]
    subscription_subscribe(profile=org.profile, users=ann, tier="PRO", actor=ACTOR)

    def broken(**kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(metering, "usage_record", broken)
    errors = race(*[lambda i=i: one(org.profile, event(ann, "2", key=f"err-{i}")) for i in range(3)])
    assert [str(error) for error in errors] == ["database gone"] * 3
    assert metering._GROUP._queue == [] and not metering._GROUP._recording  # nobody left waiting, nobody recording


def test_a_group_reads_the_settings_once_and_answers_404_once_its_profile_is_gone(catalogues, org, calls, monkeypatch):
    """The API does not read a known profile's settings per single event: its group reads them once, in its
    transaction's stead, and finds the profile deleted there."""
    ann = org.users["ann"]
    subscription_subscribe(profile=org.profile, users=ann, tier="PRO", actor=ACTOR)
    reads: list[str] = []
    real = metering.metering_settings
    monkeypatch.setattr(metering, "metering_settings", lambda profile_id: reads.append(profile_id) or real(profile_id))
    calls.state["waiting"] = 3
    assert race(*[lambda i=i: one(org.profile, event(ann, "1", key=f"read-{i}")) for i in range(4)]) == []
    assert sorted(calls.sizes) == [1, 3]
    assert reads == [org.profile.profile_id] * 2  # one read alone, one for the group of three
    Profile.objects.filter(pk=org.profile.pk).update(deleted_at=timezone.now())
    errors = race(*[lambda i=i: one(org.profile, event(ann, "1", key=f"gone-{i}")) for i in range(4)])
    assert len(errors) == 4 and all(isinstance(error, Http404) for error in errors)
    assert UsageEvent.objects.filter(idempotency_key__startswith="gone-").count() == 0
    assert Balance.objects.get(subscription__user=ann).plan_used == Decimal("4.00")

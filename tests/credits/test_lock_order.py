"""Lock order between metering and subscription changes. On PostgreSQL (row locks) a change of subscriptions
locks the profile (FOR UPDATE), then the subscriptions in id order. A batch used to lock the subscriptions it
activates, then those whose "last active" it moves, and the profile last, at commit (the events' deferred foreign
key): a group's plan change in between deadlocked with it, and PostgreSQL killed one of the two. Metering now locks
the profile (FOR KEY SHARE) right after its users, before any subscription. On SQLite, where one writer runs at a
time, the change waits for the batch."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import psycopg
import pytest
from django.db import OperationalError, connection

from credits.models import Balance, Outcome, UsageEvent
from credits.selectors import balance_mismatches
from credits.services import metering
from subscriptions.models import Subscription
from subscriptions.services import group_assign, group_change_plan
from tests.credits.conftest import ACTOR, event, record

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("pause", [0.3, 1.5])  # either side could be PostgreSQL's deadlock victim (1 s timeout)
def test_a_group_plan_change_while_a_batch_activates_and_marks_use_waits_instead_of_deadlocking(
    catalogues, org, monkeypatch, pause
):
    """The batch activates the Pending subscription with the higher id, then moves "last active" of the Active one
    with the lower id; the plan change locks the group's subscriptions in id order in between."""
    engineering = org.groups["Engineering"]  # ann and bob
    group_assign(profile=org.profile, group=engineering, tier="PRO", actor=ACTOR)
    low, high = sorted(Subscription.objects.filter(profile=org.profile).select_related("user"), key=lambda s: s.pk)
    record(org.profile, event(low.user, "1"))  # Active now
    Subscription.objects.filter(pk=low.pk).update(last_active_at=None)  # the batch will move it
    activated = threading.Event()
    first_use = metering.subscriptions_record_first_use

    def activation_then_pause(**kwargs):
        done = first_use(**kwargs)
        activated.set()
        time.sleep(pause)
        return done

    monkeypatch.setattr(metering, "subscriptions_record_first_use", activation_then_pause)
    results, errors = [], []

    def run(job):
        try:
            job()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    def batch():
        results.extend(record(org.profile, event(low.user, "5"), event(high.user, "7")))

    def change_plan():
        assert activated.wait(30)
        group_change_plan(profile=org.profile, group=engineering, tier="PRO_PLUS", actor=ACTOR)

    threads = [threading.Thread(target=run, args=(job,)) for job in (batch, change_plan)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert [result.outcome for result in results] == [Outcome.PLAN, Outcome.PLAN]
    assert set(Subscription.objects.filter(profile=org.profile).values_list("tier_id", flat=True)) == {"PRO_PLUS"}
    assert balance_mismatches() == []


@pytest.mark.parametrize(
    ("cause", "runs_again"),
    [(psycopg.errors.DeadlockDetected, True), (psycopg.errors.SerializationFailure, True), (None, False)],
)
def test_a_batch_that_the_database_rolled_back_for_a_deadlock_runs_again_and_counts_once(
    catalogues, org, monkeypatch, cause, runs_again
):
    """Should another lock order still make a cycle, PostgreSQL rolls one side back: a batch that was the victim
    runs again (nothing of the first run kept); any other database error is the caller's."""
    ann = org.users["ann"]
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    record_once, runs = metering._record, []

    def victim_the_first_time(*args, **kwargs):
        runs.append(1)
        answer = record_once(*args, **kwargs)
        if len(runs) == 1:  # all of it written, then rolled back
            error = OperationalError("deadlock detected" if cause else "disk I/O error")
            raise error from (cause("deadlock detected") if cause else None)
        return answer

    monkeypatch.setattr(metering, "_record", victim_the_first_time)
    if runs_again:
        assert record(org.profile, event(ann, "5")).outcome == Outcome.PLAN
        assert len(runs) == 2
        assert UsageEvent.objects.filter(profile=org.profile).count() == 1
        assert Balance.objects.get(subscription__user=ann).plan_used == Decimal("5.00")
    else:
        with pytest.raises(OperationalError):
            record(org.profile, event(ann, "5"))
        assert len(runs) == 1
        assert not UsageEvent.objects.filter(profile=org.profile).exists()
    assert balance_mismatches() == []

"""The credit rules of DOMAIN.md §5 at the service level: plan use, overage, caps, access, replays, months."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from credits.events import event_parse
from credits.models import Balance, Notification, Outcome, ProfileBalance, Reason, UsageEvent
from credits.selectors import balance_mismatches
from credits.services import (
    entitlement_for,
    group_assignment_set_overage_cap,
    subscription_set_overage_cap,
)
from directory import services as directory
from subscriptions.models import AiModel, GroupAssignment, Subscription, SubscriptionStatus
from subscriptions.services import (
    group_assign,
    profile_settings_update,
    subscription_change_plan,
    subscription_subscribe,
    subscription_unsubscribe,
)
from tests.credits.conftest import ACTOR, event, record

pytestmark = pytest.mark.django_db


def overage(profile, on=True, shared_cap=None):
    changes = {"overage_enabled": on}
    if shared_cap is not None:
        changes["overage_shared_cap"] = shared_cap
    profile_settings_update(profile=profile, changes=changes, actor=ACTOR)


def balance(org, name, month="2026-11-01"):
    return Balance.objects.get(subscription__profile=org.profile, subscription__user=org.users[name], month=month)


def test_plan_use_is_accepted_while_it_fits_the_allowance(metered):
    result = record(metered.profile, event(metered.users["ann"], "999.99"))
    assert (result.status, result.outcome, result.http_status) == ("accepted", Outcome.PLAN, 201)
    assert result.remaining_credits == Decimal("0.01")
    last = record(metered.profile, event(metered.users["ann"], "0.01"))
    assert (last.outcome, last.remaining_credits) == (Outcome.PLAN, Decimal("0.00"))
    assert balance(metered, "ann").plan_used == Decimal("1000.00")


def test_an_event_past_the_allowance_is_rejected_whole_when_overage_is_off(metered):
    record(metered.profile, event(metered.users["ann"], "990"))
    result = record(metered.profile, event(metered.users["ann"], "20"))
    assert (result.status, result.reason, result.http_status) == ("rejected", Reason.ALLOWANCE_EXHAUSTED, 402)
    assert balance(metered, "ann").plan_used == Decimal("990.00")  # never split: nothing of the 20 counted
    assert record(metered.profile, event(metered.users["ann"], "10")).outcome == Outcome.PLAN


def test_an_event_past_the_allowance_is_overage_when_the_profile_allows_it(metered):
    overage(metered.profile)
    record(metered.profile, event(metered.users["ann"], "990"))
    result = record(metered.profile, event(metered.users["ann"], "20"))
    assert (result.outcome, result.overage_credits, result.plan_credits) == (Outcome.OVERAGE, Decimal("20"), 0)
    b = balance(metered, "ann")
    assert (b.plan_used, b.overage_used) == (Decimal("990.00"), Decimal("20.00"))
    assert ProfileBalance.objects.get(profile=metered.profile).overage_used == Decimal("20.00")


def test_a_user_cap_limits_that_users_overage_and_0_means_none(metered):
    overage(metered.profile)
    sub = Subscription.objects.get(profile=metered.profile, user=metered.users["ann"])
    subscription_set_overage_cap(subscription=sub, cap="30", actor=ACTOR)
    record(metered.profile, event(metered.users["ann"], "1000"))
    assert record(metered.profile, event(metered.users["ann"], "25")).outcome == Outcome.OVERAGE
    assert record(metered.profile, event(metered.users["ann"], "5.01")).reason == Reason.USER_CAP
    assert record(metered.profile, event(metered.users["ann"], "5")).outcome == Outcome.OVERAGE
    subscription_set_overage_cap(subscription=sub, cap="0", actor=ACTOR)
    assert record(metered.profile, event(metered.users["ann"], "0.01")).reason == Reason.USER_CAP


def test_a_member_of_several_capped_groups_gets_the_highest_group_cap(metered):
    overage(metered.profile)
    group_assign(profile=metered.profile, group=metered.groups["Engineering"], tier="PRO", actor=ACTOR)
    group_assign(profile=metered.profile, group=metered.groups["Research"], tier="PRO", actor=ACTOR)
    engineering = GroupAssignment.objects.get(group=metered.groups["Engineering"])
    research = GroupAssignment.objects.get(group=metered.groups["Research"])
    group_assignment_set_overage_cap(assignment=engineering, cap="10", actor=ACTOR)
    group_assignment_set_overage_cap(assignment=research, cap="50", actor=ACTOR)
    bob, ann = metered.users["bob"], metered.users["ann"]  # bob: both groups (cap 50); ann: Engineering (10)
    record(metered.profile, event(bob, "2000"), event(ann, "1000"))
    assert record(metered.profile, event(bob, "50")).outcome == Outcome.OVERAGE
    assert record(metered.profile, event(bob, "0.01")).reason == Reason.GROUP_CAP
    assert record(metered.profile, event(ann, "10.01")).reason == Reason.GROUP_CAP
    assert record(metered.profile, event(ann, "10")).outcome == Outcome.OVERAGE


def test_every_applicable_cap_must_hold_user_group_and_shared(metered):
    overage(metered.profile, shared_cap="15")
    ann = metered.users["ann"]
    sub = Subscription.objects.get(profile=metered.profile, user=ann)
    subscription_set_overage_cap(subscription=sub, cap="100", actor=ACTOR)
    record(metered.profile, event(ann, "1000"), event(metered.users["bob"], "2000"))
    assert record(metered.profile, event(ann, "10")).outcome == Outcome.OVERAGE
    assert record(metered.profile, event(metered.users["bob"], "6")).reason == Reason.SHARED_CAP
    assert record(metered.profile, event(metered.users["bob"], "5")).outcome == Outcome.OVERAGE
    assert ProfileBalance.objects.get(profile=metered.profile).overage_used == Decimal("15.00")
    assert Notification.objects.filter(key__startswith="shared:").count() == 1


def test_a_replay_returns_the_first_answer_and_counts_once(metered):
    raw = event(metered.users["ann"], "12.50", key="k-1")
    first = record(metered.profile, raw)
    again = record(metered.profile, dict(raw))
    assert (again.status, again.replayed, again.http_status) == ("accepted", True, 200)
    assert (again.plan_credits, again.remaining_credits) == (first.plan_credits, first.remaining_credits)
    assert UsageEvent.objects.count() == 1
    assert balance(metered, "ann").plan_used == Decimal("12.50")


def test_the_same_key_with_another_payload_is_a_conflict_and_counts_nothing(metered):
    record(metered.profile, event(metered.users["ann"], "1", key="k-1"))
    result = record(metered.profile, event(metered.users["ann"], "2", key="k-1"))
    assert (result.conflict, result.http_status) == (True, 409)
    assert balance(metered, "ann").plan_used == Decimal("1.00")


def test_a_key_repeated_within_one_batch_counts_once(metered):
    ann = metered.users["ann"]
    results = record(
        metered.profile, event(ann, "3", key="dup"), event(ann, "3", key="dup"), event(ann, "4", key="dup")
    )
    assert [(r.status, r.replayed, r.conflict) for r in results] == [
        ("accepted", False, False),
        ("accepted", True, False),
        ("rejected", False, True),
    ]
    assert balance(metered, "ann").plan_used == Decimal("3.00")


def test_the_same_key_in_two_profiles_is_two_events(metered):
    subscription_subscribe(profile=metered.other, users=metered.users["ann"], tier="PRO", actor=ACTOR)
    record(metered.profile, event(metered.users["ann"], "1", key="shared-key"))
    assert record(metered.other, event(metered.users["ann"], "1", key="shared-key")).replayed is False


def test_users_without_access_are_rejected_and_the_event_kept_for_the_record(metered):
    cat, dan = metered.users["cat"], metered.users["dan"]
    result = record(metered.profile, event(cat, "1"))
    assert (result.reason, result.http_status) == (Reason.NOT_SUBSCRIBED, 403)
    subscription_subscribe(profile=metered.profile, users=metered.users["bob"], tier="PRO", actor=ACTOR)
    directory.directory_user_update(user=metered.users["bob"], actor=ACTOR, active=False)
    assert record(metered.profile, event(metered.users["bob"], "1")).reason == Reason.USER_INACTIVE
    assert record(metered.profile, event(dan, "1")).reason == Reason.USER_INACTIVE
    kept = UsageEvent.objects.filter(outcome=Outcome.REJECTED)
    assert kept.count() == 3
    assert not Balance.objects.filter(subscription__user__in=[cat, dan]).exists()
    assert balance_mismatches() == []


def test_a_canceled_subscription_meters_until_the_month_ends(metered, clock):
    ann = metered.users["ann"]
    subscription_unsubscribe(profile=metered.profile, users=ann, actor=ACTOR)
    clock.set(2026, 11, 30, 23, 59, 59)
    assert record(metered.profile, event(ann, "1")).outcome == Outcome.PLAN
    clock.set(2026, 12, 1, 0, 0, 0)
    assert record(metered.profile, event(ann, "1")).reason == Reason.ACCESS_ENDED


def test_the_first_accepted_event_activates_a_pending_subscription(metered, clock):
    ann = metered.users["ann"]
    sub = Subscription.objects.get(profile=metered.profile, user=ann)
    assert sub.status == SubscriptionStatus.PENDING
    at = clock.set(2026, 11, 16, 9, 30)
    record(metered.profile, event(ann, "1"))
    sub.refresh_from_db()
    assert (sub.status, sub.activated_at, sub.last_active_at) == (SubscriptionStatus.ACTIVE, at, at)
    later = clock.set(2026, 11, 17, 8, 0)
    record(metered.profile, event(ann, "1"))
    sub.refresh_from_db()
    assert (sub.activated_at, sub.last_active_at) == (at, later)


def test_events_count_in_the_utc_month_they_occurred(metered, clock):
    ann = metered.users["ann"]
    clock.set(2026, 12, 1, 0, 1)
    record(
        metered.profile,
        event(ann, "7", occurred_at="2026-11-30T23:59:59.990000Z"),
        event(ann, "5", occurred_at="2026-12-01T00:00:00Z"),
    )
    assert balance(metered, "ann", "2026-11-01").plan_used == Decimal("7.00")
    assert balance(metered, "ann", "2026-12-01").plan_used == Decimal("5.00")


def test_an_upgrade_raises_the_allowance_at_once_and_a_downgrade_keeps_it_until_the_first(metered, clock):
    ann = metered.users["ann"]
    record(metered.profile, event(ann, "1000"))
    subscription_change_plan(profile=metered.profile, users=ann, tier="PRO_PLUS", actor=ACTOR)
    assert record(metered.profile, event(ann, "500")).outcome == Outcome.PLAN
    assert balance(metered, "ann").allowance == Decimal("2000.00")
    subscription_change_plan(profile=metered.profile, users=ann, tier="PRO", actor=ACTOR)  # pending downgrade
    assert record(metered.profile, event(ann, "499")).outcome == Outcome.PLAN
    clock.set(2026, 12, 2)
    record(metered.profile, event(ann, "1"))
    assert balance(metered, "ann", "2026-12-01").allowance == Decimal("1000.00")


def test_a_model_outside_the_approved_list_is_refused(metered):
    profile_settings_update(
        profile=metered.profile,
        changes={"model_availability": "approved", "approved_models": ["claude-sonnet-4.5"]},
        actor=ACTOR,
    )
    ann = metered.users["ann"]
    assert record(metered.profile, event(ann, "1", model="auto")).reason == Reason.MODEL_NOT_APPROVED
    assert record(metered.profile, event(ann, "1", model="claude-sonnet-4.5")).outcome == Outcome.PLAN


def test_alerts_at_50_75_90_and_100_percent_once_each(
    metered, mailoutbox, admin_user, django_capture_on_commit_callbacks
):
    admin_user.email = "admin@example.com"
    admin_user.save()
    ann = metered.users["ann"]
    with django_capture_on_commit_callbacks(execute=True):
        record(metered.profile, event(ann, "499.99"))
        assert Notification.objects.count() == 0
        record(metered.profile, event(ann, "0.01"))
        record(metered.profile, event(ann, "400"))  # 90%: crosses 75 and 90 at once
        record(metered.profile, event(ann, "10"))
        record(metered.profile, event(ann, "90"))
        record(metered.profile, event(ann, "5"))  # rejected: nothing more
    assert sorted(Notification.objects.values_list("threshold", flat=True)) == [50, 75, 90, 100]
    assert len(mailoutbox) == 4 and mailoutbox[0].to == ["admin@example.com"]
    assert "ann has used 50%" in mailoutbox[0].body


def test_the_entitlement_answers_the_numbers_and_the_settings(metered):
    ann = metered.users["ann"]
    overage(metered.profile, shared_cap="100")
    record(metered.profile, event(ann, "1000"), event(ann, "12.5"))
    e = entitlement_for(profile=metered.profile, user=ann)
    assert (e.entitled, e.status, e.tier, e.month) == (True, "ACTIVE", "PRO", "2026-11")
    assert (e.allowance, e.used, e.overage_used, e.remaining) == (1000, Decimal("1012.50"), Decimal("12.50"), 0)
    assert e.shared_cap == Decimal("100.00") and e.settings["mcp"]["enabled"] is True
    assert entitlement_for(profile=metered.profile, user=metered.users["cat"]).reason == Reason.NOT_SUBSCRIBED


def test_the_entitlement_says_when_the_allowance_is_used_up(metered):
    ann = metered.users["ann"]
    record(metered.profile, event(ann, "1000"))
    e = entitlement_for(profile=metered.profile, user=ann)
    assert (e.entitled, e.reason) == (False, Reason.ALLOWANCE_EXHAUSTED)


def test_caps_are_audited_and_validated(metered):
    from django.core.exceptions import ValidationError

    from kiroconsole.models import AuditEvent

    sub = Subscription.objects.get(profile=metered.profile, user=metered.users["ann"])
    subscription_set_overage_cap(subscription=sub, cap="12.5", actor=ACTOR)
    audit = AuditEvent.objects.get(action="subscription.overage_cap")
    assert (audit.before["overage_cap"], audit.after["overage_cap"]) == (None, "12.50")
    for bad in ("-1", "1.234", "lots", 1.5):
        with pytest.raises(ValidationError):
            subscription_set_overage_cap(subscription=sub, cap=bad, actor=ACTOR)
    with pytest.raises(ValidationError):
        profile_settings_update(profile=metered.profile, changes={"overage_shared_cap": "-5"}, actor=ACTOR)


def test_balances_equal_the_sums_of_accepted_events(metered):
    overage(metered.profile)
    ann, bob = metered.users["ann"], metered.users["bob"]
    record(metered.profile, *[event(ann if i % 2 else bob, "123.45") for i in range(40)])
    assert balance_mismatches() == []
    Balance.objects.filter(subscription__user=ann).update(plan_hundredths=1)
    assert len(balance_mismatches()) == 1


def test_a_month_old_balance_uses_the_highest_tier_held_that_month(metered, clock):
    ann = metered.users["ann"]
    subscription_change_plan(profile=metered.profile, users=ann, tier="POWER", actor=ACTOR)
    clock.set(2026, 11, 20)
    subscription_change_plan(profile=metered.profile, users=ann, tier="PRO", actor=ACTOR)
    clock.set(2026, 12, 3)
    record(metered.profile, event(ann, "5000", occurred_at="2026-11-25T10:00:00Z"))
    assert balance(metered, "ann", "2026-11-01").allowance == Decimal("10000.00")
    record(metered.profile, event(ann, "5"))
    assert balance(metered, "ann", "2026-12-01").allowance == Decimal("1000.00")


def test_an_event_before_the_user_was_subscribed_is_refused(metered, clock):
    clock.set(2026, 11, 20)
    assert (
        record(metered.profile, event(metered.users["ann"], "1", occurred_at="2026-11-01T00:00:00Z")).reason
        == Reason.NOT_YET_SUBSCRIBED
    )


def test_timestamps_are_the_events_own_and_now_by_default(metered, clock):
    now = clock.set(2026, 11, 18, 10)
    record(metered.profile, event(metered.users["ann"], "1"))
    assert UsageEvent.objects.get().occurred_at == now
    assert UsageEvent.objects.get().month == datetime.date(2026, 11, 1)


def test_the_bill_counts_the_months_overage_at_4_cents(metered):
    from subscriptions.billing import profile_bill
    from subscriptions.calendar import parse_month

    overage(metered.profile)
    ann = metered.users["ann"]
    record(metered.profile, event(ann, "1000"), event(ann, "250.25"))
    bill = profile_bill(metered.profile, parse_month("2026-11"))
    assert (bill.overage_credits, bill.overage_amount) == (Decimal("250.25"), Decimal("10.01"))
    assert bill.total == Decimal("20.00") + Decimal("10.01")  # ann's Pro seat (bob never used Kiro: pending)
    assert profile_bill(metered.profile, parse_month("2026-10")).overage_credits == 0


def test_check_balances_reports_a_balance_that_differs_from_its_events(metered):
    from django.core.management import CommandError, call_command

    record(metered.profile, event(metered.users["ann"], "10"))
    call_command("check_balances", "--profile", metered.profile.name)
    Balance.objects.update(plan_hundredths=5)
    with pytest.raises(CommandError, match="1 balance"):
        call_command("check_balances")


@pytest.mark.parametrize("count", [1, 3, 20])  # up to COPY_FROM rows: one INSERT of arrays on PostgreSQL
def test_events_are_stored_as_sent_whatever_their_text(metered, count):
    """The events' INSERT (`insert_rows(hot=True)`: the columns as arrays on PostgreSQL) keeps every value as it
    came: keys and senders with quotes, backslashes, braces, commas and NULL-like text, no address and IPv6."""
    from credits.services import usage_record
    from kiroconsole.audit import Actor

    tricky = ['a"b', "c\\d", "{e,f}", "NULL", "'i'"]  # keys: printable ASCII without spaces
    labels = [*tricky, "g h", "ü,ß"]
    ann, bob = metered.users["ann"], metered.users["bob"]
    now = timezone.now()
    raws = [event(ann if n % 2 else bob, f"{n + 1}.25", key=f"{tricky[n % len(tricky)]}-{n}") for n in range(count)]
    models = frozenset(AiModel.objects.values_list("code", flat=True))
    events = [event_parse(raw, now=now, models=models) for raw in raws]
    actors = [
        Actor(source="api", actor_type="api_token", label=f"client {labels[n % len(labels)]}",
              remote_addr=[None, "10.0.0.1", "2001:db8::1"][n % 3])
        for n in range(count)
    ]  # fmt: skip
    results = usage_record(profile=metered.profile, events=events, actor=actors[0], actors=actors, now=now)
    assert [r.status for r in results] == ["accepted"] * count
    stored = {e.idempotency_key: e for e in UsageEvent.objects.filter(profile=metered.profile)}
    assert set(stored) == {raw["idempotency_key"] for raw in raws}
    for n, raw in enumerate(raws):
        row = stored[raw["idempotency_key"]]
        assert row.recorded_by == actors[n].label
        assert row.remote_addr == actors[n].remote_addr
        assert row.credits == Decimal(f"{n + 1}.25") and row.plan_credits == row.credits
        assert row.occurred_at == now and row.user_id == (ann if n % 2 else bob).pk
        assert row.tier_id == ("PRO" if n % 2 else "PRO_PLUS")
    assert balance_mismatches() == []

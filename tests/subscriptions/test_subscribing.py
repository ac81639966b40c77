"""The subscription rules of DOMAIN.md §4, one test each, at the service level (the API and pages call these)."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from directory import services as directory
from kiroconsole.errors import ConflictError
from kiroconsole.models import AuditEvent
from subscriptions.billing import profile_bill
from subscriptions.calendar import parse_month
from subscriptions.models import GroupAssignment, Subscription, SubscriptionPeriod
from subscriptions.services import (
    group_assign,
    group_change_plan,
    group_unassign,
    subscription_change_plan,
    subscription_record_activity,
    subscription_subscribe,
    subscription_unsubscribe,
)
from tests.factories import DirectoryUserFactory, IdentityCenterFactory, ProfileFactory
from tests.subscriptions.conftest import ACTOR

NOVEMBER, DECEMBER, JANUARY = parse_month("2026-11"), parse_month("2026-12"), parse_month("2027-01")


def sub(org, name, profile=None) -> Subscription:
    return Subscription.objects.get(profile=profile or org.profile, user=org.users[name])


def state(org, name, profile=None) -> tuple:
    s = sub(org, name, profile)
    return s.status, s.tier_id, s.next_tier_id


def bill_lines(profile, month) -> dict[str, int]:
    return {line.tier.code: line.seats for line in profile_bill(profile, month).lines}


def activate(org, name, profile=None) -> None:
    """The user's first use of Kiro, now."""
    assert subscription_record_activity(subscription_id=sub(org, name, profile).pk, at=timezone.now())


# --- Rule 1: states ------------------------------------------------------------------------------------------


def test_a_new_subscription_is_pending_and_costs_nothing(org):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    s = sub(org, "ann")
    assert (s.status, s.tier_id, s.activated_at, s.last_active_at) == ("PENDING", "PRO", None, None)
    assert profile_bill(org.profile, NOVEMBER).lines == []
    assert profile_bill(org.profile, NOVEMBER).total == Decimal("0.00")


def test_first_use_makes_it_active_and_billed(org, clock):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    clock.set(2026, 11, 20, 9, 30)
    activate(org, "ann")
    s = sub(org, "ann")
    assert (s.status, s.activated_at, s.last_active_at) == ("ACTIVE", clock.now, clock.now)
    bill = profile_bill(org.profile, NOVEMBER)
    assert [(line.tier.code, line.seats, line.unit_price, line.amount) for line in bill.lines] == [
        ("PRO", 1, Decimal("20.00"), Decimal("20.00"))
    ]
    assert bill.total == Decimal("20.00")
    # A second use only moves "last active".
    clock.set(2026, 11, 21)
    assert not subscription_record_activity(subscription_id=s.pk, at=clock.now)
    assert sub(org, "ann").last_active_at == clock.now


def test_an_active_subscription_is_billed_every_month_until_canceled(org, clock):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO_PLUS", actor=ACTOR)
    activate(org, "ann")
    assert bill_lines(org.profile, DECEMBER) == {"PRO_PLUS": 1}
    assert bill_lines(org.profile, JANUARY) == {"PRO_PLUS": 1}


# --- Rule 2: sources, highest tier wins ---------------------------------------------------------------------


def test_a_user_in_two_assigned_groups_has_one_subscription_at_the_higher_tier_and_one_seat(org):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO_PLUS", actor=ACTOR)
    assert Subscription.objects.filter(profile=org.profile, user=org.users["bob"]).count() == 1
    assert state(org, "bob") == ("PENDING", "PRO_PLUS", None)
    assert state(org, "ann") == ("PENDING", "PRO", None)
    assert state(org, "cat") == ("PENDING", "PRO_PLUS", None)
    activate(org, "bob")
    assert bill_lines(org.profile, NOVEMBER) == {"PRO_PLUS": 1}


def test_the_same_user_in_two_profiles_is_two_subscriptions_billed_twice(org):
    for profile in (org.profile, org.other):
        subscription_subscribe(profile=profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
        activate(org, "ann", profile)
    assert Subscription.objects.filter(user=org.users["ann"]).count() == 2
    assert bill_lines(org.profile, NOVEMBER) == {"PRO": 1}
    assert bill_lines(org.other, NOVEMBER) == {"PRO": 1}


def test_a_direct_tier_above_the_groups_wins_and_below_them_changes_nothing(org):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO_PLUS", actor=ACTOR)
    subscription_change_plan(profile=org.profile, users=org.users["ann"], tier="POWER", actor=ACTOR)
    assert state(org, "ann") == ("PENDING", "POWER", None)
    changes = subscription_change_plan(profile=org.profile, users=org.users["bob"], tier="PRO", actor=ACTOR)
    assert state(org, "bob") == ("PENDING", "PRO_PLUS", None)  # the group still gives Pro+
    assert changes.source_changed == ["bob"]


# --- Rule 3: group propagation ------------------------------------------------------------------------------


def test_assigning_a_group_subscribes_its_active_members_at_once(org):
    directory.group_members_add(group=org.groups["Engineering"], users=[org.users["dan"]], actor=ACTOR)  # inactive
    _, changes = group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    assert sorted(changes.subscribed) == ["ann", "bob"]
    assert not Subscription.objects.filter(user=org.users["dan"]).exists()
    event = AuditEvent.objects.get(action="group_assignment.create")
    assert event.after["subscribed"] == {"count": 2, "users": ["ann", "bob"]}
    assert event.after["tier"] == "PRO"


def test_a_member_added_to_an_assigned_group_is_subscribed_at_once(org):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO_MAX", actor=ACTOR)
    directory.group_members_add(group=org.groups["Engineering"], users=[org.users["cat"]], actor=ACTOR)
    assert state(org, "cat") == ("PENDING", "PRO_MAX", None)
    event = AuditEvent.objects.get(action="subscription.follow_directory")
    assert event.after["subscribed"]["users"] == ["cat"] and event.actor_label == ACTOR.label
    assert not Subscription.objects.filter(profile=org.other).exists()  # only where the group is assigned


def test_a_member_removed_from_its_only_group_is_canceled_with_access_until_the_1st(org, clock):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    directory.group_members_remove(group=org.groups["Engineering"], users=[org.users["ann"]], actor=ACTOR)
    s = sub(org, "ann")
    assert (s.status, s.canceled_at, s.access_until) == ("CANCELED", clock.now, DECEMBER)
    assert s.has_access(clock.now) and not s.has_access(DECEMBER)


def test_a_member_removed_from_the_higher_group_keeps_the_lower_tier_from_the_1st(org):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    group_assign(profile=org.profile, group=org.groups["Research"], tier="POWER", actor=ACTOR)
    directory.group_members_remove(group=org.groups["Research"], users=[org.users["bob"]], actor=ACTOR)
    s = sub(org, "bob")
    assert (s.status, s.tier_id, s.next_tier_id, s.next_tier_from) == ("PENDING", "POWER", "PRO", DECEMBER)
    assert s.effective_tier_id(DECEMBER) == "PRO"


def test_an_import_of_memberships_subscribes_the_new_members(org, tmp_path):
    from django.core.management import call_command

    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)
    path = tmp_path / "members.csv"
    path.write_text("group,user_name\nResearch,ann\n")
    call_command("import_memberships", str(path), identity_store=org.ic.identity_store_id, stdout=StringIO())
    assert state(org, "ann") == ("PENDING", "PRO", None)


# --- Rule 4: upgrades now, downgrades from the 1st -----------------------------------------------------------


def test_an_upgrade_on_the_15th_bills_the_month_at_the_higher_tier_only(org, clock):
    clock.set(2026, 11, 2)
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    activate(org, "ann")
    clock.set(2026, 11, 15)
    changes = subscription_change_plan(profile=org.profile, users=org.users["ann"], tier="PRO_MAX", actor=ACTOR)
    assert changes.upgraded == ["ann"]
    assert state(org, "ann") == ("ACTIVE", "PRO_MAX", None)
    assert bill_lines(org.profile, NOVEMBER) == {"PRO_MAX": 1}


def test_a_downgrade_on_the_15th_keeps_the_higher_tier_until_the_1st(org, clock):
    clock.set(2026, 11, 2)
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="POWER", actor=ACTOR)
    activate(org, "ann")
    clock.set(2026, 11, 15)
    changes = subscription_change_plan(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    assert changes.downgrade_scheduled == ["ann"]
    s = sub(org, "ann")
    assert (s.tier_id, s.next_tier_id, s.next_tier_from) == ("POWER", "PRO", DECEMBER)
    assert s.effective_tier_id(clock.set(2026, 11, 30, 23, 59, 59)) == "POWER"
    assert s.effective_tier_id(DECEMBER) == "PRO"
    assert bill_lines(org.profile, NOVEMBER) == {"POWER": 1}
    assert bill_lines(org.profile, DECEMBER) == {"PRO": 1}  # nobody touched it: read from the stored dates
    # The next change after the 1st settles the downgrade into the history, from the 1st.
    clock.set(2026, 12, 10)
    subscription_change_plan(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    assert state(org, "ann") == ("ACTIVE", "PRO", None)
    periods = list(SubscriptionPeriod.objects.filter(subscription=s).values_list("tier", "starts_at", "ends_at"))
    assert periods[-1] == ("PRO", DECEMBER, None)
    assert bill_lines(org.profile, NOVEMBER) == {"POWER": 1} and bill_lines(org.profile, DECEMBER) == {"PRO": 1}


def test_a_pending_downgrade_can_be_undone_before_the_1st(org, clock):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO_MAX", actor=ACTOR)
    subscription_change_plan(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    changes = subscription_change_plan(profile=org.profile, users=org.users["ann"], tier="PRO_MAX", actor=ACTOR)
    assert changes.downgrade_undone == ["ann"]
    assert state(org, "ann") == ("PENDING", "PRO_MAX", None)


def test_a_group_plan_change_moves_members_up_at_once_and_down_from_the_1st(org):
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO_PLUS", actor=ACTOR)
    _, up = group_change_plan(profile=org.profile, group=org.groups["Research"], tier="POWER", actor=ACTOR)
    assert sorted(up.upgraded) == ["bob", "cat"] and state(org, "cat") == ("PENDING", "POWER", None)
    _, down = group_change_plan(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)
    assert sorted(down.downgrade_scheduled) == ["bob", "cat"] and state(org, "cat") == ("PENDING", "POWER", "PRO")


# --- Rules 5 and 6: unsubscribe, losing sources --------------------------------------------------------------


def test_an_unsubscribed_user_keeps_access_until_the_month_end_and_loses_it_on_the_1st(org, clock):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    activate(org, "ann")
    clock.set(2026, 11, 20)
    changes = subscription_unsubscribe(profile=org.profile, users=org.users["ann"], actor=ACTOR)
    assert changes.canceled == ["ann"]
    s = sub(org, "ann")
    assert (s.status, s.access_until) == ("CANCELED", DECEMBER)
    assert s.has_access(clock.set(2026, 11, 30, 23, 59, 59)) and not s.has_access(clock.set(2026, 12, 1))
    assert bill_lines(org.profile, NOVEMBER) == {"PRO": 1}  # billed in full: it was Active
    assert bill_lines(org.profile, DECEMBER) == {}


def test_an_unsubscribed_user_stays_unsubscribed_while_its_groups_are_assigned(org):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    subscription_unsubscribe(profile=org.profile, users=org.users["ann"], actor=ACTOR)
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)  # ann is not in it
    group_change_plan(profile=org.profile, group=org.groups["Engineering"], tier="POWER", actor=ACTOR)
    assert state(org, "ann")[0] == "CANCELED"
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    assert state(org, "ann") == ("PENDING", "POWER", None)  # subscribed directly again: the group counts again


def test_resubscribing_before_the_month_ends_reactivates_the_same_subscription(org, clock):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    activate(org, "ann")
    first = sub(org, "ann")
    subscription_unsubscribe(profile=org.profile, users=org.users["ann"], actor=ACTOR)
    clock.set(2026, 11, 25)
    changes = subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    assert changes.reactivated == ["ann"]
    again = sub(org, "ann")
    assert (again.pk, again.status, again.activated_at, again.canceled_at) == (
        first.pk,
        "ACTIVE",
        first.activated_at,
        None,
    )


def test_resubscribing_after_the_access_ended_starts_a_new_pending_subscription(org, clock):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    activate(org, "ann")
    subscription_unsubscribe(profile=org.profile, users=org.users["ann"], actor=ACTOR)
    clock.set(2027, 1, 5)
    changes = subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO_PLUS", actor=ACTOR)
    assert changes.subscribed == ["ann"]
    s = sub(org, "ann")
    assert (s.status, s.tier_id, s.subscribed_at, s.activated_at) == ("PENDING", "PRO_PLUS", clock.now, None)
    assert bill_lines(org.profile, DECEMBER) == {} and bill_lines(org.profile, JANUARY) == {}


def test_unassigning_a_group_cancels_members_without_another_source(org):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)
    changes = group_unassign(profile=org.profile, group=org.groups["Engineering"], actor=ACTOR)
    assert changes.canceled == ["ann"]
    assert state(org, "bob") == ("PENDING", "PRO", None)  # still in Research
    assert not GroupAssignment.objects.filter(group=org.groups["Engineering"]).exists()


# --- Rule 7: deactivated and deleted users ---------------------------------------------------------------------


def test_a_deactivated_user_cannot_be_subscribed(org):
    with pytest.raises(ValidationError) as error:
        subscription_subscribe(profile=org.profile, users=org.users["dan"], tier="PRO", actor=ACTOR)
    assert error.value.message_dict["users"] == ["dan is deactivated: reactivate the user before subscribing it."]
    assert not Subscription.objects.exists()


def test_a_deactivated_user_keeps_its_subscription_and_a_reactivated_one_gets_its_groups(org):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    directory.directory_user_update(user=org.users["ann"], actor=ACTOR, active=False)
    assert state(org, "ann") == ("PENDING", "PRO", None)  # kept; the pages flag it
    directory.group_members_add(group=org.groups["Engineering"], users=[org.users["dan"]], actor=ACTOR)
    assert not Subscription.objects.filter(user=org.users["dan"]).exists()
    directory.directory_user_update(user=org.users["dan"], actor=ACTOR, active=True)
    assert state(org, "dan") == ("PENDING", "PRO", None)


def test_deleting_a_user_cancels_its_subscriptions_and_keeps_the_history(org):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    subscription_subscribe(profile=org.other, users=org.users["ann"], tier="PRO", actor=ACTOR)
    directory.directory_user_delete(user=org.users["ann"], actor=ACTOR)
    assert state(org, "ann")[0] == "CANCELED" and state(org, "ann", org.other)[0] == "CANCELED"
    assert SubscriptionPeriod.objects.filter(subscription__user=org.users["ann"]).count() == 4


def test_deleting_an_assigned_group_ends_its_assignment(org):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    directory.directory_group_delete(group=org.groups["Engineering"], actor=ACTOR)
    assert not GroupAssignment.objects.exists()
    assert state(org, "ann")[0] == "CANCELED"


# --- Rule 8: billing ---------------------------------------------------------------------------------------------


def test_govcloud_prices_carry_the_multiplier(db, clock, settings):
    settings.KIRO_GOVCLOUD_PRICE_MULTIPLIER = Decimal("1.2")
    profile = ProfileFactory(region="us-gov-west-1")
    user = DirectoryUserFactory(identity_center=profile.identity_center)
    subscription_subscribe(profile=profile, users=user, tier="PRO_PLUS", actor=ACTOR)
    s = Subscription.objects.get(user=user)
    subscription_record_activity(subscription_id=s.pk, at=clock.now)
    bill = profile_bill(profile, NOVEMBER)
    assert [(line.unit_price, line.amount) for line in bill.lines] == [(Decimal("48.00"), Decimal("48.00"))]
    assert bill.overage_unit_price == Decimal("0.0480")


# --- Bad input ------------------------------------------------------------------------------------------------


def test_an_unknown_tier_is_refused(org):
    with pytest.raises(ValidationError) as error:
        subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="GOLD", actor=ACTOR)
    assert error.value.message_dict["tier"] == ["Unknown tier 'GOLD': choose one of PRO, PRO_PLUS, PRO_MAX, POWER."]


def test_a_user_of_another_directory_is_refused(org):
    stranger = DirectoryUserFactory(identity_center=IdentityCenterFactory(), user_name="stranger")
    with pytest.raises(ValidationError) as error:
        subscription_subscribe(profile=org.profile, users=[org.users["ann"], stranger], tier="PRO", actor=ACTOR)
    assert error.value.message_dict["users"] == [
        f"stranger is in another directory than this profile's ({org.ic.identity_store_id})."
    ]
    assert not Subscription.objects.exists()


def test_a_group_with_no_members_may_be_assigned(org):
    empty = directory.directory_group_create(identity_center=org.ic, actor=ACTOR, display_name="Empty")
    assignment, changes = group_assign(profile=org.profile, group=empty, tier="PRO", actor=ACTOR)
    assert assignment.pk and not changes


def test_assigning_a_group_twice_is_a_conflict(org):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    with pytest.raises(ConflictError):
        group_assign(profile=org.profile, group=org.groups["Engineering"], tier="POWER", actor=ACTOR)


def test_unsubscribing_what_is_not_subscribed_is_refused(org):
    with pytest.raises(ValidationError) as error:
        subscription_unsubscribe(profile=org.profile, users=org.users["ann"], actor=ACTOR)
    assert error.value.message_dict["users"] == ["ann is not subscribed in this profile."]
    with pytest.raises(ValidationError):
        group_unassign(profile=org.profile, group=org.groups["Engineering"], actor=ACTOR)

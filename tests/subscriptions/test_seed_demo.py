"""seed_demo's organization: the management account and two members, the organization's Identity Center instance,
a profile in us-east-1 and one in eu-central-1 with their demo settings, subscriptions in both (direct and
through groups; Pending, Active and Canceled; a pending downgrade), and about two months of usage (last month and
this month so far, with overage, caps and alerts). Running it again changes nothing."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.management import call_command
from django.db.models import Min

from accounts.models import AwsAccount, IdentityCenterInstance
from credits.models import Balance, Notification, ProfileBalance, UsageEvent
from credits.selectors import balance_mismatches
from kiroconsole.management.commands.seed_demo import DEMO_PROFILES, DEMO_SUBSCRIPTIONS
from subscriptions.models import GroupAssignment, Profile, ProfileSettings, Subscription, SubscriptionPeriod
from subscriptions.services import settings_snapshot
from tests.assertions import nothing_written
from tests.subscriptions.test_settings import DEFAULTS


def test_seed_demo_creates_the_organization_and_two_profiles_once(db):
    call_command("seed_demo")

    assert list(AwsAccount.objects.order_by("account_id").values_list("account_id", "kind")) == [
        ("111111111111", "management"),
        ("222222222222", "member"),
        ("333333333333", "member"),
    ]
    instance = IdentityCenterInstance.objects.get()
    assert (instance.identity_store_id, instance.region_id, instance.kind, instance.account.account_id) == (
        "d-9067a1b2c3",
        "us-east-1",
        "organization",
        "111111111111",
    )
    profiles = {p.region_id: p for p in Profile.objects.live().select_related("account")}
    assert {region: (p.account.account_id, p.name) for region, p in profiles.items()} == {
        "us-east-1": ("222222222222", "Engineering (US)"),
        "eu-central-1": ("333333333333", "Research (EU)"),
    }
    assert all(p.identity_center_id == instance.pk for p in profiles.values())

    us = settings_snapshot(ProfileSettings.objects.get(profile=profiles["us-east-1"]))
    assert us["overage_enabled"] and us["user_activity_report"]
    assert (us["report_bucket"], us["report_prefix"]) == ("acme-kiro-reports", "engineering/us/")
    assert us["model_availability"] == "approved" and us["default_model"] == "auto"
    eu = settings_snapshot(ProfileSettings.objects.get(profile=profiles["eu-central-1"]))
    assert eu["kms_key_arn"].startswith("arn:aws:kms:eu-central-1:333333333333:key/")
    assert (eu["prompt_logging"], eu["web_tools"], eu["code_references"]) == (True, False, True)
    # Exactly the settings seed_demo lists; everything else keeps its default.
    for account_id, region, _name, _description, changes in DEMO_PROFILES:
        assert profiles[region].account.account_id == account_id
        expected = DEFAULTS | changes | {"approved_models": sorted(changes.get("approved_models", []))}
        assert settings_snapshot(ProfileSettings.objects.get(profile=profiles[region])) == expected

    with nothing_written():
        call_command("seed_demo")


def test_seed_demo_subscribes_users_and_groups_in_both_profiles_once(db):
    call_command("seed_demo")
    profiles = {p.region_id: p for p in Profile.objects.live()}
    for region, plan in DEMO_SUBSCRIPTIONS.items():
        profile = profiles[region]
        subscriptions = Subscription.objects.filter(profile=profile)
        assert set(GroupAssignment.objects.filter(profile=profile).values_list("group__display_name", "tier")) == set(
            plan.groups
        )
        assert subscriptions.filter(direct_tier__isnull=False).exists()  # subscribed directly
        assert subscriptions.filter(direct_tier__isnull=True, direct_opt_out=False).exists()  # through groups
        statuses = set(subscriptions.values_list("status", flat=True))
        assert statuses == {"PENDING", "ACTIVE", "CANCELED"}, region
        canceled = subscriptions.filter(status="CANCELED").values_list("user__user_name", flat=True)
        assert len(canceled) == len(plan.canceled)
        # Whoever has used Kiro is Active, with a last-active time; Pending means never used.
        assert not subscriptions.filter(status="ACTIVE", last_active_at__isnull=True).exists()
        assert not subscriptions.filter(status="PENDING", last_active_at__isnull=False).exists()
        # Deactivated people are never subscribed by their groups.
        assert not subscriptions.filter(user__active=False).exists()
    downgrades = Subscription.objects.filter(next_tier__isnull=False)
    assert list(downgrades.values_list("profile__region", "tier", "next_tier")) == [("us-east-1", "POWER", "PRO_PLUS")]
    # The same person in both profiles is two subscriptions.
    assert Subscription.objects.filter(user__user_name="ben.okafor").count() == 2

    def rows():
        return [
            sorted(map(str, model.objects.values_list()))
            for model in (Subscription, SubscriptionPeriod, GroupAssignment)
        ]

    before = rows()
    with nothing_written():
        call_command("seed_demo")
    assert rows() == before


UTC = datetime.UTC
OCTOBER, NOVEMBER = datetime.date(2026, 10, 1), datetime.date(2026, 11, 1)


def usage_rows() -> list[list[str]]:
    models = (UsageEvent, Balance, ProfileBalance, Notification, Subscription, SubscriptionPeriod)
    return [sorted(map(str, model.objects.values_list())) for model in models]


def test_seed_demo_posts_two_months_of_usage_through_the_metering_rules_once(db, clock):
    now = clock.set(2026, 11, 18, 15, 0)
    call_command("seed_demo")
    profiles = {p.region_id: p for p in Profile.objects.live()}
    events = UsageEvent.objects.all()
    assert set(events.values_list("profile__region", "month")) == {
        (region, month) for region in profiles for month in (OCTOBER, NOVEMBER)
    }
    first, last = events.aggregate(first=Min("occurred_at"))["first"], events.order_by("occurred_at").last()
    assert datetime.datetime(2026, 10, 1, tzinfo=UTC) <= first and last.occurred_at < now
    assert set(events.values_list("client_type", flat=True)) == {"KIRO_IDE", "KIRO_CLI"}
    assert set(events.values_list("model", flat=True)) == {
        "auto",
        "claude-sonnet-4.5",
        "claude-opus-4.5",
        "claude-haiku-4.5",
    }
    assert set(events.values_list("source", "recorded_by")) == {("command", "manage.py seed_demo")}

    # Engineering (US) allows overage, under a shared cap, a cap on Frontend and one on a person; all are reached.
    us, eu = events.filter(profile=profiles["us-east-1"]), events.filter(profile=profiles["eu-central-1"])
    assert set(us.values_list("outcome", flat=True)) == {"PLAN", "OVERAGE", "REJECTED"}
    assert set(us.values_list("reason", flat=True)) == {
        "",
        "user_cap_reached",
        "group_cap_reached",
        "shared_cap_reached",
        "model_not_approved",  # approved: auto, Sonnet and Haiku; someone tries Opus now and then
    }
    assert ProfileSettings.objects.get(profile=profiles["us-east-1"]).overage_shared_cap == Decimal("1000.00")
    assert GroupAssignment.objects.get(group__display_name="Frontend").overage_cap == Decimal("100.00")
    assert Subscription.objects.filter(overage_cap__isnull=False).count() == 1
    assert ProfileBalance.objects.get(profile=profiles["us-east-1"], month=OCTOBER).overage_used == Decimal("966.90")
    # Research (EU) has no overage: past the allowance is refused.
    assert set(eu.values_list("outcome", "reason")) == {("PLAN", ""), ("REJECTED", "allowance_exhausted")}
    assert balance_mismatches() == []
    alerts = Notification.objects.all()
    assert set(alerts.filter(kind="ALLOWANCE").values_list("threshold", flat=True)) == {50, 75, 90, 100}
    assert list(alerts.filter(kind="SHARED_CAP").values_list("profile__region", "month")) == [("us-east-1", OCTOBER)]

    # The people who use Kiro are Active from their first accepted event; the others are still Pending.
    for profile in profiles.values():
        subscriptions = Subscription.objects.filter(profile=profile)
        assert {"PENDING", "ACTIVE", "CANCELED"} == set(subscriptions.values_list("status", flat=True))
        for sub in subscriptions:
            accepted = sub.usage_events.exclude(outcome="REJECTED")
            if sub.status == "PENDING":
                assert not sub.usage_events.exists(), sub
            elif sub.activated_at is not None:
                assert sub.activated_at == accepted.aggregate(first=Min("occurred_at"))["first"], sub
                assert sub.last_active_at == accepted.order_by("occurred_at").last().occurred_at, sub
        canceled = subscriptions.filter(status="CANCELED", activated_at__isnull=False).get()
        assert not canceled.usage_events.filter(occurred_at__gte=canceled.canceled_at).exists()

    before = usage_rows()
    with nothing_written():
        call_command("seed_demo")
    assert usage_rows() == before

    # A day later, a run adds that day's events and leaves the others as they were.
    kept = sorted(map(str, UsageEvent.objects.values_list()))
    last = UsageEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    later = clock.set(2026, 11, 19, 15, 0)
    call_command("seed_demo")
    added = UsageEvent.objects.filter(pk__gt=last)
    assert added.exists() and all(now <= event.occurred_at < later for event in added)
    assert sorted(map(str, UsageEvent.objects.filter(pk__lte=last).values_list())) == kept
    assert balance_mismatches() == []

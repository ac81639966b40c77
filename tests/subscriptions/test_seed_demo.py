"""seed_demo's organization: the management account and two members, the organization's Identity Center instance,
a profile in us-east-1 and one in eu-central-1 with their demo settings, and subscriptions in both (direct and
through groups; Pending, Active and Canceled; a pending downgrade). Running it again changes nothing."""

from __future__ import annotations

from django.core.management import call_command

from accounts.models import AwsAccount, IdentityCenterInstance
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

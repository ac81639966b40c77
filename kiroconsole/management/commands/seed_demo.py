"""An idempotent demo organization (CONTRACTS.md `seed_demo`).

A composition command: like kiroconsole/urls.py it may call every app's services. Each later issue adds its
part (accounts, Identity Center, profiles, directory, subscriptions, usage) here, always through services
and always idempotent: running it twice changes nothing the second time.
"""

from __future__ import annotations

from typing import NamedTuple

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import AwsAccount, IdentityCenterInstance, Region
from directory import services as directory_services
from directory.models import DirectoryGroup, DirectoryUser
from kiroconsole.audit import Actor
from kiroconsole.models import ApiToken, User
from kiroconsole.roles import Role
from kiroconsole.services import api_token_create, console_user_create
from subscriptions import services as subscriptions_services
from subscriptions.models import GroupAssignment, Profile, Subscription, SubscriptionStatus

DEMO_CONSOLE_USERS = [
    # (user name, role, e-mail); demo users get unusable passwords: log in as the administrator.
    ("dana.support", Role.SUPPORT, "dana.support@example.com"),
    ("vic.viewer", Role.VIEWER, "vic.viewer@example.com"),
    ("kiro-metering", Role.METERING, ""),
]

DEMO_ACCOUNTS = [
    ("111111111111", "Acme Corp (management)", "management"),
    ("222222222222", "Acme Engineering", "member"),
    ("333333333333", "Acme Research EU", "member"),
]
DEMO_IDENTITY_STORE = "d-9067a1b2c3"
DEMO_PROFILES = [
    (
        "222222222222",
        "us-east-1",
        "Engineering (US)",
        "Kiro for the product engineering teams in North America.",
        {
            "overage_enabled": True,
            "user_activity_report": True,
            "report_bucket": "acme-kiro-reports",
            "report_prefix": "engineering/us/",
            "mcp_registry_url": "https://mcp.acme.example/registry.json",
            "model_availability": "approved",
            "approved_models": ["auto", "claude-sonnet-4.5", "claude-haiku-4.5"],
            "default_model": "auto",
        },
    ),
    (
        "333333333333",
        "eu-central-1",
        "Research (EU)",
        "Kiro for the research lab in Frankfurt; data stays in the EU.",
        {
            "kms_key_arn": "arn:aws:kms:eu-central-1:333333333333:key/1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d",
            "prompt_logging": True,
            "prompt_bucket": "acme-research-prompt-logs",
            "prompt_prefix": "kiro/prompts/",
            "web_tools": False,
            "code_references": True,
        },
    ),
]

GIVEN = [
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kemi",
    "Liam",
    "Mara",
    "Nikhil",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
]
FAMILY = ["Okafor", "Lindqvist", "Moreau"]
DEMO_GROUPS = [
    ("Platform", "Platform and infrastructure engineers"),
    ("Frontend", "Web and design-system engineers"),
    ("Mobile", "iOS and Android engineers"),
    ("Data Science", "Data scientists and ML engineers"),
    ("SRE", "Site reliability engineering"),
    ("Security", "Application security"),
    ("Research", "Research lab, Frankfurt"),
    ("Contractors", "External contractors (time-limited)"),
]


# Subscriptions per profile (by Region): assigned groups with their tier; users (by their number in demo_people)
# subscribed directly; who has used Kiro (Active; the others stay Pending); who is unsubscribed (Canceled, with
# access until the 1st); and who has a pending downgrade (subscribed at the first tier, changed to the second).
class DemoPlan(NamedTuple):
    groups: list[tuple[str, str]]  # (group, tier)
    direct: list[tuple[int, str]]  # (person, tier)
    downgrade: list[tuple[int, str, str]]  # (person, tier, lower tier)
    canceled: list[int]  # people


DEMO_SUBSCRIPTIONS = {
    "us-east-1": DemoPlan(
        groups=[("Platform", "PRO_PLUS"), ("Frontend", "PRO"), ("Data Science", "PRO_MAX")],
        direct=[(2, "PRO"), (10, "POWER"), (4, "PRO_PLUS"), (12, "PRO")],
        downgrade=[(18, "POWER", "PRO_PLUS")],
        canceled=[12, 17],
    ),
    "eu-central-1": DemoPlan(
        groups=[("Research", "PRO_PLUS"), ("Contractors", "PRO")],
        direct=[(5, "PRO_MAX"), (13, "PRO"), (1, "PRO")],
        downgrade=[],
        canceled=[15, 23],
    ),
}


def demo_active(number: int) -> bool:
    """Whether demo person `number` has used Kiro (two in three have)."""
    return number % 3 != 0


def demo_people():
    """60 deterministic people: (user name, given, family)."""
    for i, (given, family) in enumerate((g, f) for f in FAMILY for g in GIVEN):
        yield f"{given.lower()}.{family.lower()}", given, family, i


class Command(BaseCommand):
    help = "Create (or complete) the demo organization. Safe to run again."

    def handle(self, *args, **options):
        actor = Actor.for_command("seed_demo")
        created = 0
        with transaction.atomic():
            for username, role, email in DEMO_CONSOLE_USERS:
                if not User.objects.filter(username=username).exists():
                    console_user_create(username=username, password=None, role=role, email=email, actor=actor)
                    created += 1
            metering = User.objects.get(username="kiro-metering")
            if not ApiToken.objects.filter(user=metering, name="Kiro service (demo)").exists():
                # The raw value is discarded: the demo token only shows what the tokens page lists.
                api_token_create(user=metering, name="Kiro service (demo)", expires_at=None, actor=actor)
                created += 1
            created += self.seed_organization(actor)
        self.stdout.write(f"Demo organization ready: created {created} records (0: it was all there already).")

    def seed_organization(self, actor: Actor) -> int:
        created = 0
        accounts = {}
        for account_id, name, kind in DEMO_ACCOUNTS:
            account = AwsAccount.objects.filter(account_id=account_id).first()
            if account is None:
                account = accounts_services.aws_account_create(account_id=account_id, name=name, kind=kind, actor=actor)
                created += 1
            accounts[account_id] = account
        instance = IdentityCenterInstance.objects.filter(identity_store_id=DEMO_IDENTITY_STORE).first()
        if instance is None:
            instance = accounts_services.identity_center_create(
                identity_store_id=DEMO_IDENTITY_STORE,
                name="Acme workforce",
                region=Region.objects.get(code="us-east-1"),
                account=accounts["111111111111"],
                kind="organization",
                actor=actor,
            )
            created += 1
        created += self.seed_directory(instance, actor)
        for account_id, region, name, description, settings in DEMO_PROFILES:
            if Profile.objects.live().filter(account=accounts[account_id], region_id=region).exists():
                continue
            profile = subscriptions_services.profile_create(
                account=accounts[account_id],
                region=Region.objects.get(code=region),
                identity_center=instance,
                name=name,
                description=description,
                actor=actor,
            )
            subscriptions_services.profile_settings_update(profile=profile, changes=settings, actor=actor)
            created += 1
        created += self.seed_subscriptions(instance, actor)
        return created

    def seed_subscriptions(self, instance, actor: Actor) -> int:
        """DEMO_SUBSCRIPTIONS, through the services. Each step is taken only where it was not yet (an assignment
        that exists, a subscription that exists, is Active or is Canceled is left alone): a second run calls no
        service at all."""
        people = {user_name: number for user_name, _given, _family, number in demo_people()}
        users = {
            people[user.user_name]: user
            for user in DirectoryUser.objects.live().filter(identity_center=instance, user_name__in=list(people))
        }
        groups = {g.display_name: g for g in DirectoryGroup.objects.live().filter(identity_center=instance)}
        before = Subscription.objects.count() + GroupAssignment.objects.count()
        for region, plan in DEMO_SUBSCRIPTIONS.items():
            profile = Profile.objects.live().filter(identity_center=instance, region_id=region).first()
            if profile is None:
                continue
            for name, tier in plan.groups:
                if not GroupAssignment.objects.filter(profile=profile, group=groups[name]).exists():
                    subscriptions_services.group_assign(profile=profile, group=groups[name], tier=tier, actor=actor)
            existing = set(Subscription.objects.filter(profile=profile).values_list("user_id", flat=True))
            direct = [(number, tier) for number, tier in plan.direct if users[number].pk not in existing]
            for tier in sorted({tier for _number, tier in direct}):
                chosen = [users[number] for number, tier_ in direct if tier_ == tier]
                subscriptions_services.subscription_subscribe(profile=profile, users=chosen, tier=tier, actor=actor)
            for number, tier, lower in plan.downgrade:
                if users[number].pk not in existing:
                    user = users[number]
                    subscriptions_services.subscription_subscribe(profile=profile, users=user, tier=tier, actor=actor)
                    subscriptions_services.subscription_change_plan(
                        profile=profile, users=user, tier=lower, actor=actor
                    )
            pending = Subscription.objects.filter(profile=profile, status=SubscriptionStatus.PENDING)
            for subscription in pending.select_related("user").order_by("user__user_name"):
                if demo_active(people.get(subscription.user.user_name, 0)):
                    subscriptions_services.subscription_record_activity(
                        subscription_id=subscription.pk, at=timezone.now()
                    )
            leaving = list(
                Subscription.objects.filter(profile=profile, user__in=[users[n] for n in plan.canceled])
                .exclude(status=SubscriptionStatus.CANCELED)
                .select_related("user")
                .order_by("user__user_name")
            )
            if leaving:
                subscriptions_services.subscription_unsubscribe(
                    profile=profile, users=[s.user for s in leaving], actor=actor
                )
        return Subscription.objects.count() + GroupAssignment.objects.count() - before

    def seed_directory(self, instance, actor: Actor) -> int:
        created = 0
        users = {}
        for user_name, given, family, i in demo_people():
            user = DirectoryUser.objects.live().filter(identity_center=instance, user_name=user_name).first()
            if user is None:
                user = directory_services.directory_user_create(
                    identity_center=instance,
                    user_name=user_name,
                    display_name=f"{given} {family}",
                    given_name=given,
                    family_name=family,
                    email=f"{user_name}@acme.example",
                    external_id=f"00u{i:05d}",
                    active=i % 23 != 22,  # a couple of deactivated people
                    actor=actor,
                )
                created += 1
            users[i] = user
        for g, (name, description) in enumerate(DEMO_GROUPS):
            group = DirectoryGroup.objects.live().filter(identity_center=instance, display_name=name).first()
            if group is None:
                group = directory_services.directory_group_create(
                    identity_center=instance, display_name=name, description=description, actor=actor
                )
                created += 1
            members = [users[i] for i in users if i % len(DEMO_GROUPS) == g or (g == 0 and i % 11 == 0)]
            created += directory_services.group_members_add(group=group, users=members, actor=actor)
        return created

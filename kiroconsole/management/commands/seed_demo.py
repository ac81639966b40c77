"""An idempotent demo organization (CONTRACTS.md `seed_demo`).

A composition command: like kiroconsole/urls.py it may call every app's services. Each later issue adds its
part (accounts, Identity Center, profiles, directory, subscriptions, usage) here, always through services
and always idempotent: running it twice changes nothing the second time.

The organization is built as of 00:00 UTC on the 1st of last month (the services read `timezone.now()`, which is
set to that moment while they run), so that its subscriptions predate its usage: about two months of it, last
month's and this month's so far (older events are refused), posted day by day through the metering service as
the Kiro service would post them. Each event is the same on every run (key, time, credits), and only the days
that have passed are posted; so a second run changes nothing, and a run on a later day adds the days since.
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, NamedTuple
from unittest import mock

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import AwsAccount, IdentityCenterInstance, Region
from credits.events import event_parse
from credits.models import UsageEvent
from credits.services import group_assignment_set_overage_cap, subscription_set_overage_cap, usage_record
from directory import services as directory_services
from directory.models import DirectoryGroup, DirectoryUser
from kiroconsole.audit import Actor
from kiroconsole.models import ApiToken, User
from kiroconsole.roles import Role
from kiroconsole.services import api_token_create, console_user_create
from subscriptions import services as subscriptions_services
from subscriptions.calendar import month_start, next_month_start
from subscriptions.models import (
    AiModel,
    GroupAssignment,
    ModelAvailability,
    Profile,
    ProfileSettings,
    Subscription,
    SubscriptionPeriod,
    SubscriptionStatus,
    Tier,
)

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
            "overage_shared_cap": "1000.00",
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


# Overage caps (DOMAIN.md §5 rule 4) besides the shared cap of DEMO_PROFILES: per assigned group, per person.
class DemoCaps(NamedTuple):
    groups: list[tuple[str, str]]  # (assigned group, cap)
    people: list[tuple[int, str]]  # (person, cap)


DEMO_CAPS = {"us-east-1": DemoCaps(groups=[("Frontend", "100")], people=[(8, "150")])}


class DemoUse(NamedTuple):
    heavy: dict[int, float]  # person: the share of the allowance used in a full month (over 1: overage wanted)
    models: list[tuple[str, int]]  # (model, weight)
    curious: int | None  # a person who now and then picks a model the profile does not approve (rejected)


DEMO_USAGE = {
    "us-east-1": DemoUse(
        heavy={25: 1.25, 10: 1.03, 8: 1.15, 40: 1.1, 19: 1.12, 16: 0.93},
        models=[("auto", 6), ("claude-sonnet-4.5", 3), ("claude-haiku-4.5", 1)],
        curious=2,
    ),
    "eu-central-1": DemoUse(
        heavy={14: 1.1, 7: 0.93},
        models=[("auto", 5), ("claude-sonnet-4.5", 3), ("claude-opus-4.5", 1), ("claude-haiku-4.5", 1)],
        curious=None,
    ),
}
USUAL_SHARES = (0.12, 0.25, 0.4, 0.55, 0.62, 0.7, 0.78, 0.86)  # everyone else's share, picked per person and month


def demo_month_usage(
    region: str, user_name: str, number: int, month: datetime.datetime, allowance: int
) -> list[tuple[datetime.datetime, dict[str, Any]]]:
    """A full month of demo person `number`'s use of Kiro, as (time, usage event in its wire form): on weekdays,
    credits adding up to a share of the `allowance` (of the first tier held, so that it never changes), across
    client types and models. Drawn from a generator seeded by region, person and month: the same on every run."""
    rng = random.Random(f"{region}/{user_name}/{month:%Y-%m}")  # noqa: S311 (demo data, not a secret)
    use = DEMO_USAGE[region]
    share = use.heavy.get(number) or rng.choice(USUAL_SHARES) * rng.uniform(0.9, 1.1)
    cli = rng.choice((0.1, 0.3, 0.6))
    names, weights = zip(*use.models, strict=True)
    drawn: list[tuple[datetime.datetime, float, dict[str, Any]]] = []
    for offset in range((next_month_start(month) - month).days):
        day = month + datetime.timedelta(days=offset)
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3)) if day.weekday() < 5 else 0):
            at = day + datetime.timedelta(
                hours=rng.randint(7, 19), minutes=rng.randint(0, 59), seconds=rng.randint(0, 59)
            )
            model = rng.choices(names, weights)[0]
            if number == use.curious and rng.random() < 0.1:
                model = "claude-opus-4.5"
            raw = {
                "idempotency_key": f"demo-{month:%Y-%m}-{user_name}-{len(drawn) + 1:03d}",
                "user_name": user_name,
                "occurred_at": f"{at:%Y-%m-%dT%H:%M:%SZ}",
                "client_type": "KIRO_CLI" if rng.random() < cli else "KIRO_IDE",
                "model": model,
                "messages": rng.randint(1, 24),
            }
            drawn.append((at, rng.uniform(0.5, 1.5), raw))
    scale = allowance * share / max(sum(weight for _, weight, _ in drawn), 1)
    cent = Decimal("0.01")
    for _, weight, raw in drawn:
        raw["credits"] = str(max(Decimal(scale * weight).quantize(cent), cent))
    return [(at, raw) for at, _, raw in drawn]


@contextmanager
def clock_at(moment: datetime.datetime) -> Iterator[None]:
    """`timezone.now()` is `moment` inside the block: the demo organization is created as of the 1st of last month."""
    with mock.patch.object(timezone, "now", return_value=moment):
        yield


def demo_active(number: int) -> bool:
    """Whether demo person `number` has used Kiro (two in three have)."""
    return number % 3 != 0


def demo_people():
    """60 deterministic people: (user name, given, family)."""
    for i, (given, family) in enumerate((g, f) for f in FAMILY for g in GIVEN):
        yield f"{given.lower()}.{family.lower()}", given, family, i


DEMO_NUMBERS = {user_name: number for user_name, _given, _family, number in demo_people()}


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
            now = timezone.now()
            with clock_at(month_start(month_start(now) - datetime.timedelta(days=1))):
                created += self.seed_organization(actor)
            instance = IdentityCenterInstance.objects.get(identity_store_id=DEMO_IDENTITY_STORE)
            profiles = {
                region: profile
                for region in DEMO_SUBSCRIPTIONS
                if (profile := Profile.objects.live().filter(identity_center=instance, region_id=region).first())
            }
            users = {
                number: user
                for user in DirectoryUser.objects.live().filter(identity_center=instance)
                if (number := DEMO_NUMBERS.get(user.user_name)) is not None
            }
            self.seed_changes(profiles, users, actor)
            created += self.seed_usage(profiles, now, actor)
            self.seed_cancellations(profiles, users, actor)
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
        """DEMO_SUBSCRIPTIONS' assignments and direct subscriptions, through the services. Each step is taken only
        where it was not yet (an assignment or a subscription that exists is left alone): a second run calls no
        service at all. Downgrades and cancellations come later, at today's date (`seed_changes`,
        `seed_cancellations`); activation comes with usage (`seed_usage`)."""
        users = {
            DEMO_NUMBERS[user.user_name]: user
            for user in DirectoryUser.objects.live().filter(identity_center=instance, user_name__in=list(DEMO_NUMBERS))
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
            direct += [(number, tier) for number, tier, _ in plan.downgrade if users[number].pk not in existing]
            for tier in sorted({tier for _number, tier in direct}):
                chosen = [users[number] for number, tier_ in direct if tier_ == tier]
                subscriptions_services.subscription_subscribe(profile=profile, users=chosen, tier=tier, actor=actor)
        return Subscription.objects.count() + GroupAssignment.objects.count() - before

    def seed_changes(self, profiles: dict[str, Profile], users: dict[int, DirectoryUser], actor: Actor) -> None:
        """Today's changes: the pending downgrades (from the first tier, not yet changed) and DEMO_CAPS (where the
        cap is not set)."""
        for region, plan in DEMO_SUBSCRIPTIONS.items():
            if region not in profiles:
                continue
            profile = profiles[region]
            for number, tier, lower in plan.downgrade:
                subscription = Subscription.objects.filter(profile=profile, user=users[number]).first()
                if (
                    subscription is not None
                    and subscription.direct_tier_id == tier
                    and subscription.next_tier_id is None
                ):
                    subscriptions_services.subscription_change_plan(
                        profile=profile, users=users[number], tier=lower, actor=actor
                    )
            caps = DEMO_CAPS.get(region, DemoCaps(groups=[], people=[]))
            for name, cap in caps.groups:
                assignment = GroupAssignment.objects.filter(profile=profile, group__display_name=name).first()
                if assignment is not None and assignment.overage_cap is None:
                    group_assignment_set_overage_cap(assignment=assignment, cap=cap, actor=actor)
            for number, cap in caps.people:
                subscription = Subscription.objects.filter(profile=profile, user=users[number]).first()
                if subscription is not None and subscription.overage_cap is None:
                    subscription_set_overage_cap(subscription=subscription, cap=cap, actor=actor)

    def seed_usage(self, profiles: dict[str, Profile], now: datetime.datetime, actor: Actor) -> int:
        """The demo people who use Kiro (`demo_active`), last month and this month until `now`, from their
        subscription (and until their cancellation): the events not recorded yet, posted in time order through
        `usage_record` (so Pending subscriptions become Active at their first event; balances, caps and alerts
        follow). Returns the count of events posted."""
        earliest = month_start(month_start(now) - datetime.timedelta(days=1))
        models = frozenset(AiModel.objects.values_list("code", flat=True))
        credits = dict(Tier.objects.values_list("code", "monthly_credits"))
        posted = 0
        for region, profile in profiles.items():
            first_tier: dict[Any, str] = {}
            for sub_id, tier in (
                SubscriptionPeriod.objects.filter(subscription__profile=profile)
                .order_by("-starts_at", "-id")
                .values_list("subscription_id", "tier_id")
            ):
                first_tier[sub_id] = tier  # the earliest period last
            known = set(
                UsageEvent.objects.filter(profile=profile, idempotency_key__startswith="demo-").values_list(
                    "idempotency_key", flat=True
                )
            )
            pending: list[tuple[datetime.datetime, dict[str, Any]]] = []
            for sub in Subscription.objects.filter(profile=profile).select_related("user").order_by("user__user_name"):
                number = DEMO_NUMBERS.get(sub.user.user_name)
                if number is None or not demo_active(number):
                    continue
                start, end = max(sub.subscribed_at, earliest), min(now, sub.canceled_at or now)
                allowance = credits[first_tier.get(sub.pk, sub.tier_id)]
                for month in (earliest, month_start(now)):
                    for at, raw in demo_month_usage(region, sub.user.user_name, number, month, allowance):
                        if start <= at < end and raw["idempotency_key"] not in known:
                            pending.append((at, raw))
            pending.sort(key=lambda item: (item[0], item[1]["idempotency_key"]))
            # Each person's first event (of a model the profile allows) alone in one call, as a call activates a
            # subscription at its latest accepted event; then the rest a month (at most 1,000 events) at a time.
            settings = ProfileSettings.objects.get(profile=profile)
            approved = set(settings.approved_models.values_list("code", flat=True))
            everything = settings.model_availability != ModelAvailability.APPROVED
            seen: set[str] = set()
            firsts, months = [], defaultdict(list)
            for at, raw in pending:
                if raw["user_name"] in seen or not (everything or raw["model"] in approved):
                    months[month_start(at)].append(raw)
                else:
                    seen.add(raw["user_name"])
                    firsts.append(raw)
            batches = [firsts] + [
                raws[i : i + 1000] for _, raws in sorted(months.items()) for i in range(0, len(raws), 1000)
            ]
            for batch in batches:
                if batch:
                    events = [event_parse(raw, now=now, models=models) for raw in batch]
                    usage_record(profile=profile, events=events, actor=actor, now=now)
                    posted += len(events)
        return posted

    def seed_cancellations(self, profiles: dict[str, Profile], users: dict[int, DirectoryUser], actor: Actor) -> None:
        """DEMO_SUBSCRIPTIONS' canceled people, today (so they keep access until the 1st), after their usage."""
        for region, plan in DEMO_SUBSCRIPTIONS.items():
            if region not in profiles:
                continue
            leaving = list(
                Subscription.objects.filter(profile=profiles[region], user__in=[users[n] for n in plan.canceled])
                .exclude(status=SubscriptionStatus.CANCELED)
                .select_related("user")
                .order_by("user__user_name")
            )
            if leaving:
                subscriptions_services.subscription_unsubscribe(
                    profile=profiles[region], users=[s.user for s in leaving], actor=actor
                )

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

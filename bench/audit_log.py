"""audit_log: the audit log page (/audit/) at 200,000 events against the Django admin changelist of the same table.

Both in-process through django.test.Client with a logged-in administrator. The baseline is the admin changelist's
first page; the audit log's first page, a deep page, a search, a filter with a sort and the htmx fragment are
measured against it, plus the admin's own search and deep page for comparison.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench.harness import BenchError, Context, Operation, analyze, delete_all_rows, http_get, register

EVENTS = 200_000
DAYS = 90
BATCH = 5_000
SEED = 2026
ADMIN_USERNAME = "bench.admin"

FIRST = [
    "alice", "bob", "carla", "dmitri", "emma", "farid", "grace", "hiro", "ines", "jonas", "kemal", "lena",
    "marta", "nikhil", "olga", "pedro", "quinn", "rosa", "sven", "tara", "ugo", "vera", "wei", "xavier",
]  # fmt: skip
LAST = [
    "adams", "berg", "chen", "diaz", "evans", "fischer", "garcia", "hansen", "ito", "jansen", "kowalski",
    "lopez", "meyer", "novak", "okafor", "patel", "quist", "rossi", "silva", "tanaka",
]  # fmt: skip
DEPARTMENTS = ["Engineering", "Data", "Platform", "Security", "Sales", "Support", "Finance", "Research", "Design"]
TIERS = ["pro", "pro_plus", "power"]
REGIONS = ["us-east-1", "eu-central-1", "eu-west-1", "ap-northeast-1"]
COMMANDS = [
    "import_directory", "sync_identity_center", "rollup_usage", "close_billing_month", "create_api_token",
    "apply_scheduled_changes", "import_subscriptions", "recompute_balances", "expire_tokens", "send_alerts",
]  # fmt: skip

# action: (target type, sources it comes from, weight). Directory and membership changes dominate, as SCIM
# provisioning does in practice.
ACTIONS: dict[str, tuple[str, tuple[str, ...], int]] = {
    "directory_user.create": ("directoryuser", ("scim", "web", "command", "api"), 60),
    "directory_user.update": ("directoryuser", ("scim", "web", "admin", "api"), 90),
    "directory_user.disable": ("directoryuser", ("scim", "web"), 15),
    "directory_user.delete": ("directoryuser", ("scim", "web", "admin"), 10),
    "directory_group.create": ("directorygroup", ("scim", "web", "api"), 8),
    "directory_group.update": ("directorygroup", ("scim", "web", "admin"), 10),
    "directory_group.delete": ("directorygroup", ("scim", "web"), 3),
    "group_membership.add": ("groupmembership", ("scim", "web", "command", "api"), 120),
    "group_membership.remove": ("groupmembership", ("scim", "web", "command"), 40),
    "directory_import.run": ("directoryimport", ("command", "web"), 4),
    "subscription.create": ("subscription", ("web", "api", "command"), 45),
    "subscription.change_tier": ("subscription", ("web", "api", "admin"), 25),
    "subscription.cancel": ("subscription", ("web", "api"), 12),
    "group_assignment.create": ("groupassignment", ("web", "api"), 10),
    "group_assignment.change": ("groupassignment", ("web", "api", "admin"), 6),
    "group_assignment.delete": ("groupassignment", ("web", "api"), 4),
    "profile.create": ("profile", ("web", "api"), 2),
    "profile.update": ("profile", ("web", "admin"), 3),
    "profile_settings.change": ("profilesettings", ("web", "api"), 5),
    "aws_account.create": ("awsaccount", ("web", "api"), 1),
    "aws_account.update": ("awsaccount", ("web", "admin"), 1),
    "identity_center_instance.create": ("identitycenterinstance", ("web", "command"), 1),
    "tier.change": ("tier", ("admin",), 1),
    "credit_cap.set": ("creditcap", ("web", "api"), 8),
    "credit_cap.clear": ("creditcap", ("web", "api"), 3),
    "usage_rollup.run": ("usagerollup", ("command", "system"), 20),
    "api_token.create": ("apitoken", ("web", "command"), 2),
    "api_token.revoke": ("apitoken", ("web", "admin"), 1),
    "scim_token.create": ("scimtoken", ("web",), 1),
    "console_user.login": ("user", ("web",), 40),
    "console_user.logout": ("user", ("web",), 15),
    "user.change": ("user", ("admin",), 2),
}


@dataclass(frozen=True)
class FakeActor:
    source: str
    actor_type: str
    label: str
    username: str = ""  # for console users: the bench user whose id goes in actor_user
    token_id: str = ""


def actors(rng: random.Random) -> dict[str, list[FakeActor]]:
    """Several hundred actors by source: console users (web, admin), their API tokens, SCIM tokens, commands."""
    people = [f"{first}.{last}" for first in FIRST for last in LAST]
    rng.shuffle(people)
    users = [FakeActor("web", "user", name, username=name) for name in people[:320]]
    api = [
        FakeActor(
            "api",
            "api_token",
            f"{user.label} (API token kiro_{rng.getrandbits(24):06x}…)",
            username=user.username,
            token_id=str(i + 1),
        )
        for i, user in enumerate(rng.sample(users, 70))
    ]
    scim = [FakeActor("scim", "scim_token", f"SCIM token scim_{rng.getrandbits(24):06x}…", token_id=str(100 + i))
            for i in range(8)]  # fmt: skip
    commands = [FakeActor("command", "command", f"manage.py {name}") for name in COMMANDS]
    system = [FakeActor("system", "system", "system"), FakeActor("system", "system", "scheduler")]
    return {
        "web": users,
        "admin": users[:40],  # the support staff who use the Django admin
        "api": api,
        "scim": scim,
        "command": commands,
        "system": system,
    }


def search_term() -> str:
    """An actor label to search for: an active console user of the synthetic trail (deterministic)."""
    return actors(random.Random(SEED))["web"][3].label


def _zipf_weights(n: int) -> list[float]:
    return [1 / (rank + 1) ** 0.9 for rank in range(n)]


def _ip(rng: random.Random, source: str) -> str | None:
    if source in {"command", "system"}:
        return None
    if source == "scim":
        return f"52.94.{rng.randrange(0, 8)}.{rng.randrange(1, 255)}"
    if rng.random() < 0.08:
        return f"2001:db8:{rng.randrange(0, 16):x}::{rng.randrange(1, 4096):x}"
    return f"10.{rng.randrange(0, 4)}.{rng.randrange(0, 64)}.{rng.randrange(1, 255)}"


def _change(rng: random.Random, action: str, label: str) -> tuple[dict | None, dict | None]:
    """Small before/after dicts, shaped by the verb."""
    verb = action.rsplit(".", 1)[1]
    if action.startswith("console_user.") or action.endswith(".run"):
        return None, ({"rows": rng.randrange(1, 20_000)} if verb == "run" else None)
    if action.startswith("subscription") or action.startswith("group_assignment") or action == "tier.change":
        old, new = rng.sample(TIERS, 2)
        state = {"tier": old, "status": "active"}
        if verb in {"create"}:
            return None, {"tier": new, "status": "active", "starts_on": "2026-06-01"}
        if verb in {"cancel", "delete"}:
            return state, {**state, "status": "cancelled"} if verb == "cancel" else None
        return state, {"tier": new, "status": "active", "effective": "next_month"}
    if action.startswith("credit_cap"):
        return {"monthly_cap": f"{rng.randrange(1, 50) * 100}.00"}, (
            None if verb == "clear" else {"monthly_cap": f"{rng.randrange(1, 50) * 100}.00"}
        )
    state = {"name": label, "active": True, "department": rng.choice(DEPARTMENTS)}
    if verb in {"create", "add"}:
        return None, state
    if verb in {"delete", "remove", "revoke"}:
        return state, None
    if verb == "disable":
        return state, {**state, "active": False}
    return state, {**state, "department": rng.choice(DEPARTMENTS)}


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randrange(1, 900)}@example.com"


def _group(rng: random.Random) -> str:
    return f"{rng.choice(DEPARTMENTS)} - team {rng.randrange(1, 40)}"


# target type -> rng -> (target id, target label)
TARGETS = {
    "directoryuser": lambda r: (f"{r.randrange(1, 20_000):08x}-{r.getrandbits(16):04x}", _person(r)),
    "directorygroup": lambda r: (f"{r.randrange(1, 400):08x}-grp", _group(r)),
    "groupmembership": lambda r: (str(r.randrange(1, 60_000)), f"{_person(r)} in {_group(r)}"),
    "subscription": lambda r: (str(r.randrange(1, 20_000)), f"{_person(r)} · {r.choice(TIERS)}"),
    "groupassignment": lambda r: (str(r.randrange(1, 800)), f"{_group(r)} · {r.choice(TIERS)}"),
    "profile": lambda r: (str(r.randrange(1, 12)), f"Kiro profile {r.choice(REGIONS)}"),
    "profilesettings": lambda r: (str(r.randrange(1, 12)), f"Settings of Kiro profile {r.choice(REGIONS)}"),
    "awsaccount": lambda r: (str(r.randrange(10**11, 10**12)), f"AWS account {r.choice(DEPARTMENTS).lower()}"),
    "identitycenterinstance": lambda r: (f"ssoins-{r.getrandbits(48):012x}", f"Identity Center {r.choice(REGIONS)}"),
    "tier": lambda r: (r.choice(TIERS), r.choice(TIERS).replace("_", " ").title()),
    "creditcap": lambda r: (str(r.randrange(1, 300)), f"Cap of {_group(r)}"),
    "usagerollup": lambda r: (f"2026-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}", "Daily usage rollup"),
    "apitoken": lambda r: (str(r.randrange(1, 80)), f"Terraform (kiro_{r.getrandbits(16):04x}…)"),
    "scimtoken": lambda r: (str(r.randrange(1, 10)), "SCIM token for Identity Center"),
    "user": lambda r: (str(r.randrange(1, 320)), f"{r.choice(FIRST)}.{r.choice(LAST)}"),
    "directoryimport": lambda r: (str(r.randrange(1, 200)), f"users-{r.randrange(1, 200)}.csv"),
}


def events(user_ids: dict[str, int]) -> Iterator[Any]:
    """EVENTS AuditEvent objects over the last DAYS days, in time order (ids follow time, as appended)."""
    from django.utils import timezone

    from kiroconsole.models import AuditEvent

    rng = random.Random(SEED)
    by_source = actors(rng)
    weights = {source: _zipf_weights(len(pool)) for source, pool in by_source.items()}
    names, specs = list(ACTIONS), list(ACTIONS.values())
    action_weights = [spec[2] for spec in specs]
    end = timezone.now().replace(microsecond=0)
    span = DAYS * 86_400
    offsets = sorted(rng.random() * span for _ in range(EVENTS))
    for offset, index in zip(offsets, rng.choices(range(len(names)), action_weights, k=EVENTS), strict=True):
        action, (target_type, sources, _) = names[index], specs[index]
        source = rng.choice(sources)
        actor = rng.choices(by_source[source], weights[source])[0]
        target_id, target_label = TARGETS[target_type](rng)
        before, after = _change(rng, action, target_label)
        yield AuditEvent(
            occurred_at=end - datetime.timedelta(seconds=span - offset),
            source=source,
            actor_type=actor.actor_type,
            actor_user_id=user_ids.get(actor.username),
            actor_label=actor.label,
            actor_token_id=actor.token_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            target_label=target_label,
            before=before,
            after=after,
            remote_addr=_ip(rng, source),
        )


def build(ctx: Context) -> None:
    """The console users of the trail and EVENTS audit events, unless the table already holds exactly EVENTS."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from kiroconsole.models import AuditEvent, User

    count = AuditEvent.objects.count()
    if count == EVENTS and not ctx.rebuild:
        print(f"data: {EVENTS:,} audit events already there (--rebuild to build them anew)")
        ctx.note("build", "skipped (data from a previous run)")
        return
    with ctx.phase(f"building {EVENTS:,} audit events") as phase:
        if count:
            delete_all_rows(AuditEvent)  # the bench database is throwaway; the console itself never deletes
        usernames = sorted({a.username for pool in actors(random.Random(SEED)).values() for a in pool if a.username})
        unusable = make_password(None)
        User.objects.bulk_create([User(username=u, password=unusable) for u in usernames], ignore_conflicts=True)
        user_ids = dict(User.objects.filter(username__in=usernames).values_list("username", "id"))
        with transaction.atomic():
            batch = []
            for event in events(user_ids):
                batch.append(event)
                if len(batch) == BATCH:
                    AuditEvent.objects.bulk_create(batch)
                    batch = []
            if batch:
                AuditEvent.objects.bulk_create(batch)
        analyze()
    ctx.note("build", f"{phase['seconds']:.1f} s for {EVENTS:,} events (bulk_create, batches of {BATCH:,})")


def administrator() -> Any:
    """The console user the pages are requested as: in the administrator group, staff (for the admin)."""
    from django.contrib.auth.models import Group

    from kiroconsole.models import User

    user, _ = User.objects.get_or_create(username=ADMIN_USERNAME, defaults={"is_staff": True})
    user.groups.add(Group.objects.get(name="administrator"))
    return user


def logged_in_client(user: Any) -> Any:
    """A test client logged in as `user`, without recording a log-in event in the table being measured."""
    from django.contrib.auth.signals import user_logged_in
    from django.test import Client

    from kiroconsole import signals

    client = Client()
    user_logged_in.disconnect(signals.audit_login, dispatch_uid="kiroconsole.audit_login")
    try:
        client.force_login(user)
    finally:
        user_logged_in.connect(signals.audit_login, dispatch_uid="kiroconsole.audit_login")
    return client


@register("audit_log", f"the audit log page at {EVENTS:,} events vs the Django admin changelist of the same table")
def run(ctx: Context) -> None:
    from kiroconsole.filters import AuditEventFilter
    from kiroconsole.models import AuditEvent, User

    build(ctx)
    total = AuditEvent.objects.count()
    if total != EVENTS:
        raise BenchError(f"Expected {EVENTS:,} audit events, found {total:,}.")
    client = logged_in_client(administrator())
    term = search_term()
    matches = AuditEventFilter({"q": term}, queryset=AuditEvent.objects.all()).qs.count()
    ctx.note("rows", f"{total:,} audit events; {User.objects.count():,} console users")
    ctx.note("search", f"q={term!r} matches {matches:,} events (actor, target or action)")

    admin = "/admin/kiroconsole/auditevent/"
    page = "/audit/"
    last_page = -(-EVENTS // 50)

    def get(name: str, url: str, baseline: bool = False, **kwargs: Any) -> Operation:
        return Operation(f"{name}  {url}", lambda: http_get(client, url, **kwargs), baseline=baseline)

    htmx = {"HX-Request": "true"}
    ctx.run(
        [
            get("(a) admin changelist", admin, baseline=True, expect=['id="result_list"']),
            get("(b) audit log", page, expect=[f"{EVENTS:,} results"]),
            get("(c) deep page", f"{page}?page=2000", expect=[f"page 2,000 of {last_page:,}"]),
            get("(d) search", f"{page}?q={term}", expect=[f"{matches:,} results"]),
            get("(e) filter+sort", f"{page}?source=api&sort=-action", expect=['aria-sort="descending"']),
            get("(f) htmx search", f"{page}?q={term}", headers=htmx, expect=[f"{matches:,} results"], reject=["<html"]),
            get("(g) admin search", f"{admin}?q={term}", expect=['id="result_list"']),
            get("(h) admin deep page", f"{admin}?p=2000", expect=['id="result_list"']),
        ],
        title=f"audit_log: {EVENTS:,} events, 50 rows a page, ratios against (a)",
    )

"""audit_log: the audit log page (/audit/) at 200,000 events against the Django admin changelist of the same table.

Both in-process through django.test.Client, as a logged-in administrator. The baseline is the admin changelist's
first page; the audit log's first page, a deep page, a search, a filter with a sort and the htmx fragment are
measured against it, and the admin's own search for comparison.
"""

from __future__ import annotations

import datetime
import gc
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench.harness import (
    BenchError,
    Context,
    Operation,
    analyze,
    delete_all_rows,
    http_get,
    peak_rss_bytes,
    register,
)

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

# action: (target type, the sources it comes from, weight). Directory and membership changes dominate, as SCIM
# provisioning makes them do in practice.
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
    username: str = ""  # for console users and their API tokens: the user whose id goes in actor_user
    token_id: str = ""


def actors(rng: random.Random) -> dict[str, list[FakeActor]]:
    """About 400 actors by source: console users (web, admin), their API tokens, SCIM tokens, commands, system."""
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
    scim = [
        FakeActor("scim", "scim_token", f"SCIM token scim_{rng.getrandbits(24):06x}…", token_id=str(100 + i))
        for i in range(8)
    ]
    return {
        "web": users,
        "admin": [FakeActor("admin", "user", u.label, username=u.username) for u in users[:40]],  # support staff
        "api": api,
        "scim": scim,
        "command": [FakeActor("command", "command", f"manage.py {name}") for name in COMMANDS],
        "system": [FakeActor("system", "system", "system"), FakeActor("system", "system", "scheduler")],
    }


def search_term() -> str:
    """What the search operations look for: the name of an active console user (deterministic)."""
    return actors(random.Random(SEED))["web"][3].label


def _cumulative_zipf(n: int) -> list[float]:
    """Cumulative weights where the k-th actor is about 1/k as active as the first (a few people do most)."""
    return list(itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(n)))


class Pools:
    """Precomputed people, groups and addresses the events pick from (picking is cheaper than formatting)."""

    def __init__(self, rng: random.Random) -> None:
        self.people = [
            f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randrange(1, 900)}@example.com" for _ in range(20_000)
        ]
        self.groups = [f"{rng.choice(DEPARTMENTS)} - team {n}" for n in range(1, 401)]
        self.office = [f"10.{rng.randrange(4)}.{rng.randrange(64)}.{rng.randrange(1, 255)}" for _ in range(400)]
        self.office += [f"2001:db8:{rng.randrange(16):x}::{rng.randrange(1, 4096):x}" for _ in range(40)]
        self.aws = [f"52.94.{rng.randrange(8)}.{rng.randrange(1, 255)}" for _ in range(30)]

    def target(self, r: random.Random, target_type: str) -> tuple[str, str]:
        """(target id, target label) of a target of `target_type`."""
        if target_type in {"directoryuser", "subscription", "groupmembership"}:
            n = r.randrange(len(self.people))
            if target_type == "directoryuser":
                return f"{n:08x}-4e1c-9b7a", self.people[n]
            if target_type == "subscription":
                return str(n + 1), f"{self.people[n]} · {r.choice(TIERS)}"
            g = r.randrange(len(self.groups))
            return f"{n}-{g}", f"{self.people[n]} in {self.groups[g]}"
        if target_type in {"directorygroup", "groupassignment", "creditcap"}:
            g = r.randrange(len(self.groups))
            label = {"directorygroup": "{}", "groupassignment": "{} · pro", "creditcap": "Cap of {}"}[target_type]
            return str(g + 1), label.format(self.groups[g])
        n = r.randrange(1, 12)
        return str(n), {
            "profile": f"Kiro profile {REGIONS[n % 4]}",
            "profilesettings": f"Settings of Kiro profile {REGIONS[n % 4]}",
            "awsaccount": f"AWS account {DEPARTMENTS[n % 9].lower()}",
            "identitycenterinstance": f"Identity Center {REGIONS[n % 4]}",
            "tier": TIERS[n % 3].replace("_", " ").title(),
            "usagerollup": f"Daily usage rollup 2026-{n:02d}-{r.randrange(1, 29):02d}",
            "apitoken": f"Terraform (kiro_{n:02x}3f9…)",
            "scimtoken": "SCIM token for Identity Center",
            "user": f"{FIRST[n]}.{LAST[n]}",
            "directoryimport": f"users-{n}.csv",
        }[target_type]

    def address(self, r: random.Random, source: str) -> str | None:
        if source in {"command", "system"}:
            return None
        return r.choice(self.aws if source == "scim" else self.office)


def _change(rng: random.Random, action: str, label: str) -> tuple[dict | None, dict | None]:
    """Small before/after dicts, shaped by the verb."""
    verb = action.rsplit(".", 1)[1]
    if action.startswith("console_user."):
        return None, None
    if verb == "run":
        return None, {"rows": rng.randrange(1, 20_000)}
    if action.startswith(("subscription", "group_assignment", "tier")):
        old, new = rng.sample(TIERS, 2)
        state = {"tier": old, "status": "active"}
        if verb == "create":
            return None, {"tier": new, "status": "active", "starts_on": "2026-06-01"}
        if verb == "cancel":
            return state, {**state, "status": "cancelled"}
        if verb == "delete":
            return state, None
        return state, {"tier": new, "status": "active", "effective": "next_month"}
    if action.startswith("credit_cap"):
        cap = {"monthly_cap": f"{rng.randrange(1, 50) * 100}.00"}
        return cap, None if verb == "clear" else {"monthly_cap": f"{rng.randrange(1, 50) * 100}.00"}
    state = {"name": label, "active": True, "department": rng.choice(DEPARTMENTS)}
    if verb in {"create", "add"}:
        return None, state
    if verb in {"delete", "remove", "revoke"}:
        return state, None
    if verb == "disable":
        return state, {**state, "active": False}
    return state, {**state, "department": rng.choice(DEPARTMENTS)}


def events(user_ids: dict[str, int]) -> Iterator[Any]:
    """EVENTS unsaved AuditEvents over the last DAYS days, in time order (ids follow time, as when appended)."""
    from django.utils import timezone

    from kiroconsole.models import AuditEvent

    defaults = [(f.attname, f.get_default()) for f in AuditEvent._meta.concrete_fields]
    rng = random.Random(SEED)
    by_source = actors(rng)
    cumulative = {source: _cumulative_zipf(len(pool)) for source, pool in by_source.items()}
    pools = Pools(rng)
    names, specs = list(ACTIONS), list(ACTIONS.values())
    end = timezone.now().replace(microsecond=0)
    span = DAYS * 86_400
    offsets = sorted(rng.random() * span for _ in range(EVENTS))
    picks = rng.choices(range(len(names)), [spec[2] for spec in specs], k=EVENTS)
    for offset, index in zip(offsets, picks, strict=True):
        action, (target_type, sources, _) = names[index], specs[index]
        source = rng.choice(sources)
        actor = rng.choices(by_source[source], cum_weights=cumulative[source])[0]
        target_id, target_label = pools.target(rng, target_type)
        before, after = _change(rng, action, target_label)
        row = {
            "occurred_at": end - datetime.timedelta(seconds=span - offset),
            "source": source,
            "actor_type": actor.actor_type,
            "actor_user_id": user_ids.get(actor.username),
            "actor_label": actor.label,
            "actor_token_id": actor.token_id,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "target_label": target_label,
            "before": before,
            "after": after,
            "remote_addr": pools.address(rng, source),
        }
        # Positional values in field order take Model.__init__'s fast path (the one from_db uses): 3x faster.
        yield AuditEvent(*[row.get(name, default) for name, default in defaults])


def build(ctx: Context) -> None:
    """The console users of the trail and EVENTS audit events, unless the table already holds exactly EVENTS."""
    from django.contrib.auth.hashers import make_password
    from django.db import transaction

    from kiroconsole.models import AuditEvent, User

    count = AuditEvent.objects.count()
    if count == EVENTS and not ctx.rebuild:
        print(f"data: {EVENTS:,} audit events already there (--rebuild builds them anew)")
        ctx.note("build", "skipped: the data of a previous run is there")
        return
    with ctx.phase(f"building {EVENTS:,} audit events") as phase:
        if count:
            delete_all_rows(AuditEvent)  # the bench database is throwaway; the console itself never deletes
        usernames = sorted({a.username for pool in actors(random.Random(SEED)).values() for a in pool if a.username})
        unusable = make_password(None)
        User.objects.bulk_create([User(username=u, password=unusable) for u in usernames], ignore_conflicts=True)
        user_ids = dict(User.objects.filter(username__in=usernames).values_list("username", "id"))
        gc.disable()  # 200,000 new objects would set off many collections that find nothing to free
        try:
            with transaction.atomic():
                for batch in itertools.batched(events(user_ids), BATCH):
                    AuditEvent.objects.bulk_create(batch)
        finally:
            gc.enable()
        analyze()
    ctx.note(
        "build",
        f"{phase['seconds']:.1f} s for {EVENTS:,} events (bulk_create, batches of {BATCH:,}); "
        f"peak RSS {peak_rss_bytes() / 2**20:,.0f} MiB",
    )


def administrator() -> Any:
    """The console user the pages are requested as: in the administrator group, and staff."""
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


@register(
    "audit_log", f"the audit log page at {EVENTS:,} events vs the Django admin changelist of the same table", minutes=2
)
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

    admin, page = "/admin/kiroconsole/auditevent/", "/audit/"

    def get(name: str, url: str, baseline: bool = False, **kwargs: Any) -> Operation:
        return Operation(f"{name}  {url}", lambda: http_get(client, url, **kwargs), baseline=baseline)

    results = ['id="result_list"']  # the admin changelist's table
    ctx.run(
        [
            get("(a) admin changelist", admin, baseline=True, expect=results),
            get("(b) audit log", page, expect=[f"{EVENTS:,} results"]),
            get("(c) deep page", f"{page}?page=2000", expect=[f"page 2,000 of {-(-EVENTS // 50):,}"]),
            get("(d) search", f"{page}?q={term}", expect=[f"{matches:,} results"]),
            get("(e) filter+sort", f"{page}?source=api&sort=-action", expect=['aria-sort="descending"']),
            get(
                "(f) htmx search",
                f"{page}?q={term}",
                headers={"HX-Request": "true"},
                expect=[f"{matches:,} results"],
                reject=["<html"],
            ),
            get("(g) admin search", f"{admin}?q={term}", expect=results),
        ],
        title=f"audit_log: {EVENTS:,} events, 50 rows a page",
    )

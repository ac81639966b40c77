"""usage_dashboard: the dashboard and the usage explorer read from the rollups at 100,000 subscriptions and
3,000,000 usage events in a month (issue 8), against the same figures computed straight from the raw events, and
the month's user activity report exported for 60,000 active users.

Targets (the issue): the dashboard and the explorer at p50 <= 100 ms in-process, with a constant number of queries;
the rollups at least 20x faster than the raw events (raw p50 / rollup p50); the report streamed (time and peak
memory are reported). Every figure read from the rollups must equal the one summed from the raw events: the bench
stops with FAILED otherwise.

Data (built once, reused while the bench database holds it at the same size; `--rebuild` builds it anew): an
Identity Center and profile of the bench's own (d-bec0000005, account 999999999995), 100,000 users (`--users N`
scales everything: N subscriptions, 0.6 N active users, 30 N events) and subscriptions (tiers mixed, mostly
Active), 20 groups of N/20 members, and 3,000,000 accepted usage events in one month from 60,000 active users
(Zipf-like: a few heavy users, some overage), written raw a day at a time, then `rollups_rebuild([profile])`.

It lives in its own SQLite file, var/bench_usage.sqlite3: run on the default bench database it switches to that
file, because the data is kept between runs and its subscriptions would block `directory_import` (which empties
the directory tables) and its events weigh 1.5 GB.
"""

from __future__ import annotations

import datetime
import gc
import io
import itertools
import json
import random
import resource
import shutil
import time
import tracemalloc
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench._organizations import execute, quoted_table, remove_organization, remove_usage
from bench.audit_log import administrator, logged_in_client
from bench.harness import (
    DEFAULT_DATABASE_URL,
    ROOT,
    BenchError,
    Capture,
    Context,
    Operation,
    Result,
    analyze,
    http_get,
    migrate,
    p50,
    percentile,
    register,
)

SUBSCRIPTIONS = 100_000
ACTIVE_SHARE = 0.6  # users with usage in the month: 60,000 of 100,000
EVENTS_PER_SUBSCRIPTION = 30  # 3,000,000 events
GROUPS = 20
STORE_ID = "d-bec0000005"
ACCOUNT_ID = "999999999995"
BENCH_ACTOR = "bench_usage"
OWN_DATABASE = ROOT / "var" / "bench_usage.sqlite3"
REPORT_DIR = ROOT / "var" / "bench-usage-report"
QUERIES_FILE = ROOT / "var" / "bench-usage-queries.json"
PAGE_TARGET_MS = 100
RATIO_TARGET = 20
SEED = 2026
TIERS = [("PRO", 0.40), ("PRO_PLUS", 0.30), ("PRO_MAX", 0.20), ("POWER", 0.10)]
CLIENTS = [("KIRO_IDE", 0.8), ("KIRO_CLI", 0.2)]
MODEL_WEIGHTS = [0.45, 0.25, 0.12, 0.10, 0.08]  # the catalogue's first five models
EXTRA_MODEL = ("claude-sonnet-4", "Claude Sonnet 4", Decimal("1.30"))  # added when the catalogue has only four
SKEW = 0.55  # user i (0-based) draws events with weight 1 / (i + 1) ** SKEW: the top user makes ~0.3% of them
EARLY_DAYS = 7  # before the 8th of a month, the bench's month is the previous one (whole), else this one so far
CHUNK = 100_000  # rows generated and inserted at a time


# --- The bench's own database --------------------------------------------------------------------------------


def use_own_database(ctx: Context) -> None:
    """On the default SQLite bench database, move to var/bench_usage.sqlite3 (dropped first under --rebuild)."""
    from django.conf import settings
    from django.db import connections

    connection = connections["default"]
    default = Path(DEFAULT_DATABASE_URL.removeprefix("sqlite:///")).resolve()
    if connection.vendor != "sqlite" or Path(str(connection.settings_dict["NAME"])).resolve() != default:
        return
    connection.close()
    if ctx.rebuild:
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{OWN_DATABASE}{suffix}").unlink(missing_ok=True)
    connection.settings_dict["NAME"] = str(OWN_DATABASE)
    settings.DATABASES["default"]["NAME"] = str(OWN_DATABASE)
    ctx.database = str(OWN_DATABASE)
    print(f"the data is kept between runs: this bench uses its own database, {OWN_DATABASE}")
    print(f"migrate: {migrate():.1f} s", flush=True)


# --- The data ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    subscriptions: int

    @property
    def active(self) -> int:
        return int(self.subscriptions * ACTIVE_SHARE)

    @property
    def events(self) -> int:
        return self.subscriptions * EVENTS_PER_SUBSCRIPTION

    @property
    def per_group(self) -> int:
        return self.subscriptions // GROUPS

    @property
    def label(self) -> str:
        return f"bench usage {self.subscriptions}"


def bench_month(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first day of the month the events fall in, and its last day with events (today, or the month's end)."""
    if today.day > EARLY_DAYS:
        return today.replace(day=1), today
    last = today.replace(day=1) - datetime.timedelta(days=1)
    return last.replace(day=1), last


def remove_bench_data() -> None:
    """The bench's profile with its events, rollups and balances, its organization and audit events."""
    remove_usage(STORE_ID)
    remove_organization(STORE_ID, ACCOUNT_ID, (f"manage.py {BENCH_ACTOR}",))


@dataclass
class Data:
    profile: Any
    first: datetime.date  # the month's first day
    last: datetime.date  # its last day with events
    groups: list[Any]
    notes: dict[str, str] = field(default_factory=dict)


def existing(size: Size) -> Data | None:
    """The data of an earlier run of the same size, if complete (its rollups built)."""
    from credits.models import MonthlyUsage, UsageEvent
    from directory.models import DirectoryGroup
    from subscriptions.models import Profile, Subscription

    profile = Profile.objects.filter(identity_center__identity_store_id=STORE_ID, name=size.label).first()
    if profile is None:
        return None
    if Subscription.objects.filter(profile=profile).count() != size.subscriptions:
        return None
    if UsageEvent.objects.filter(profile=profile).count() != size.events:
        return None
    if not MonthlyUsage.objects.filter(profile=profile).exists():
        return None
    events = UsageEvent.objects.filter(profile=profile).order_by("occurred_at").values_list("occurred_at", flat=True)
    first, last = events.first(), events.last()
    assert first is not None and last is not None
    groups = list(
        DirectoryGroup.objects.filter(identity_center=profile.identity_center)
        .order_by("display_name")
        .values_list("pk", flat=True)
    )
    return Data(profile=profile, first=first.date().replace(day=1), last=last.date(), groups=groups)


def catalogue_models() -> list[str]:
    """The first five model codes of the catalogue, adding one to this bench database's catalogue if it has
    only the four of the seed migration."""
    from subscriptions.models import AiModel

    codes = list(AiModel.objects.order_by("position", "code").values_list("code", flat=True))
    if len(codes) < len(MODEL_WEIGHTS):
        code, name, multiplier = EXTRA_MODEL
        AiModel.objects.get_or_create(
            code=code, defaults={"name": name, "credit_multiplier": multiplier, "position": len(codes)}
        )
        codes = list(AiModel.objects.order_by("position", "code").values_list("code", flat=True))
    return codes[: len(MODEL_WEIGHTS)]


def build(size: Size, today: datetime.date) -> Data:
    """The organization, users, groups and subscriptions, then the month's events day by day, written raw; then
    balances and the rollups (`rollups_rebuild`)."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import AwsAccount, IdentityCenterInstance, Region
    from credits.models import Balance, Outcome, ProfileBalance, UsageEvent
    from credits.services.rollups import rollups_rebuild
    from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
    from kiroconsole import dbstats
    from kiroconsole.audit import Actor
    from kiroconsole.bulk import adapter, insert_rows, large_cache
    from subscriptions.models import Subscription, SubscriptionPeriod, Tier
    from subscriptions.services import profile_create, profile_settings_update

    rng = random.Random(SEED)
    notes: dict[str, str] = {}
    now = timezone.now()
    first, last = bench_month(today)
    actor = Actor.for_command(BENCH_ACTOR)
    models = catalogue_models()
    allowance = {code: credits * 100 for code, credits in Tier.objects.values_list("code", "monthly_credits")}

    started = time.perf_counter()
    with transaction.atomic(), large_cache(256):
        account = AwsAccount.objects.create(account_id=ACCOUNT_ID, name="bench usage", kind="member")
        region = Region.objects.get(code="us-east-1")
        instance = IdentityCenterInstance.objects.create(
            identity_store_id=STORE_ID, name="bench usage", region=region, account=account, kind="account"
        )
        profile = profile_create(account=account, region=region, identity_center=instance, name=size.label, actor=actor)
        profile_settings_update(profile=profile, changes={"overage_enabled": True}, actor=actor)
        db_id, db_time = adapter(DirectoryUser, "id"), adapter(DirectoryUser, "created_at")
        db_now, db_ic = db_time(now), adapter(DirectoryUser, "identity_center")(instance.pk)
        users = sorted((uuid.uuid4() for _ in range(size.subscriptions)), key=lambda u: u.int)
        for start in range(0, len(users), CHUNK):
            insert_rows(
                DirectoryUser,
                ["id", "identity_center", "user_name", "display_name", "given_name", "family_name", "email",
                 "external_id", "active", "created_at", "updated_at"],
                [
                    (db_id(pk), db_ic, f"use{n:06}", f"Usage User {n}", "Usage", f"User{n}", f"use{n:06}@x.example",
                     "", True, db_now, db_now)
                    for n, pk in enumerate(users[start : start + CHUNK], start)
                ],
            )  # fmt: skip
        groups = [uuid.uuid4() for _ in range(GROUPS)]
        insert_rows(
            DirectoryGroup,
            ["id", "identity_center", "display_name", "description", "external_id", "created_at", "updated_at"],
            [(db_id(pk), db_ic, f"Team {n:02} (usage)", "", "", db_now, db_now) for n, pk in enumerate(groups)],
        )
        # Members in user-name order: group n holds users n * N/20 to (n + 1) * N/20 - 1. The active users are
        # shuffled below, so every group has light and heavy users.
        insert_rows(
            GroupMembership,
            ["group", "user", "created_at"],
            [(db_id(groups[n // size.per_group]), db_id(pk), db_now) for n, pk in enumerate(users)],
        )
        subs, periods = [], []
        tier_of: list[str] = []
        status_of: list[str] = []
        sub_ids: list[Any] = []
        tier_codes, tier_weights = zip(*TIERS, strict=True)
        for n, user in enumerate(users):
            pick = rng.random()
            status = "ACTIVE" if pick < 0.85 else "PENDING" if pick < 0.95 else "CANCELED"
            tier = rng.choices(tier_codes, tier_weights)[0]
            started_at = now - datetime.timedelta(days=rng.randint(40, 400))
            pk = db_id(uuid.uuid4())
            subs.append(
                (pk, profile.pk, db_id(user), f"use{n:06}", status, tier, False, db_time(started_at))
                + ((db_time(started_at),) if status != "PENDING" else (None,))
                + ((db_time(now), db_time(now + datetime.timedelta(days=3))) if status == "CANCELED" else (None, None))
                + (db_now,)
            )
            periods.append((pk, tier, status, db_time(started_at), None))
            tier_of.append(tier)
            status_of.append(status)
            sub_ids.append(pk)
        insert_rows(
            Subscription,
            ["id", "profile", "user", "user_name", "status", "tier", "direct_opt_out", "subscribed_at", "activated_at",
             "canceled_at", "access_until", "updated_at"],
            subs,
        )  # fmt: skip
        insert_rows(SubscriptionPeriod, ["subscription", "tier", "status", "starts_at", "ends_at"], periods)
    del subs, periods
    notes["build: directory and subscriptions"] = f"{time.perf_counter() - started:.1f} s"

    # The active users: Active subscriptions, shuffled, the first the heaviest.
    candidates = [n for n, status in enumerate(status_of) if status == "ACTIVE"]
    if len(candidates) < size.active:
        raise BenchError(f"only {len(candidates)} Active subscriptions for {size.active} active users")
    active = rng.sample(candidates, size.active)
    weights = list(itertools.accumulate(1 / (i + 1) ** SKEW for i in range(len(active))))
    days = [first + datetime.timedelta(days=d) for d in range((last - first).days + 1)]
    day_weight = [1.0 if day.weekday() < 5 else 0.3 for day in days]
    per_day = [int(size.events * w / sum(day_weight)) for w in day_weight]
    per_day[-1] += size.events - sum(per_day)
    guaranteed: dict[int, list[int]] = defaultdict(list)  # every active user has one event on a random day
    for user in active:
        guaranteed[rng.randrange(len(days))].append(user)

    conv = {
        name: adapter(UsageEvent, name)
        for name in ("profile", "user", "occurred_at", "month", "received_at", "credits", "overage_credits")
    }
    db_profile, db_month = conv["profile"](profile.pk), conv["month"](first)
    db_user = [None] * len(users)
    for n in active:
        db_user[n] = conv["user"](users[n])
    money: dict[int, Any] = {}  # hundredths -> the database's form of the credits

    def credits(hundredths: int) -> Any:
        value = money.get(hundredths)
        if value is None:
            value = money[hundredths] = conv["credits"](Decimal(hundredths).scaleb(-2))
        return value

    used = defaultdict(lambda: [0, 0])  # user index -> [plan, overage] hundredths so far
    columns = (
        "profile", "idempotency_key", "payload_hash", "user", "subscription", "tier", "credits", "occurred_at",
        "month", "client_type", "model", "messages", "conversations", "outcome", "reason", "plan_credits",
        "overage_credits", "remaining_credits", "received_at", "source", "recorded_by", "remote_addr",
    )  # fmt: skip
    client_codes, client_weights = zip(*CLIENTS, strict=True)
    payload_hash = "0" * 64
    generate_seconds = insert_seconds = 0.0
    written = 0
    day_end = min(now, datetime.datetime.combine(last, datetime.time.max, tzinfo=datetime.UTC))
    with large_cache(512):
        for d, day in enumerate(days):
            mark = time.perf_counter()
            start = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
            seconds = int(min(86_400, (day_end - start).total_seconds()))
            who = guaranteed[d] + rng.choices(active, cum_weights=weights, k=per_day[d] - len(guaranteed[d]))
            moments = sorted(rng.randrange(seconds * 1000) for _ in who)
            rng.shuffle(who)
            clients = rng.choices(client_codes, client_weights, k=len(who))
            picked = rng.choices(models, MODEL_WEIGHTS, k=len(who))
            rows = []
            for n, (user, ms, client, model) in enumerate(zip(who, moments, clients, picked, strict=True)):
                at = start + datetime.timedelta(milliseconds=ms)
                amount = rng.randint(1, 400)
                tier = tier_of[user]
                total = used[user]
                if total[0] + amount <= allowance[tier]:
                    total[0] += amount
                    outcome, plan, over = Outcome.PLAN, amount, 0
                else:
                    total[1] += amount
                    outcome, plan, over = Outcome.OVERAGE, 0, amount
                rows.append(
                    (db_profile, f"u{day:%Y%m%d}-{n:07}", payload_hash, db_user[user], sub_ids[user], tier,
                     credits(amount), conv["occurred_at"](at), db_month, client, model, rng.randint(1, 8), 1,
                     outcome, "", credits(plan), credits(over), credits(allowance[tier] - total[0]),
                     conv["received_at"](at + datetime.timedelta(milliseconds=300)), "api",
                     "bench-usage (API token kiro_bench…)", None)
                )  # fmt: skip
            generate_seconds += time.perf_counter() - mark
            mark = time.perf_counter()
            with transaction.atomic():
                for offset in range(0, len(rows), CHUNK):
                    insert_rows(UsageEvent, columns, rows[offset : offset + CHUNK])
            insert_seconds += time.perf_counter() - mark
            written += len(rows)
            del rows
            print(f"  {day}: {per_day[d]:,} events ({written:,} of {size.events:,})", flush=True)
    notes["build: events generated"] = f"{generate_seconds:.1f} s (Python, {size.events:,} rows)"
    notes["build: events inserted"] = (
        f"{insert_seconds:.1f} s ({size.events / max(insert_seconds, 1e-9):,.0f} rows/s, insert_rows a day at a time)"
    )

    mark = time.perf_counter()
    with transaction.atomic():
        b_sub, b_month, b_time = (
            adapter(Balance, "subscription"),
            adapter(Balance, "month"),
            adapter(Balance, "updated_at"),
        )
        insert_rows(
            Balance,
            ["subscription", "month", "allowance_hundredths", "plan_hundredths", "overage_hundredths", "updated_at"],
            [
                (b_sub(sub_ids[user]), b_month(first), allowance[tier_of[user]], plan, over, b_time(now))
                for user, (plan, over) in used.items()
            ],
        )
        ProfileBalance.objects.create(
            profile=profile, month=first, overage_hundredths=sum(over for _, over in used.values()), updated_at=now
        )
        execute(
            f"UPDATE {quoted_table(Subscription)} SET last_active_at = %s WHERE profile_id = %s "  # noqa: S608
            f"AND id IN (SELECT subscription_id FROM {quoted_table(UsageEvent)} WHERE profile_id = %s)",
            [db_time(day_end), profile.pk, profile.pk],
        )
    notes["build: balances"] = f"{time.perf_counter() - mark:.1f} s"
    del used

    analyze()
    gc.collect()
    mark = time.perf_counter()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with large_cache(512):
        written_rollups = rollups_rebuild([profile.pk])
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    notes["build: rollups_rebuild"] = (
        f"{time.perf_counter() - mark:.1f} s, peak RSS {rss_before / 1024:,.0f} -> {rss_after / 1024:,.0f} MB; "
        + ", ".join(f"{name} {count:,}" for name, count in written_rollups.items())
    )
    analyze()
    # What `manage.py rebuild_rollups` ends with (and `analyze_database` does): statistics on SQLite too.
    notes["build: analyze_database"] = f"{dbstats.analyze():.1f} s"
    groups_db = list(DirectoryGroup.objects.filter(identity_center=instance).order_by("display_name"))
    return Data(profile=profile, first=first, last=last, groups=[g.pk for g in groups_db], notes=notes)


# --- What is timed: the rollups, and the same figures from the raw events ----------------------------------

Figures = dict[Any, tuple]


def _hundredths(value: Any) -> int:
    return 0 if value is None else int((Decimal(str(value)) * 100).to_integral_value())


def _date(value: Any) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, str):
        return datetime.date.fromisoformat(value[:10])
    return value


def _rollup_sums() -> dict[str, Any]:
    from django.db.models import Sum

    return {
        "plan": Sum("plan_hundredths"),
        "overage": Sum("overage_hundredths"),
        "msgs": Sum("messages"),
        "evts": Sum("events"),
    }


def _raw_sums() -> dict[str, Any]:
    from django.db.models import Sum

    return {
        "plan": Sum("plan_credits"),
        "overage": Sum("overage_credits"),
        "msgs": Sum("messages"),
        "evts": Sum("conversations"),
    }


def _amounts(row: tuple, raw: bool) -> tuple:
    plan, overage, msgs, evts = row[-4:]
    if raw:
        return (_hundredths(plan), _hundredths(overage), int(msgs or 0), int(evts or 0))
    return (int(plan or 0), int(overage or 0), int(msgs or 0), int(evts or 0))


def _top(rows: list[tuple[Any, int]], count: int = 10) -> tuple:
    """The top users' credits, most first, and who they are above the last one's amount (a tie there makes the
    choice of the last ones arbitrary)."""
    rows = sorted(rows, key=lambda row: -row[1])[:count]
    amounts = tuple(amount for _, amount in rows)
    return amounts, frozenset(user for user, amount in rows if amounts and amount > amounts[-1])


def start_of(period: str) -> Any:
    """The UTC day, ISO week or month of `occurred_at`, as the best raw query would compute it: on SQLite with its
    own date() (Django's Trunc functions are Python functions there, called per row: 3 to 10 times slower), on
    PostgreSQL with Django's Trunc (date_trunc)."""
    from django.db import connection
    from django.db.models import DateField, F, Func, Value
    from django.db.models.functions import TruncDate, TruncMonth, TruncWeek

    if connection.vendor == "sqlite":
        modifiers = {"D": (), "W": ("-6 days", "weekday 1"), "M": ("start of month",)}[period]
        return Func(F("occurred_at"), *map(Value, modifiers), function="date", output_field=DateField())
    trunc = {"D": TruncDate, "W": TruncWeek, "M": TruncMonth}[period]
    return trunc("occurred_at", tzinfo=datetime.UTC)


class Reads:
    """The dashboard's and the explorer's figures for one profile and date range: from the rollups (what the pages
    read, through `credits.usage` where it has a selector) and from the raw accepted events."""

    PERIODS = {"day": "D", "week": "W", "month": "M"}

    def __init__(self, profile: Any, span: Any):
        self.profile = profile
        self.span = span

    def _events(self, since: datetime.date | None = None) -> Any:
        from credits.models import Outcome, UsageEvent

        start = datetime.datetime.combine(since or self.span.start, datetime.time.min, tzinfo=datetime.UTC)
        end = datetime.datetime.combine(
            self.span.end + datetime.timedelta(days=1), datetime.time.min, tzinfo=datetime.UTC
        )
        return (
            UsageEvent.objects.filter(profile=self.profile, occurred_at__gte=start, occurred_at__lt=end)
            .exclude(outcome=Outcome.REJECTED)
            .order_by()
        )

    def _subscriptions(self) -> Figures:
        """Subscriptions per tier and status: no rollup, the same query on both sides."""
        from django.db.models import Count

        from subscriptions.models import Subscription

        rows = (
            Subscription.objects.filter(profile=self.profile)
            .order_by()
            .values("tier_id", "status")
            .annotate(n=Count("id"))
            .values_list("tier_id", "status", "n")
        )
        return {("subscriptions", tier, status): (n,) for tier, status, n in rows}

    # The dashboard: active users per period in all, per client type and per tier; credits per period by client
    # type and by tier; the top users. Read by credits.dashboard.dashboard (the page's selector) when it exists,
    # else by the same aggregates here; the raw side answers the same from the events.

    def dashboard(self, period: str) -> Figures:
        try:
            from credits.dashboard import dashboard
        except ImportError:
            return self._dashboard_here(period)
        from django.utils import timezone

        from credits.models import hundredths_of

        board = dashboard(self.profile, self.span, period, timezone.now())
        figures: Figures = {}
        for table, kind in ((board.active_users, "active"), (board.credits, "credits")):
            for key, series in (("", table.total), *((f"client {s.key}", s) for s in table.by_client),
                                *((f"tier {s.key}", s) for s in table.by_tier)):  # fmt: skip
                for start, value in zip(table.starts, series.values, strict=True):
                    amount = value if kind == "active" else hundredths_of(value)
                    if amount:
                        figures[(kind, start, key)] = (amount,)
        figures[("top",)] = _top([(row.key, row.plan_hundredths + row.overage_hundredths) for row in board.top_users])
        return figures

    def _dashboard_here(self, period: str) -> Figures:
        from credits.models import ActiveUserCount, ProfileDailyUsage
        from credits.services.rollups import period_start
        from credits.usage import usage_rows

        code = self.PERIODS[period]
        self._subscriptions()
        rows = (
            ProfileDailyUsage.objects.filter(profile=self.profile, day__gte=self.span.start, day__lte=self.span.end)
            .order_by()
            .values("day", "tier_id", "client_type")
            .annotate(**_rollup_sums())
            .values_list("day", "tier_id", "client_type", "plan", "overage", "msgs", "evts")
        )
        cells: dict[tuple, int] = defaultdict(int)
        for day, tier, client, plan, overage, _, _ in rows:
            start = period_start(code, day)
            for key in ("", f"client {client}", f"tier {tier}"):
                cells[("credits", start, key)] += plan + overage
        figures: Figures = {key: (amount,) for key, amount in cells.items() if amount}
        counts = ActiveUserCount.objects.filter(
            profile=self.profile,
            period=code,
            start__gte=period_start(code, self.span.start),
            start__lte=self.span.end,
        ).values_list("start", "client_type", "tier", "users")
        for start, client, tier, users in counts:
            key = f"client {client}" if client else f"tier {tier}" if tier else ""
            if users:
                figures[("active", start, key)] = (users,)
        rows = usage_rows(self.profile, self.span, "user")
        figures[("top",)] = _top([(row.key, row.plan_hundredths + row.overage_hundredths) for row in rows])
        return figures

    def dashboard_raw(self, period: str) -> Figures:
        from django.db.models import Count

        from credits.services.rollups import period_start

        code = self.PERIODS[period]
        self._subscriptions()  # the page shows them too: the same query on both sides, not compared
        rows = (
            self._events()
            .annotate(start=start_of(code))
            .values("start", "tier_id", "client_type")
            .annotate(**_raw_sums())
            .values_list("start", "tier_id", "client_type", "plan", "overage", "msgs", "evts")
        )
        cells: dict[tuple, int] = defaultdict(int)
        for row in rows:
            plan, overage, _, _ = _amounts(row, raw=True)
            for key in ("", f"client {row[2]}", f"tier {row[1]}"):
                cells[("credits", _date(row[0]), key)] += plan + overage
        figures: Figures = {key: (amount,) for key, amount in cells.items() if amount}
        events = self._events(since=period_start(code, self.span.start)).annotate(start=start_of(code))
        for names in ((), ("client_type",), ("tier_id",)):
            counts = (
                events.values("start", *names)
                .annotate(n=Count("user_id", distinct=True))
                .values_list("start", *names, "n")
            )
            for row in counts:
                key = f"client {row[1]}" if names == ("client_type",) else f"tier {row[1]}" if names else ""
                figures[("active", _date(row[0]), key)] = (row[-1],)
        users = self.usage_raw("user")
        figures[("top",)] = _top([(user, amounts[0] + amounts[1]) for user, amounts in users.items()])
        return figures

    # The explorer (and the usage API): credits.usage.usage_rows, against the raw events grouped the same way.

    def usage(self, group_by: str, group: Any = None) -> Figures:
        from credits.usage import UsageFilters, usage_rows

        rows = usage_rows(self.profile, self.span, group_by, UsageFilters(group_id=group))
        return {row.key: (row.plan_hundredths, row.overage_hundredths, row.messages, row.events) for row in rows}

    def user_rows(self) -> Figures:
        """Every row of `usage_by_user`, in its order (the order is checked against the figures' ranking)."""
        from credits.usage import usage_by_user

        rows = list(usage_by_user(self.profile, self.span))
        totals = [row.plan_hundredths + row.overage_hundredths for row in rows]
        assert totals == sorted(totals, reverse=True), "usage_by_user is not in order of credits"
        return {row.key: (row.plan_hundredths, row.overage_hundredths, row.messages, row.events) for row in rows}

    def user_page(self, size: int = 25) -> Figures:
        """What the explorer grouped by user reads: the number of users, the first page, the total."""
        from credits.usage import usage_by_user

        rows = usage_by_user(self.profile, self.span)
        count, total = len(rows), rows.total("Total")  # type: ignore[attr-defined]
        page = rows[:size]
        figures: Figures = {
            row.key: (row.plan_hundredths, row.overage_hundredths, row.messages, row.events) for row in page
        }
        figures[("count",)] = (count, total.plan_hundredths + total.overage_hundredths)
        return figures

    RAW_COLUMNS = {
        "user": ("user_id", "user__user_name", "user__display_name"),
        "model": ("model",),
        "group": ("user__memberships__group_id", "user__memberships__group__display_name"),
        "tier": ("tier_id", "tier__name"),
        "client_type": ("client_type",),
    }

    def usage_raw(self, group_by: str, group: Any = None) -> Figures:
        from directory.models import GroupMembership

        events = self._events()
        if group is not None:
            events = events.filter(user_id__in=GroupMembership.objects.filter(group_id=group).values("user_id"))
        if group_by == "day":
            events, columns = events.annotate(key=start_of("D")), ("key",)
        else:
            columns = self.RAW_COLUMNS[group_by]
        rows = events.values(*columns).annotate(**_raw_sums()).values_list(*columns, "plan", "overage", "msgs", "evts")
        return {(_date(row[0]) if group_by == "day" else row[0]): _amounts(row, raw=True) for row in rows}


def measure_once(fn: Callable[[], Any], timings: list[float], cpu: list[float]) -> Any:
    """Call `fn` once, appending its wall-clock and CPU seconds; returns what it returned."""
    gc.collect()
    started, started_cpu = time.perf_counter(), time.process_time()
    value = fn()
    timings.append(time.perf_counter() - started)
    cpu.append(time.process_time() - started_cpu)
    return value


def differences(rollup: Figures, raw: Figures, limit: int = 5) -> list[str]:
    keys = sorted(set(rollup) | set(raw), key=lambda k: str(k))
    return [f"{key}: rollups {rollup.get(key)}, raw {raw.get(key)}" for key in keys if rollup.get(key) != raw.get(key)][
        :limit
    ]


# --- The pages, when they exist ----------------------------------------------------------------------------


def page_url(name: str, profile: Any) -> str | None:
    """The URL of the page `name`, or None while it does not exist (other work adds it)."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(name, args=[profile.profile_id])
    except NoReverseMatch:
        return None


def api_exists(path: str) -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def api_token() -> str:
    """A bearer token of the bench's administrator, for the usage API (revoked again at the end)."""
    from kiroconsole.audit import Actor
    from kiroconsole.services import api_token_create

    _, raw = api_token_create(
        user=administrator(), name="bench usage_dashboard", expires_at=None, actor=Actor.for_command(BENCH_ACTOR)
    )
    return raw


def remove_api_tokens() -> None:
    from kiroconsole.models import ApiToken

    ApiToken.objects.filter(name="bench usage_dashboard").delete()


# --- The report export -------------------------------------------------------------------------------------


def export_report(data: Data) -> dict[str, Any] | None:
    """The month's user activity report: one file per day and client type, through `manage.py export_user_report`
    when it exists, else `credits.reports.user_report`. Timed once plainly (with ru_maxrss before and after), then
    once under tracemalloc (its peak). None when neither exists yet."""
    import importlib

    from django.core.management import call_command, get_commands

    from credits.models import ClientType, DailyUsage

    try:
        reports = importlib.import_module("credits.reports")
    except ImportError:
        return None
    command = "export_user_report" in get_commands()
    if not command and not hasattr(reports, "user_report"):
        return None
    days = [data.first + datetime.timedelta(days=d) for d in range((data.last - data.first).days + 1)]

    def export(only: datetime.date | None = None) -> int:
        shutil.rmtree(REPORT_DIR, ignore_errors=True)
        REPORT_DIR.mkdir(parents=True)
        for day in [only] if only else days:
            print(f"  {day} …", flush=True)
            if command:
                call_command(
                    "export_user_report",
                    "--profile",
                    data.profile.profile_id,
                    "--date",
                    day.isoformat(),
                    "--output",
                    str(REPORT_DIR),
                    stdout=io.StringIO(),
                )
            else:
                for client in ClientType.values:
                    report = reports.user_report(profile=data.profile, day=day, client_type=client)
                    with open(REPORT_DIR / report.filename, "w", newline="") as out:
                        out.writelines(report.lines())
        rows = 0
        for path in REPORT_DIR.iterdir():
            with open(path) as lines:
                rows += sum(1 for _ in lines) - 1
        return rows

    expected = (
        DailyUsage.objects.filter(profile=data.profile, day__gte=data.first, day__lte=data.last)
        .order_by()
        .values("day", "user_id", "client_type")
        .distinct()
        .count()
    )
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started, cpu = time.perf_counter(), time.process_time()
    rows = export()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    files = len(list(REPORT_DIR.iterdir()))
    size = sum(path.stat().st_size for path in REPORT_DIR.iterdir())
    if rows != expected:
        raise BenchError(f"the report has {rows:,} rows, the rollups {expected:,} user-days per client type")
    # tracemalloc slows allocation-heavy code several times: its pass exports the busiest day only (a report
    # streams a file at a time, so the peak of one day is the peak of the month).
    busiest = max(days, key=lambda day: day.weekday() < 5 and day != data.last)
    gc.collect()
    tracemalloc.start()
    try:
        export(only=busiest)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return {
        "how": "manage.py export_user_report (call_command), a day at a time"
        if command
        else "credits.reports.user_report(...).lines() into a file, per day and client type",
        "days": len(days),
        "files": files,
        "rows": rows,
        "megabytes": size / 1e6,
        "seconds": seconds,
        "cpu": cpu,
        "peak": peak,
        "rss_before": rss_before * 1024,
        "rss_after": rss_after * 1024,
    }


# --- The run -----------------------------------------------------------------------------------------------


@dataclass
class Pair:
    """A row of the issue's table: an operation on the rollups and its raw baseline (None for pages and the API,
    which are compared with the raw figure of their selector)."""

    name: str
    rollup: Operation
    raw: Operation | None = None
    raw_of: str = ""  # a page's raw baseline: the name of the selector pair it shows
    check: Callable[[], Any] | None = None  # the figures compared with the raw ones, when the timed read is a page
    page_target: bool = True  # False: every row of a large answer (a download), held to the ratio only


def queries_constant(name: str, vendor: str, size: int, counts: dict[str, int]) -> str:
    """Keep each operation's queries per database and size; say whether other sizes ran the same number."""
    try:
        stored = json.loads(QUERIES_FILE.read_text())
    except (OSError, ValueError):
        stored = {}
    mine = stored.setdefault(vendor, {})
    mine[str(size)] = counts
    QUERIES_FILE.parent.mkdir(parents=True, exist_ok=True)
    QUERIES_FILE.write_text(json.dumps(stored, indent=1, sort_keys=True))
    others = {other: c for other, c in mine.items() if other != str(size)}
    if not others:
        return f"no other size run yet on {vendor} (run `--users 2000` once to compare)"
    changed = [
        f"{op} ({other} subscriptions: {c[op]}, now {counts[op]})"
        for other, c in others.items()
        for op in counts
        if op in c and c[op] != counts[op]
    ]
    sizes = ", ".join(f"{int(other):,}" for other in sorted(others, key=int))
    return f"the same as at {sizes} subscriptions" if not changed else "DIFFERENT: " + "; ".join(changed)


@register(
    "usage_dashboard",
    "dashboard and usage explorer on the rollups at 3,000,000 usage events vs the raw events; the report export",
    # Its data (3.8 GB at full size) is kept in a database of its own and reused; --quick builds a small one apart.
    databases=(f"sqlite:///{OWN_DATABASE}",),
    minutes=35,
    quick=("--database-url", f"sqlite:///{ROOT / 'var' / 'bench_usage_quick.sqlite3'}", "--users", "1000"),
)
def run(ctx: Context) -> None:
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from credits.usage import DateRange, this_month
    from subscriptions.calendar import UTC

    use_own_database(ctx)
    size = Size(ctx.users or SUBSCRIPTIONS)
    if size.subscriptions < 1_000:
        raise BenchError("--users must be at least 1,000")
    today = timezone.now().astimezone(UTC).date()
    data = None if ctx.rebuild else existing(size)
    if data is None:
        with ctx.phase("removing an earlier bench organization"):
            remove_bench_data()
        with ctx.phase(
            f"build: {size.subscriptions:,} subscriptions, {size.events:,} usage events of {size.active:,} users"
        ) as built:
            data = build(size, today)
        for key, value in data.notes.items():
            print(f"{key}: {value}")
        ctx.note(
            "build", f"{built['seconds']:.1f} s in all; " + "; ".join(f"{k[7:]} {v}" for k, v in data.notes.items())
        )
    else:
        ctx.note("build", "reused the data of an earlier run (--rebuild to build it anew)")
    profile = data.profile
    span = DateRange(
        data.first,
        (data.first.replace(day=28) + datetime.timedelta(days=4)).replace(day=1) - datetime.timedelta(days=1),
    )
    default_range = span == this_month(today)
    query = "" if default_range else f"from={span.start}&to={span.end}"
    ctx.note(
        "rows",
        f"{size.subscriptions:,} subscriptions in one profile, {GROUPS} groups of {size.per_group:,}, "
        f"{size.events:,} accepted events of {size.active:,} users from {data.first} to {data.last}",
    )
    ctx.note("range", f"{span.label}" + (" (the pages' default: this month)" if default_range else f" (?{query})"))
    reads = Reads(profile, span)
    group = data.groups[3]

    pairs: list[Pair] = []
    for period in Reads.PERIODS:
        pairs.append(
            Pair(
                f"dashboard {period}",
                Operation(f"dashboard {period} (selector)", lambda p=period: reads.dashboard(p)),
                Operation(f"dashboard {period} (raw events)", lambda p=period: reads.dashboard_raw(p)),
            )
        )
    for group_by in ("day", "user", "model", "group"):
        pairs.append(
            Pair(
                f"explorer by {group_by}" + (", every row (the CSV's)" if group_by == "user" else ""),
                Operation(
                    f"usage_rows by {group_by} (rollups)",
                    lambda g=group_by: reads.usage(g),
                    baseline=group_by == "day",
                ),
                Operation(f"usage by {group_by} (raw events)", lambda g=group_by: reads.usage_raw(g)),
                page_target=group_by != "user",
            )
        )
    # By user, the explorer shows a page of the 60,000 users (and their number and total): what is timed is that
    # read (usage_by_user); all of its rows, in the order it pages them, are what is compared with the raw events.
    pairs.append(
        Pair(
            "explorer by user, a page",
            Operation("usage_by_user: count, first page, total (rollups)", reads.user_page),
            raw_of="explorer by user, every row (the CSV's)",
            check=reads.user_rows,
        )
    )
    pairs.append(
        Pair(
            "explorer, a group's days",
            Operation("usage_rows by day, group filter (rollups)", lambda: reads.usage("day", group)),
            Operation("usage by day, group filter (raw events)", lambda: reads.usage_raw("day", group)),
        )
    )

    # Every rollup figure must equal the raw one, before anything is timed. The raw baselines are timed here:
    # the call that checks, then more while they fit in --max-seconds (at most --runs); at full size one takes
    # 10 to 120 s, so the harness's rounds (at least 3 runs each after a captured call) would take half an hour
    # for a figure that only has to be known within a few percent to say whether the ratio passes 20x.
    raw_results: dict[str, Result] = {}
    with ctx.phase("checking the rollups' figures against the raw events, timing the raw baselines"):
        raw_figures: dict[str, Figures] = {}
        for pair in pairs:
            rollup = (pair.check or pair.rollup.fn)()
            if pair.raw is None:  # a read of another pair's figures: compared with that pair's raw ones
                raw = raw_figures[pair.raw_of]
                if not rollup or rollup != raw:
                    problems = differences(rollup, raw) or ["nothing read"]
                    raise BenchError(f"{pair.name}: the rollups and the raw events disagree: " + "; ".join(problems))
                print(f"  {pair.name}: {len(rollup):,} figures, equal to those of {pair.raw_of}", flush=True)
                continue
            timings: list[float] = []
            cpu: list[float] = []
            raw = raw_figures[pair.name] = measure_once(pair.raw.fn, timings, cpu)
            if not rollup or rollup != raw:
                problems = differences(rollup, raw) or ["nothing read"]
                raise BenchError(f"{pair.name}: the rollups and the raw events disagree: " + "; ".join(problems))
            while len(timings) < ctx.runs and sum(timings) + timings[-1] <= ctx.max_seconds:
                measure_once(pair.raw.fn, timings, cpu)
            raw_results[pair.raw.name] = Result(
                operation=pair.raw, timings=timings, capture=Capture(queries=[], seconds=timings[0]), cpu_timings=cpu
            )
            print(
                f"  {pair.name}: {len(rollup):,} figures, equal; raw p50 {p50(timings) * 1000:,.0f} ms "
                f"({len(timings)} run{'s' if len(timings) > 1 else ''})",
                flush=True,
            )

    # The pages and the API, when they exist.
    missing: list[str] = []
    client = logged_in_client(administrator())
    dashboard = page_url("profile-dashboard", profile)
    explorer = page_url("profile-usage", profile)
    api = f"/api/v1/profiles/{profile.profile_id}/usage"

    def page(name: str, url: str, raw_of: str, **kwargs: Any) -> Pair:
        return Pair(name, Operation(f"{name}  {url}", lambda: http_get(client, url, **kwargs)), raw_of=raw_of)

    def with_query(url: str, params: str) -> str:
        joined = "&".join(p for p in (params, query) if p)
        return f"{url}?{joined}" if joined else url

    if dashboard:
        pairs.append(page("dashboard page (day)", with_query(dashboard, ""), "dashboard day"))
        for period in ("week", "month"):
            pairs.append(
                page(f"dashboard page, {period}", with_query(dashboard, f"period={period}"), f"dashboard {period}")
            )
    else:
        missing.append("the dashboard page (profile-dashboard)")
    if explorer:
        for group_by in ("day", "user", "model", "group"):
            pairs.append(
                page(
                    f"explorer page by {group_by}",
                    with_query(explorer, f"group_by={group_by}"),
                    f"explorer by {group_by}" + (", every row (the CSV's)" if group_by == "user" else ""),
                )
            )
        pairs.append(page("explorer page, a group", with_query(explorer, f"group={group}"), "explorer, a group's days"))
    else:
        missing.append("the usage explorer page (profile-usage)")
    token = None
    if api_exists(api):
        token = api_token()
        api_client = Client(headers={"Authorization": f"Bearer {token}"})
        url = with_query(api, "group_by=user")
        # The API answers every row (60,000 users, 11.6 MB of JSON; CONTRACTS.md has no paging), like the CSV: a
        # download, held to the ratio against the raw events, not to a page's 100 ms.
        pairs.append(
            Pair(
                "usage API by user (every row)",
                Operation(f"usage API by user  {url}", lambda: http_get(api_client, url)),
                raw_of="explorer by user, every row (the CSV's)",
                page_target=False,
            )
        )
    else:
        missing.append(f"the usage API (GET {api})")
    for what in missing:
        print(f"note: {what} does not exist yet: its selector is timed instead")

    try:
        operations = [pair.rollup for pair in pairs]
        results = ctx.run(
            operations, title=f"usage_dashboard: {size.events:,} usage events, {size.subscriptions:,} subscriptions"
        )
    finally:
        if token:
            remove_api_tokens()
    by_name = {result.operation.name: result for result in results} | raw_results
    print_issue_table(pairs, by_name, ctx)
    print(
        "\nqueries per operation: "
        + queries_constant(
            "usage_dashboard",
            connection.vendor,
            size.subscriptions,
            {pair.name: len(by_name[pair.rollup.name].capture.queries) for pair in pairs},
        )
    )

    with ctx.phase("the month's user activity report"):
        report = export_report(data)
    if report is None:
        print("note: credits.reports (user_report) and manage.py export_user_report do not exist yet: no export timed")
    else:
        print(
            f"report export ({report['how']}): {report['files']} files for {report['days']} days, "
            f"{report['rows']:,} rows, {report['megabytes']:,.1f} MB, {report['seconds']:.1f} s "
            f"({report['rows'] / report['seconds']:,.0f} rows/s, CPU {report['cpu']:.1f} s); "
            f"peak Python allocations {report['peak'] / 2**20:,.1f} MiB (tracemalloc, one weekday exported again); "
            f"peak RSS {report['rss_before'] / 2**20:,.0f} MiB before, {report['rss_after'] / 2**20:,.0f} MiB after"
        )
        ctx.table("the month's user activity report")
        ctx.record(
            f"export ({report['how']}): {report['files']} files, {report['rows']:,} rows",
            f"{report['seconds']:.1f} s ({report['rows'] / report['seconds']:,.0f} rows/s), peak Python allocations "
            f"{report['peak'] / 2**20:,.1f} MiB, peak RSS {report['rss_after'] / 2**20:,.0f} MiB",
        )
    missed = summarize(pairs, by_name)
    print(f"\ntargets: {'MISSED' if missed else 'all met'}")
    for line in missed:
        print(f"  {line}")


def _row(pair: Pair, by_name: dict[str, Result], raw: Result | None) -> tuple[Result, float | None]:
    result = by_name[pair.rollup.name]
    return result, (raw.p50 / result.p50 if raw else None)


def raw_result(pair: Pair, pairs: list[Pair], by_name: dict[str, Result]) -> Result | None:
    if pair.raw is not None:
        return by_name[pair.raw.name]
    source = next((p for p in pairs if p.name == pair.raw_of), None)
    return by_name[source.raw.name] if source and source.raw else None


def print_issue_table(pairs: list[Pair], by_name: dict[str, Result], ctx: Context) -> None:
    headers = ["operation", "p50 ms", "p99 ms", "queries", "raw p50 ms", "raw runs", "raw / rollup", "target", "met"]
    rows = []
    ctx.table("the issue's targets: rollups (selectors, pages, API) against the raw events")
    for pair in pairs:
        raw = raw_result(pair, pairs, by_name)
        result, ratio = _row(pair, by_name, raw)
        met = (not pair.page_target or result.p50 * 1000 <= PAGE_TARGET_MS) and (ratio is None or ratio >= RATIO_TARGET)
        target = f"<= {PAGE_TARGET_MS} ms, >= {RATIO_TARGET}x" if pair.page_target else f">= {RATIO_TARGET}x"
        ctx.record(
            pair.name,
            f"p50 {result.p50 * 1000:,.1f} ms, {len(result.capture.queries)} queries"
            + (f"; raw p50 {raw.p50 * 1000:,.1f} ms ({len(raw.timings)} runs)" if raw else ""),
            ratio=f"raw / rollup {ratio:,.1f}x" if ratio else "",
            target=target,
            met=met,
        )
        rows.append(
            [
                pair.name,
                f"{result.p50 * 1000:,.1f}",
                f"{percentile(result.timings, 99) * 1000:,.1f}",
                str(len(result.capture.queries)),
                f"{raw.p50 * 1000:,.1f}" if raw else "-",
                str(len(raw.timings)) if raw else "-",
                f"{ratio:,.1f}x" if ratio else "-",
                target,
                "yes" if met else "NO",
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("\nthe issue's targets: rollups (selectors, pages, API) against the raw events")
    for cells in [headers, ["-" * w for w in widths], *rows]:
        print("  ".join([cells[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))]))
    print(
        "p50/p99 of the rollup side (p99 of few runs is about the slowest). raw p50: the same figures from the raw "
        "events (a page's: its selector's raw figures). raw / rollup: the ratio of the p50s."
    )


def summarize(pairs: list[Pair], by_name: dict[str, Result]) -> list[str]:
    missed = []
    for pair in pairs:
        raw = raw_result(pair, pairs, by_name)
        result, ratio = _row(pair, by_name, raw)
        slowest = max(result.capture.queries, key=lambda q: float(q["time"]), default=None)
        why = []
        if pair.page_target and result.p50 * 1000 > PAGE_TARGET_MS:
            why.append(f"p50 {result.p50 * 1000:,.1f} ms > {PAGE_TARGET_MS} ms")
        if ratio is not None and ratio < RATIO_TARGET:
            why.append(f"raw / rollup {ratio:,.1f}x < {RATIO_TARGET}x")
        if why:
            sql = " ".join(slowest["sql"].split())[:300] if slowest else ""
            took = f"{float(slowest['time']) * 1000:,.1f} ms" if slowest else ""
            missed.append(f"{pair.name}: {', '.join(why)}; slowest query ({took}): {sql}")
    return missed

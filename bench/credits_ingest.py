"""credits_ingest: usage events through the metering API (issue 7), in batches of 1,000 against raw inserts of the
same rows, and one at a time against gunicorn with concurrent clients.

1. Batches: `POST /api/v1/profiles/{id}/usage-events` with `{"events": [1,000 events]}` in-process
   (django.test.Client: the whole middleware stack, the bearer token, parsing, `usage_record`), against the same
   1,000 `UsageEvent` rows written raw by `kiroconsole.bulk.insert_rows` in one transaction (COPY on PostgreSQL, one
   prepared INSERT run by `executemany` on SQLite, the rows converted beforehand), interleaved round by round.
   Target: the API's events/s at least 30% of the raw insert's. The batches walk the Active users in turn (960 a
   batch, plus 40 first uses of Pending ones) with random client types and models, so nearly every event is its
   user's first of the day and of the month: the rollups get new rows (daily, monthly, per user and month) and nine
   active-user marks an event, 13 rows written for each raw one: the dearest case. (2026-11-29: the same 960 users in
   every batch gave 0.09x on SQLite and 0.11x on PostgreSQL, against 0.07x here.)
2. Single events: gunicorn (`kiroconsole.wsgi`, production settings) on 127.0.0.1, driven by `wrk` (a Lua script
   makes a unique idempotency key and picks a random user per request) over 64 keep-alive connections (gunicorn's
   sync workers, and gthread workers with as many connections as threads, close each after one answer; wrk
   reconnects): many clients at once, as a metering service meets
   them, so that the threads of a gthread worker find company for a group commit (`usage_record_one`). A few worker
   configurations are probed for a few seconds each, the best one then runs for `--max-seconds` (30 s by default).
   Target: 1,000 events/s. Every answer must be 201, every request wrk sent must have made exactly one event, and
   the balances must equal the sums of their events (`credits.selectors.balance_mismatches`).

The data lives in an Identity Center and profile of the bench's own (d-bec0000004, account 999999999996): 10,000
users (`--users`) subscribed at Power by `subscription_subscribe`, overage on; nine in ten are Active with this
month's balance (as their first event would have left them, written set-based), the tenth are still Pending and
become Active with their first event during the run. It is built at the start of each run and removed at the end
(with its events, balances and notifications), so other benchmarks sharing the bench database never see it
(`directory_import` empties the directory tables, which subscriptions would block).

Environment variables (the bench's command line is shared by all benchmarks):
  BENCH_GUNICORN      one configuration instead of probing several: `sync:3` (3 sync workers) or `gthread:2x4`
  BENCH_CONNECTIONS   wrk's concurrent connections (default 64)
  BENCH_LOAD_GENERATOR=asyncio  the Python load generator even where wrk is installed (it is the fallback without wrk)
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gc
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._http import Config, Connection, CpuSnapshot, Gunicorn, cpu_split
from bench._organizations import execute, quoted_table, remove_organization, remove_usage
from bench.harness import ROOT, BenchError, Context, capture, percentile, register

USERS = 10_000
PENDING_EVERY = 10  # every 10th user is subscribed but has not used Kiro yet (Pending)
BATCH = 1_000
FIRST_USES = 40  # events of each batch that are a Pending user's first (4%): every batch the same mix
SINGLES = 300  # single events posted one at a time in-process (the per-event cost, no concurrency)
STORE_ID = "d-bec0000004"
ACCOUNT_ID = "999999999996"
BENCH_ACTOR = "bench_credits"
CONSOLE_USER = "bench-credits-metering"
RAW_PREFIX = "raw-"
RATIO_TARGET = 0.30
SINGLE_TARGET = 1_000
CONNECTIONS = 64
PROBE_SECONDS = 3
WARM_SECONDS = 2
DRAIN_SECONDS = 3  # wrk runs this much longer than it sends, so that the requests in flight are answered
# The configurations probed: SQLite has one writer at a time, so one worker is worth trying there; gthread workers
# with more threads put more single events in one transaction (credits.services.metering.usage_record_one).
CONFIGS = {
    "sqlite": ["sync:1", "sync:2", "sync:4", "gthread:2x8", "gthread:2x32"],
    "postgresql": ["sync:2", "sync:4", "gthread:2x8", "gthread:2x32", "gthread:3x32"],
}
SEED = 2026
MODELS = ["auto", "auto", "claude-sonnet-4.5", "claude-haiku-4.5", "claude-opus-4.5"]
CLIENTS = ["KIRO_IDE", "KIRO_IDE", "KIRO_CLI"]
# The columns a UsageEvent row has, as the metering service writes them.
EVENT_COLUMNS = (
    "profile", "idempotency_key", "payload_hash", "user", "subscription", "credits", "occurred_at", "month",
    "client_type", "model", "messages", "conversations", "outcome", "reason", "plan_credits", "overage_credits",
    "remaining_credits", "received_at", "source", "recorded_by", "remote_addr",
)  # fmt: skip


# --- The data ----------------------------------------------------------------------------------------------


def remove_bench_data(
    *,
    store_id: str = STORE_ID,
    account_id: str = ACCOUNT_ID,
    console_user: str = CONSOLE_USER,
    actor_label: str = BENCH_ACTOR,
) -> None:
    """The bench's profile with its events, balances and notifications, its organization, the metering console
    user and its tokens, and the audit events of the bench's own actions. (load_mixed removes its own with it.)"""
    from kiroconsole.models import User

    remove_usage(store_id)
    User.objects.filter(username=console_user).delete()  # and its tokens
    remove_organization(store_id, account_id, (f"manage.py {actor_label}",))


@dataclass
class Data:
    profile: Any
    token: str  # the metering user's bearer token
    users: list[str]  # user ids (str), in user-name order
    pending: list[str]  # the Pending ones, not used yet
    subscription_of: dict[str, Any]  # user id -> subscription id (database form)
    seconds: float = 0.0
    notes: dict[str, str] = field(default_factory=dict)


def event_json(key: str, user_id: str, rng: random.Random, at: datetime.datetime | None) -> dict[str, Any]:
    event = {
        "idempotency_key": key,
        "user_id": user_id,
        "credits": f"{rng.randint(0, 1)}.{rng.randint(1, 99):02d}",
        "client_type": rng.choice(CLIENTS),
        "model": rng.choice(MODELS),
        "messages": rng.randint(1, 5),
    }
    if at is not None:
        event["occurred_at"] = f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z"
    return event


def build(
    count: int,
    *,
    store_id: str = STORE_ID,
    account_id: str = ACCOUNT_ID,
    name: str = "bench credits",
    console_user: str = CONSOLE_USER,
    actor_label: str = BENCH_ACTOR,
) -> Data:
    """The organization, profile, users and subscriptions, through the services where a client would use them.
    (load_mixed builds its own organization with it: another directory, account and metering user.)"""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import AwsAccount, IdentityCenterInstance, Region
    from credits.models import Balance
    from directory.models import DirectoryUser
    from kiroconsole.audit import Actor
    from kiroconsole.bulk import adapter, insert_rows
    from kiroconsole.roles import Role
    from kiroconsole.services import api_token_create, console_user_create
    from subscriptions.calendar import month_start
    from subscriptions.models import Subscription, SubscriptionPeriod, SubscriptionStatus, Tier
    from subscriptions.services import profile_create, profile_settings_update, subscription_subscribe

    started = time.perf_counter()
    actor = Actor.for_command(actor_label)
    now = timezone.now()
    with transaction.atomic():
        account = AwsAccount.objects.create(account_id=account_id, name=name, kind="member")
        region = Region.objects.get(code="us-east-1")
        instance = IdentityCenterInstance.objects.create(
            identity_store_id=store_id, name=name, region=region, account=account, kind="account"
        )
        profile = profile_create(account=account, region=region, identity_center=instance, name=name, actor=actor)
        db_id, db_now = adapter(DirectoryUser, "id"), adapter(DirectoryUser, "created_at")(now)
        db_ic = adapter(DirectoryUser, "identity_center")(instance.pk)
        insert_rows(
            DirectoryUser,
            ["id", "identity_center", "user_name", "display_name", "given_name", "family_name", "email",
             "external_id", "active", "created_at", "updated_at"],
            [
                (db_id(uuid.uuid4()), db_ic, f"dev{n:06}", f"Dev {n}", "Dev", f"N{n}", f"dev{n:06}@x.example", "",
                 True, db_now, db_now)
                for n in range(count)
            ],
        )  # fmt: skip
    directory = list(DirectoryUser.objects.filter(identity_center=instance).order_by("user_name"))
    timings: dict[str, float] = {"users": time.perf_counter() - started}

    mark = time.perf_counter()
    subscription_subscribe(profile=profile, users=directory, tier="POWER", actor=actor)
    profile_settings_update(profile=profile, changes={"overage_enabled": True}, actor=actor)
    timings["subscribe"] = time.perf_counter() - mark

    # Nine in ten have used Kiro already: Active since a moment ago, with this month's balance (nothing used yet),
    # as their first accepted event would have left them (subscription_record_activity, _lock_balances), written
    # set-based here (through the service, one activation costs about 10 ms: 90 s for 9,000).
    mark = time.perf_counter()
    users = [str(u.pk) for u in directory]
    pending = [u for n, u in enumerate(users) if n % PENDING_EVERY == PENDING_EVERY - 1]
    pending_set = set(pending)
    at = timezone.now()
    active_subs = [
        sub_id
        for user_id, sub_id in Subscription.objects.filter(profile=profile).values_list("user_id", "id")
        if str(user_id) not in pending_set
    ]
    allowance = Tier.objects.get(code="POWER").monthly_credits * 100
    with transaction.atomic():
        for start in range(0, len(active_subs), 2_000):
            chunk = active_subs[start : start + 2_000]
            Subscription.objects.filter(pk__in=chunk, status=SubscriptionStatus.PENDING).update(
                status=SubscriptionStatus.ACTIVE, activated_at=at, last_active_at=at, updated_at=at
            )
            SubscriptionPeriod.objects.filter(subscription_id__in=chunk, ends_at__isnull=True).update(ends_at=at)
        SubscriptionPeriod.objects.bulk_create(
            [
                SubscriptionPeriod(
                    subscription_id=sub_id, tier_id="POWER", status=SubscriptionStatus.ACTIVE, starts_at=at
                )
                for sub_id in active_subs
            ],
            batch_size=2_000,
        )
        Balance.objects.bulk_create(
            [
                Balance(
                    subscription_id=sub_id, month=month_start(at).date(), allowance_hundredths=allowance, updated_at=at
                )
                for sub_id in active_subs
            ],
            batch_size=2_000,
        )
    timings["activate"] = time.perf_counter() - mark

    user = console_user_create(username=console_user, password=None, role=Role.METERING, actor=actor)
    _, raw = api_token_create(user=user, name=f"{name} metering", expires_at=None, actor=actor)
    subscription_of = {
        str(user_id): adapter(Subscription, "id")(sub_id)
        for user_id, sub_id in Subscription.objects.filter(profile=profile).values_list("user_id", "id")
    }
    data = Data(profile=profile, token=raw, users=users, pending=list(pending), subscription_of=subscription_of)
    data.seconds = time.perf_counter() - started
    data.notes = {k: f"{v:.1f} s" for k, v in timings.items()}
    return data


def analyze_tables() -> None:
    """PostgreSQL: VACUUM ANALYZE the tables the bench filled (planner statistics, as autovacuum soon has them)."""
    from django.db import connection

    from credits.models import Balance, UsageEvent
    from directory.models import DirectoryUser
    from subscriptions.models import Subscription, SubscriptionPeriod

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (DirectoryUser, Subscription, SubscriptionPeriod, Balance, UsageEvent):
                cursor.execute(f"VACUUM ANALYZE {quoted_table(model)}")


# --- Batches, in-process -----------------------------------------------------------------------------------


class Batches:
    """Batch after batch of 1,000 events for 1,000 users: 960 Active ones in turn, and 40 first uses of Pending
    ones (each used once; when they run out, Active ones instead). Unique keys per run."""

    def __init__(self, data: Data, run_id: str):
        self.data = data
        self.run_id = run_id
        pending = set(data.pending)
        self.active = [u for u in data.users if u not in pending]
        self.pending = list(data.pending)
        self.rng = random.Random(SEED + 1)
        self.number = 0
        self.position = 0

    def next(self) -> list[dict[str, Any]]:
        from django.utils import timezone

        self.number += 1
        users = [self.pending.pop() for _ in range(min(FIRST_USES, len(self.pending)))]
        while len(users) < BATCH:
            users.append(self.active[self.position % len(self.active)])
            self.position += 1
        self.rng.shuffle(users)
        now = timezone.now()
        return [event_json(f"b-{self.run_id}-{self.number}-{n}", user, self.rng, now) for n, user in enumerate(users)]


def raw_rows(data: Data, events: list[dict[str, Any]]) -> list[tuple]:
    """The UsageEvent rows of `events` as the service writes them (accepted as plan use), keys prefixed, in the
    database's form: what the baseline inserts."""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    from credits.models import UsageEvent
    from kiroconsole.bulk import adapter

    conv = {name: adapter(UsageEvent, name) for name in EVENT_COLUMNS}
    received = timezone.now()
    rows = []
    for event in events:
        at = parse_datetime(event["occurred_at"])
        assert at is not None
        credits = conv["credits"](event["credits"])
        rows.append(
            (
                conv["profile"](data.profile.pk),
                RAW_PREFIX + event["idempotency_key"],
                hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest(),
                conv["user"](uuid.UUID(event["user_id"])),
                data.subscription_of[event["user_id"]],
                credits,
                conv["occurred_at"](at),
                conv["month"](at.date().replace(day=1)),
                event["client_type"],
                event["model"],
                event["messages"],
                1,
                "PLAN",
                "",
                credits,
                conv["overage_credits"]("0.00"),
                conv["remaining_credits"]("9000.00"),
                conv["received_at"](received),
                "api",
                f"{CONSOLE_USER} (API token kiro_xxxxxx…)",
                "127.0.0.1",
            )
        )
    return rows


def raw_insert(rows: list[tuple]) -> None:
    from django.db import transaction

    from credits.models import UsageEvent
    from kiroconsole.bulk import insert_rows

    with transaction.atomic():
        insert_rows(UsageEvent, EVENT_COLUMNS, rows)


def delete_raw(data: Data, above_id: int) -> None:
    from django.db import transaction

    from credits.models import UsageEvent

    with transaction.atomic():
        count = execute(
            f"DELETE FROM {quoted_table(UsageEvent)} WHERE profile_id = %s AND id > %s AND idempotency_key LIKE %s",  # noqa: S608
            [data.profile.pk, above_id, RAW_PREFIX + "%"],
        )
    if count != BATCH:
        raise BenchError(f"deleted {count} raw rows, not {BATCH}")


def max_event_id() -> int:
    from django.db.models import Max

    from credits.models import UsageEvent

    return UsageEvent.objects.aggregate(top=Max("id"))["top"] or 0


class Api:
    """The metering API in-process, with the metering user's token."""

    def __init__(self, data: Data):
        from django.test import Client

        self.client = Client(headers={"Authorization": f"Bearer {data.token}"})
        self.url = f"/api/v1/profiles/{data.profile.profile_id}/usage-events"

    def post(self, body: bytes) -> Any:
        return self.client.post(self.url, data=body, content_type="application/json")

    @staticmethod
    def check_batch(response: Any, size: int) -> None:
        if response.status_code != 200:
            raise BenchError(f"a batch answered {response.status_code}: {response.content[:300]!r}")
        answer = json.loads(response.content)
        if answer["accepted"] != size or answer["rejected"]:
            first = next((r for r in answer["results"] if r["status"] != "accepted"), None)
            raise BenchError(f"a batch: {answer['accepted']} accepted, {answer['rejected']} rejected; {first}")

    @staticmethod
    def check_single(response: Any) -> None:
        if response.status_code != 201:
            raise BenchError(f"a single event answered {response.status_code}: {response.content[:300]!r}")


@dataclass
class Series:
    """The timings of one row of the table."""

    label: str
    events: int  # events per call
    timings: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    queries: int | None = None
    db_ms: float | None = None
    captured: Any = None

    def timed(self, fn: Callable[[], Any], collect: bool = True) -> Any:
        if collect:  # as the harness does; not before each single event (a collection takes longer than one)
            gc.collect()
        started, started_cpu = time.perf_counter(), time.process_time()
        result = fn()
        self.timings.append(time.perf_counter() - started)
        self.cpu.append(time.process_time() - started_cpu)
        return result

    @property
    def rate(self) -> float:
        return self.events / statistics.median(self.timings)


def run_batches(ctx: Context, data: Data, api: Api, run_id: str) -> tuple[Series, Series, Series]:
    """Interleaved rounds: an API batch, then the raw insert of the same rows (removed again, untimed), then the
    parsing and checking of the batch's body alone (the part of the batch no database work can save)."""
    from django.utils import timezone

    from credits import catalogue
    from credits.events import event_parse, json_loads
    from credits.models import UsageEvent

    batches = Batches(data, run_id)
    ours = Series("(b) API: a batch of 1,000 events", BATCH)
    base = Series("(a) raw insert of the same 1,000 rows (baseline)", BATCH)
    parse = Series("(b') parsing and checking a batch's 1,000 events alone (no database)", BATCH, queries=0, db_ms=0.0)

    def parsed(body: bytes) -> None:
        now, models = timezone.now(), catalogue.model_codes()
        events = [event_parse(raw, now=now, models=models) for raw in json_loads(body)["events"]]
        if len(events) != BATCH:
            raise BenchError(f"{len(events)} events parsed of {BATCH}")

    # One untimed round first: its queries (the table's columns), and warm caches.
    events = batches.next()
    body = json.dumps({"events": events}).encode()
    ours.captured = capture(lambda: Api.check_batch(api.post(body), BATCH))
    rows, top = raw_rows(data, events), max_event_id()
    base.captured = capture(lambda: raw_insert(rows))
    delete_raw(data, top)
    for series in (ours, base):
        series.queries = len(series.captured.queries)
        series.db_ms = series.captured.db_seconds * 1000

    for round_ in range(ctx.warmup + ctx.runs):
        events = batches.next()
        body = json.dumps({"events": events}).encode()
        rows, top = raw_rows(data, events), max_event_id()
        if round_ < ctx.warmup:
            Api.check_batch(api.post(body), BATCH)
            raw_insert(rows)
        else:
            Api.check_batch(ours.timed(lambda: api.post(body)), BATCH)  # noqa: B023 (called at once)
            base.timed(lambda: raw_insert(rows))  # noqa: B023
            parse.timed(lambda: parsed(body))  # noqa: B023
        delete_raw(data, top)
    left = UsageEvent.objects.filter(profile=data.profile, idempotency_key__startswith=RAW_PREFIX).count()
    if left:
        raise BenchError(f"{left} raw rows left behind")
    return base, ours, parse


def run_singles(data: Data, api: Api, run_id: str) -> Series:
    """SINGLES events one at a time in-process: what one event costs the server, without concurrency."""
    from django.utils import timezone

    rng = random.Random(SEED + 2)
    series = Series("(c) API: single events one at a time, in-process", 1)

    def body(n: int) -> bytes:
        return json.dumps(event_json(f"s-{run_id}-{n}", rng.choice(data.users), rng, timezone.now())).encode()

    series.captured = capture(lambda: Api.check_single(api.post(body(0))))
    series.queries = len(series.captured.queries)
    series.db_ms = series.captured.db_seconds * 1000
    for n in range(1, 21):
        Api.check_single(api.post(body(n)))
    gc.collect()
    for n in range(21, 21 + SINGLES):
        payload = body(n)
        Api.check_single(series.timed(lambda: api.post(payload), collect=False))  # noqa: B023
    return series


# --- Gunicorn and the load generator -----------------------------------------------------------------------


WRK_SCRIPT = r"""
-- Single usage events: a unique idempotency key per request, a random user. After `seconds` no connection sends
-- again (delay() holds it), so the requests in flight are answered while wrk drains, before it exits: every event
-- request sent gets its answer. Counts the requests sent and the answers by status.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } bench_timeval;
int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  prefix, path, token = args[1], args[2], args[3]
  users = {}
  for line in io.lines(args[4]) do users[#users + 1] = line end
  math.randomseed(tonumber(args[5]) + tid * 7919)
  start_us = now_us()
  stop_us = start_us + tonumber(args[6]) * 1000000
  last_us = start_us
  sent, statuses = 0, {}
  headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
  models = {"auto", "auto", "claude-sonnet-4.5", "claude-haiku-4.5", "claude-opus-4.5"}
  clients = {"KIRO_IDE", "KIRO_IDE", "KIRO_CLI"}
end

function delay()
  if now_us() >= stop_us then return 3600000 end
  return 0
end

function request()
  sent = sent + 1
  local body = string.format(
    '{"idempotency_key":"%s-%d-%d","user_id":"%s","credits":"%d.%02d","occurred_at":"%s",' ..
    '"client_type":"%s","model":"%s","messages":%d}',
    prefix, tid, sent, users[math.random(#users)], math.random(0, 1), math.random(1, 99),
    os.date("!%Y-%m-%dT%H:%M:%SZ"), clients[math.random(#clients)], models[math.random(#models)],
    math.random(1, 5))
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  last_us = now_us()
end

function done(summary, latency, requests)
  local total, first, last = 0, nil, 0
  local merged = {}
  for i, thread in ipairs(threads) do
    -- wrk calls the first thread's request() once before the run, to check the request it makes: not sent.
    total = total + thread:get("sent") - (i == 1 and 1 or 0)
    first = math.min(first or thread:get("start_us"), thread:get("start_us"))
    last = math.max(last, thread:get("last_us"))
    for status, n in pairs(thread:get("statuses")) do merged[status] = (merged[status] or 0) + n end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT answered=%d sent=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d " ..
    "connect=%d read=%d write=%d status_errors=%d timeout=%d\n",
    summary.requests, total, last - first, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
  for status, n in pairs(merged) do io.write(string.format("STATUS %d %d\n", status, n)) end
end
"""


@dataclass
class Load:
    """What a load generator measured."""

    answered: int
    sent: int
    seconds: float
    p50: float
    p99: float
    statuses: Counter
    errors: dict[str, int]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process kind, over the load

    @property
    def rate(self) -> float:
        return self.statuses.get(201, 0) / self.seconds


class Wrk:
    name = "wrk"

    def __init__(self, folder: Path, data: Data):
        self.script = folder / "events.lua"
        self.script.write_text(WRK_SCRIPT)
        self.users = folder / "users.txt"
        self.users.write_text("\n".join(data.users) + "\n")
        self.path = f"/api/v1/profiles/{data.profile.profile_id}/usage-events"
        self.token = data.token
        self.process: subprocess.Popen | None = None

    def run(self, port: int, prefix: str, seconds: float, connections: int, drain: float) -> Load:
        wrk = shutil.which("wrk")
        assert wrk is not None
        command = [
            wrk, "-t1", f"-c{connections}", f"-d{round(seconds + drain)}s", "--timeout", "60s",
            "-s", str(self.script), f"http://127.0.0.1:{port}", "--",
            prefix, self.path, self.token, str(self.users), str(random.randint(1, 10**6)), str(seconds),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
        out, err = self.process.communicate()
        if self.process.returncode != 0 or "RESULT" not in out:
            raise BenchError(f"wrk failed ({self.process.returncode}): {out[-1000:]} {err[-1000:]}")
        statuses: Counter = Counter()
        values: dict[str, int] = {}
        for line in out.splitlines():
            if line.startswith("RESULT "):
                values = {k: int(v) for k, v in (item.split("=") for item in line.split()[1:])}
            elif line.startswith("STATUS "):
                _, status, count = line.split()
                statuses[int(status)] += int(count)
        errors = {k: values[k] for k in ("connect", "read", "write", "timeout") if values[k]}
        return Load(
            answered=values["answered"],
            sent=values["sent"],
            seconds=values["duration_us"] / 1e6,
            p50=values["p50_us"] / 1e6,
            p99=values["p99_us"] / 1e6,
            statuses=statuses,
            errors=errors,
        )


class AsyncClients:
    """The fallback when wrk is missing: asyncio keep-alive clients on raw sockets, in a process of their own (so
    they do not share the bench's interpreter). Costs several times wrk's CPU; install wrk where you can."""

    name = "asyncio clients (wrk not found)"

    def __init__(self, folder: Path, data: Data):
        self.folder = folder
        self.data = data
        self.process: subprocess.Popen | None = None

    def run(self, port: int, prefix: str, seconds: float, connections: int, drain: float) -> Load:
        spec = {
            "port": port,
            "prefix": prefix,
            "seconds": seconds,
            "connections": connections,
            "path": f"/api/v1/profiles/{self.data.profile.profile_id}/usage-events",
            "token": self.data.token,
            "users": self.data.users,
        }
        path = self.folder / "load.json"
        path.write_text(json.dumps(spec))
        self.process = subprocess.Popen(  # noqa: S603 (this module)
            [sys.executable, "-c", f"from bench.credits_ingest import _async_main; _async_main({str(path)!r})"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        out, err = self.process.communicate()
        if self.process.returncode != 0:
            raise BenchError(f"the load generator failed: {err[-2000:]}")
        result = json.loads(out)
        return Load(
            answered=result["answered"],
            sent=result["sent"],
            seconds=result["seconds"],
            p50=percentile(result["latencies"], 50),
            p99=percentile(result["latencies"], 99),
            statuses=Counter({int(k): v for k, v in result["statuses"].items()}),
            errors={k: v for k, v in result["errors"].items() if v},
        )


def _async_main(spec_path: str) -> None:
    """The asyncio load generator's process: prints its results as JSON."""
    spec = json.loads(Path(spec_path).read_text())
    rng = random.Random()
    totals: dict[str, Any] = {"sent": 0, "answered": 0, "statuses": Counter(), "latencies": [], "errors": Counter()}
    headers = {"Authorization": f"Bearer {spec['token']}", "Content-Type": "application/json"}

    def body(n: int, worker: int) -> bytes:
        now = datetime.datetime.now(datetime.UTC)
        return json.dumps(event_json(f"{spec['prefix']}-{worker}-{n}", rng.choice(spec["users"]), rng, now)).encode()

    async def client(worker: int, deadline: float) -> None:
        connection = Connection(spec["port"])
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            fresh, connects = connection.writer is None, connection.connects
            started = time.perf_counter()
            try:
                response = await connection.request("POST", spec["path"], headers, body(n, worker))
            except (OSError, asyncio.IncompleteReadError, ValueError):
                if fresh and connection.connects == connects:  # the connection could not be opened: nothing sent
                    totals["errors"]["connect"] += 1
                    await asyncio.sleep(0.01)
                else:
                    totals["sent"] += 1
                    totals["errors"]["read"] += 1
                continue
            totals["sent"] += 1
            totals["latencies"].append(time.perf_counter() - started)
            totals["answered"] += 1
            totals["statuses"][response.status] += 1
        connection.close()

    async def main() -> float:
        started = time.perf_counter()
        deadline = started + spec["seconds"]
        await asyncio.gather(*(client(i, deadline) for i in range(spec["connections"])))
        return time.perf_counter() - started

    seconds = asyncio.run(main())
    totals["seconds"] = seconds
    print(json.dumps(totals))


# --- CPU accounting (Linux /proc): where the machine's CPU went during the load -----------------------------


@contextlib.contextmanager
def cpu_shares(server: Gunicorn) -> Iterator[dict[str, float]]:
    """CPU seconds spent during the block by the gunicorn processes, PostgreSQL's processes, the load generator
    (the bench's child, finished when the block ends), everything else, and the whole machine."""
    import resource

    shares: dict[str, float] = {}
    if not Path("/proc/stat").exists():
        yield shares
        return
    from django.db import connection

    gunicorn = {server.process.pid, *server.worker_pids()}
    postgres = connection.vendor == "postgresql"  # on SQLite, PostgreSQL's work is someone else's: other
    before = CpuSnapshot()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    yield shares
    after = CpuSnapshot()
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    generator = (done.ru_utime + done.ru_stime) - (children.ru_utime + children.ru_stime)
    split = cpu_split(before, after, {"gunicorn": gunicorn}, postgres)
    split["other"] = max(0.0, split["other"] - generator)
    shares.update({k: v for k, v in split.items() if k not in {"other", "machine", "seconds"}})
    shares["load generator"] = generator
    shares["other"], shares["machine"] = split["other"], split["machine"]


def drive(server: Gunicorn, generator: Any, prefix: str, seconds: float, connections: int, drain: float) -> Load:
    with cpu_shares(server) as shares:
        load = generator.run(server.port, prefix, seconds, connections, drain)
    load.cpu = shares
    bad = {status: n for status, n in load.statuses.items() if status != 201}
    if bad or load.errors:
        raise BenchError(
            f"{server.config}: answers {dict(load.statuses)}, socket errors {load.errors}; {server.log_tail()}"
        )
    return load


def events_with_prefix(profile: Any, prefix: str) -> int:
    from credits.models import UsageEvent

    return UsageEvent.objects.filter(profile=profile, idempotency_key__startswith=prefix).count()


def drained(profile: Any, prefix: str, expected: int, seconds: float = 20) -> int:
    """The events of `prefix` once the server has answered what was in flight when the generator stopped."""
    deadline = time.monotonic() + seconds
    count = -1
    while time.monotonic() < deadline:
        count = events_with_prefix(profile, prefix)
        if count >= expected:
            return count
        time.sleep(0.25)
    return count


def run_gunicorn(ctx: Context, data: Data, run_id: str, folder: Path) -> tuple[Config, Load, list[tuple]]:
    """Probe the configurations, then drive the best for `--max-seconds`. Returns it, its load, the probes."""
    from django.db import connection

    from credits.models import Outcome, UsageEvent
    from credits.selectors import balance_mismatches

    generator: Any = Wrk(folder, data) if use_wrk() else AsyncClients(folder, data)
    connections = int(os.environ.get("BENCH_CONNECTIONS", CONNECTIONS))
    pinned = os.environ.get("BENCH_GUNICORN")
    configs = [Config.parse(pinned)] if pinned else [Config.parse(c) for c in CONFIGS[connection.vendor]]
    probes: list[tuple] = []
    best = configs[0]
    if len(configs) > 1:
        for n, config in enumerate(configs):
            print(f"  probing gunicorn {config}: {WARM_SECONDS} s warm-up, {PROBE_SECONDS} s load …", flush=True)
            server = Gunicorn(config, folder)
            try:
                drive(server, generator, f"w{n}-{run_id}", WARM_SECONDS, connections, 1)
                load = drive(server, generator, f"p{n}-{run_id}", PROBE_SECONDS, connections, 2)
            finally:
                server.stop()
            probes.append((config, load))
            print(f"    {load.rate:,.0f} events/s, p50 {load.p50 * 1000:.1f} ms, p99 {load.p99 * 1000:.1f} ms")
        best = max(probes, key=lambda p: p[1].rate)[0]

    seconds = ctx.max_seconds
    print(f"  gunicorn {best}: {WARM_SECONDS} s warm-up, {seconds:g} s load, {connections} connections …", flush=True)
    prefix = f"g-{run_id}"
    server = Gunicorn(best, folder)
    try:
        drive(server, generator, f"gw-{run_id}", WARM_SECONDS, connections, 1)
        load = drive(server, generator, prefix, seconds, connections, DRAIN_SECONDS)
        stored = drained(data.profile, prefix, load.sent)
    finally:
        server.stop()
    stored = events_with_prefix(data.profile, prefix)  # after the graceful stop: nothing more can arrive
    if stored != load.sent:
        raise BenchError(
            f"wrk sent {load.sent:,} events and got {load.statuses.get(201, 0):,} answers 201; {stored:,} events "
            "are stored"
        )
    rejected = UsageEvent.objects.filter(profile=data.profile, outcome=Outcome.REJECTED).count()
    if rejected:
        raise BenchError(f"{rejected} events were rejected")
    mismatches = balance_mismatches()
    if mismatches:
        raise BenchError(f"balances differ from their events: {mismatches[:5]}")
    return best, load, probes


# --- The benchmark -----------------------------------------------------------------------------------------


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def print_table(rows: list[list[str]], headers: list[str]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join([cells[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


@register(
    "credits_ingest",
    "usage events through the metering API: batches of 1,000 vs raw inserts; single events against gunicorn (wrk)",
    databases=("sqlite", "postgresql:bench_credits"),
    minutes=2.5,
    quick=("--users", "1000"),
)
def run(ctx: Context) -> None:
    from django.db import connection

    count = ctx.users or USERS
    run_id = f"{int(time.time()):x}"
    folder = Path(tempfile.mkdtemp(prefix="bench-credits-"))
    remove_bench_data()
    try:
        with ctx.phase(f"build: {count:,} users subscribed at Power, {count - count // PENDING_EVERY:,} Active"):
            data = build(count)
            analyze_tables()
        ctx.note("data", f"{count:,} subscriptions at Power ({len(data.pending):,} Pending), overage on; built in "
                 f"{data.seconds:.1f} s ({', '.join(f'{k} {v}' for k, v in data.notes.items())})")  # fmt: skip
        api = Api(data)
        with ctx.phase(f"batches: {ctx.warmup + ctx.runs + 1} rounds of an API batch and its raw insert"):
            base, ours, parse = run_batches(ctx, data, api, run_id)
        with ctx.phase(f"single events in-process: {SINGLES} timed"):
            single = run_singles(data, api, run_id)
        with ctx.phase("gunicorn"):
            config, load, probes = run_gunicorn(ctx, data, run_id, folder)

        vendor = connection.vendor
        raw_kind = "COPY FROM STDIN (psycopg)" if vendor == "postgresql" else "one prepared INSERT, executemany"
        ctx.note("raw insert", f"kiroconsole.bulk.insert_rows: {raw_kind}, rows converted beforehand, one transaction")
        connections = int(os.environ.get("BENCH_CONNECTIONS", CONNECTIONS))
        generator = f"wrk -t1 -c{connections}" if use_wrk() else f"asyncio clients, {connections} connections"
        ctx.note("gunicorn", f"{config}, DEBUG off, CONN_MAX_AGE 60; load: {generator}, keys unique, users random")
        if load.cpu:
            per = {k: v / max(1, load.statuses.get(201, 0)) * 1000 for k, v in load.cpu.items()}
            ctx.note(
                "CPU per event",
                ", ".join(f"{k} {v:.2f} ms" for k, v in per.items() if k != "machine")
                + f" (machine busy {load.cpu['machine'] / load.seconds * 100:.0f}% of one CPU over the load)",
            )
        ctx.note("date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"))
        ctx.print_environment()

        print(f"\ncredits_ingest ({vendor}): events per second")
        headers = ["operation", "runs", "events", "p50 ms", "p99 ms", "cpu ms", "queries", "db ms", "events/s",
                   "x raw"]  # fmt: skip
        rows = []
        for series in (base, ours, parse, single):
            rows.append(
                [
                    series.label,
                    str(len(series.timings)),
                    f"{series.events:,}",
                    fmt_ms(statistics.median(series.timings)),
                    fmt_ms(percentile(series.timings, 99)),
                    fmt_ms(statistics.median(series.cpu)),
                    str(series.queries),
                    f"{series.db_ms:,.1f}",
                    f"{series.rate:,.0f}",
                    f"{series.rate / base.rate:.2f}" if series.events > 1 else "-",
                ]
            )
        for probe_config, probe in probes:
            rows.append(
                [f"    probe: gunicorn {probe_config}", "1", f"{probe.answered:,}", fmt_ms(probe.p50),
                 fmt_ms(probe.p99), "-", "-", "-", f"{probe.rate:,.0f}", "-"]
            )  # fmt: skip
        rows.append(
            [f"(d) gunicorn {config}: single events", "1", f"{load.answered:,}", fmt_ms(load.p50), fmt_ms(load.p99),
             "-", "-", "-", f"{load.rate:,.0f}", "-"]
        )  # fmt: skip
        print_table(rows, headers)
        ctx.table(f"credits_ingest ({vendor}): events per second")
        for row in rows:
            ctx.record(
                row[0].strip(),
                f"{row[8]} events/s, p50 {row[3]} ms, p99 {row[4]} ms"
                + (f", {row[6]} queries" if row[6] not in {"-", "None"} else ""),
                ratio=f"{row[9]}x raw" if row[9] != "-" else "",
            )
        print(
            "(a), (b): p50/p99 of one call (a batch or its raw insert) over the timed rounds, interleaved; events/s: "
            "events / p50. cpu ms: the bench process's CPU per call (SQLite's work included, not a PostgreSQL "
            "server's). queries, db ms: one extra untimed call. (c): one event after the other, in-process. (d): "
            "requests over HTTP to gunicorn for the whole load (probes: a few seconds each); latency as the load "
            "generator saw it, events/s: answers 201 per second. (b'): json_loads and event_parse of a batch's body, "
            "timed after each round: what (b) spends before any database work, whatever the storage does."
        )
        statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(load.statuses.items()))
        print(
            f"\n(d) answers {statuses} to the {load.sent:,} requests sent"
            + (
                f" ({load.sent - load.answered:,} still in flight when wrk exited)"
                if load.sent != load.answered
                else ""
            )
            + f"; {load.sent:,} events stored, none rejected; balances equal their events (balance_mismatches() is "
            "empty)."
        )
        ratio = ours.rate / base.rate
        verdicts = [
            (f"batch ingestion {ratio:.2f}x the raw insert's events/s (target >= {RATIO_TARGET:.2f})",
             ratio >= RATIO_TARGET),
            (f"single events {load.rate:,.0f}/s against gunicorn (target >= {SINGLE_TARGET:,})",
             load.rate >= SINGLE_TARGET),
        ]  # fmt: skip
        print()
        for text, met in verdicts:
            ctx.target(text, met, show=True)
        if ctx.show_queries:
            for series in (ours, base, single):
                show_queries(series)
            if vendor == "postgresql":
                print(
                    "\n(COPY, which insert_rows uses on PostgreSQL for the events, is not in these lists: psycopg's "
                    "copy() bypasses Django's cursor wrapper.)"
                )
    finally:
        with ctx.phase("removing the bench's organization, events and balances"):
            remove_bench_data()
        shutil.rmtree(folder, ignore_errors=True)


def show_queries(series: Series, width: int = 150) -> None:
    """The statements of one untimed call, alike ones together (a batch repeats some per event), slowest first."""
    import re

    groups: dict[str, list[float]] = {}
    for query in series.captured.queries:
        sql = " ".join(query["sql"].split())
        shape = re.sub(r"'[^']*'|\b\d+\b|\"s\d+_x\d+\"", "?", sql)  # literals and savepoint names out
        groups.setdefault(shape, []).append(float(query["time"]))
    print(f"\n-- {series.label}: {len(series.captured.queries)} statements, {len(groups)} different")
    for shape, times in sorted(groups.items(), key=lambda item: -sum(item[1])):
        text = shape[:width] + ("…" if len(shape) > width else "")
        print(f"  {sum(times) * 1000:8.1f} ms  {len(times):>4} x  {text}")


def use_wrk() -> bool:
    return os.environ.get("BENCH_LOAD_GENERATOR", "wrk") != "asyncio" and shutil.which("wrk") is not None


def load_generator_name() -> str:
    return "wrk" if use_wrk() else "asyncio clients"

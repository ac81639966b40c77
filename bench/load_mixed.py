"""load_mixed: five minutes of mixed load on gunicorn and PostgreSQL, as production sees it (issue 9).

gunicorn (`kiroconsole.wsgi`, production settings, DEBUG off) serves the bench database on 127.0.0.1 while one load
generator process (asyncio on raw sockets, `bench._http.Connection`) runs three kinds of clients at once:

(a) administrators, logged in through /login/, browsing and filtering tables with a short think time: the profile's
    Users tab (status, tier, group filters, a search, deep pages), its Groups tab, the usage explorer, the dashboard,
    the directory's users and the audit log, half of the filters as htmx fragment requests (`HX-Request: true`);
(b) metering clients with the metering user's API token, as fast as the server answers: single usage events, small
    batches (2 to 20 events) and entitlement reads (`GET /api/v1/profiles/{id}/entitlements/{user_id}`);
(c) a SCIM client at a steady modest rate: users created, renamed, added to and removed from an assigned group
    (their subscriptions follow), subscribed users added to and removed from assigned teams, look-ups.

Per kind and operation: requests, requests per second, p50 and p99, errors (any status but the expected one, or
no answer; the target is none); the gunicorn workers' memory (RSS from /proc after the warm-up and at the end;
the target is flat); the CPU of gunicorn, PostgreSQL, the load generator and the rest. After the load the books
must agree: the accepted events stored equal those the generator was told were accepted, every balance equals
its events (`credits.selectors.balance_mismatches`, what `manage.py check_balances` runs), the rollups equal what
the events imply (`credits.services.rollups.rollups_differences`), the SCIM group holds the members the client
left in it, each of them subscribed. Exit status 1 on any error or disagreement.

PostgreSQL only (SQLite has one writer at a time, which is not what this run is about). The data lives in an
Identity Center and profile of the bench's own (d-bec0000006, account 999999999994), built at the start of each
run by credits_ingest's builder (5,000 users, `--users`, subscribed at Power, nine in ten Active) plus 20 teams
(4 assigned at Pro) and the SCIM group (assigned at Pro), and removed at the end.

Environment variables:
  BENCH_GUNICORN        the worker configuration (default sync:4; e.g. gthread:2x4)
  BENCH_ADMINS          administrator sessions (default 3), BENCH_ADMIN_THINK seconds between their pages (0.5)
  BENCH_METERING        metering connections (default 8)
  BENCH_SCIM_RATE       SCIM requests per second (default 4)
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import credits_ingest
from bench._http import Config, Connection, CpuSnapshot, Gunicorn, collect_static, cpu_split, rss_bytes
from bench.harness import ROOT, BenchError, Context, analyze, percentile, register

USERS = 5_000
DURATION = 300.0
WARMUP = 15.0  # seconds of load before measuring: connections, caches, the workers' first requests
DRAIN = 30.0  # at most this long for the requests in flight at the end
STORE_ID = "d-bec0000006"
ACCOUNT_ID = "999999999994"
NAME = "bench load"
BENCH_ACTOR = "bench_load"
METERING_USER = "bench-load-metering"
ADMIN_USER = "bench-load-admin"
TEAMS = 20
ASSIGNED_TEAMS = 4  # assigned at Pro: their members (direct Power subscribers) keep Power, with a second source
SCIM_GROUP = "SCIM provisioned (bench load)"
GUNICORN = "sync:4"
ADMINS, ADMIN_THINK, METERING, SCIM_RATE = 3, 0.5, 8, 4.0
RSS_GROWTH = 0.10  # flat: each worker at most 10% above its size after the warm-up
SEED = 2026
# The metering mix: single events, small batches, entitlement reads (weights).
MIX = {"single event": 55, "batch of 2-20": 10, "entitlements": 35}
KINDS = {"admin": "(a) administrators", "metering": "(b) metering", "scim": "(c) SCIM"}


def env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError as exc:
        raise BenchError(f"{name}: {os.environ[name]!r} is not a number") from exc


# --- The data ----------------------------------------------------------------------------------------------


def remove_bench_data(audit_above: int | None = None) -> None:
    """The bench's organization with everything in it (credits_ingest's removal), the administrator, and the audit
    events written since `audit_above` (the run's log-ins, SCIM changes, token creations): the audit log the next
    run browses is the same."""
    from kiroconsole.models import AuditEvent, User

    credits_ingest.remove_bench_data(
        store_id=STORE_ID, account_id=ACCOUNT_ID, console_user=METERING_USER, actor_label=BENCH_ACTOR
    )
    User.objects.filter(username=ADMIN_USER).delete()
    if audit_above is not None:
        credits_ingest.execute(
            f"DELETE FROM {credits_ingest.quoted_table(AuditEvent)} WHERE id > %s",  # noqa: S608
            [audit_above],
        )


@dataclass
class Data:
    base: credits_ingest.Data
    teams: list[Any]  # DirectoryGroup, assigned ones first
    scim_group: Any
    admin_password: str
    scim_token: str
    seconds: float = 0.0


def build(count: int) -> Data:
    from directory.models import DirectoryUser
    from directory.services import directory_group_create, group_members_add, scim_token_create
    from kiroconsole.audit import Actor
    from kiroconsole.roles import Role
    from kiroconsole.services import console_user_create
    from subscriptions.services import group_assign

    started = time.perf_counter()
    base = credits_ingest.build(
        count,
        store_id=STORE_ID,
        account_id=ACCOUNT_ID,
        name=NAME,
        console_user=METERING_USER,
        actor_label=BENCH_ACTOR,
    )
    actor = Actor.for_command(BENCH_ACTOR)
    instance = base.profile.identity_center
    directory = list(DirectoryUser.objects.filter(identity_center=instance).order_by("user_name"))
    per_team = max(1, len(directory) // TEAMS)
    teams = []
    for n in range(TEAMS):
        team = directory_group_create(identity_center=instance, actor=actor, display_name=f"Team {n:02} ({NAME})")
        group_members_add(group=team, users=directory[n * per_team : (n + 1) * per_team], actor=actor)
        if n < ASSIGNED_TEAMS:
            group_assign(profile=base.profile, group=team, tier="PRO", actor=actor)
        teams.append(team)
    scim_group = directory_group_create(identity_center=instance, actor=actor, display_name=SCIM_GROUP)
    group_assign(profile=base.profile, group=scim_group, tier="PRO", actor=actor)
    password = secrets.token_urlsafe(18)
    console_user_create(username=ADMIN_USER, password=password, role=Role.ADMINISTRATOR, actor=actor)
    _, scim_token = scim_token_create(identity_center=instance, actor=actor)
    data = Data(base=base, teams=teams, scim_group=scim_group, admin_password=password, scim_token=scim_token)
    data.seconds = time.perf_counter() - started
    return data


def admin_pages(data: Data, rng: random.Random) -> list[list[Any]]:
    """[operation, weight, path, htmx] of the pages the administrators ask for."""
    profile = data.base.profile.profile_id
    users = f"/profiles/{profile}/users/"
    count = len(data.base.users)
    teams = data.teams
    q = urllib.parse.quote

    def search() -> str:  # a user-name prefix matching about ten users
        return f"dev{rng.randrange(count // 10):05}"

    pages: list[list[Any]] = []

    def add(operation: str, weight: float, paths: list[str], htmx: bool = False) -> None:
        pages.extend([operation, weight / len(paths), path, htmx] for path in paths)

    add("users tab", 3, [users, *(f"{users}?page={rng.randrange(2, count // 50 + 1)}" for _ in range(5))])
    filters = [
        f"{users}?status=ACTIVE",
        f"{users}?status=PENDING",
        f"{users}?tier=POWER",
        f"{users}?tier=PRO",
        *(f"{users}?group={teams[n].pk}" for n in (0, 7)),
        *(f"{users}?q={search()}" for _ in range(4)),
        f"{users}?status=ACTIVE&page=3",
    ]
    add("users tab, filtered", 2, filters)
    add("users tab, filter (htmx)", 2, filters, htmx=True)
    add("groups tab", 1, [f"/profiles/{profile}/groups/", f"/profiles/{profile}/groups/?q=Team+0"])
    explorer = f"/profiles/{profile}/usage/"
    add(
        "usage explorer",
        2,
        [
            *(f"{explorer}?group_by={g}" for g in ("day", "user", "model", "group", "client_type")),
            f"{explorer}?group={q(teams[1].display_name)}",
        ],
    )
    dashboard = f"/profiles/{profile}/dashboard/"
    add("dashboard", 2, [dashboard, f"{dashboard}?period=week", f"{dashboard}?period=month"])
    directory = [
        "/directory/users/",
        *(f"/directory/users/?q={search()}" for _ in range(3)),
        "/directory/users/?active=true&page=4",
        f"/directory/users/?group={teams[3].pk}",
    ]
    add("directory users", 2, directory)
    add("directory users (htmx)", 1, directory[1:], htmx=True)
    audit = ["/audit/", "/audit/?source=scim", "/audit/?source=web", "/audit/?q=dev0", "/audit/?page=2"]
    add("audit log", 1.5, audit)
    add("audit log (htmx)", 0.5, audit[1:], htmx=True)
    return pages


# --- The load generator (a process of its own: no Django) ---------------------------------------------------


class LoadError(RuntimeError):
    """The load cannot go on (an administrator cannot log in)."""


class Stats:
    """What the generator measured: per (kind, operation), the latencies of the requests started in the measured
    window, the requests and errors before it (warm-up) and in it, a few error examples."""

    def __init__(self, measure_from: float, measure_to: float):
        self.measure_from, self.measure_to = measure_from, measure_to
        self.latencies: dict[tuple[str, str], list[float]] = {}
        self.starts: dict[tuple[str, str], list[float]] = {}
        self.errors: Counter = Counter()  # (kind, operation, measured) -> errors
        self.warmup: Counter = Counter()  # (kind, operation) -> requests before the window
        self.examples: list[str] = []
        self.accepted_events = 0  # events answered "accepted", warm-up included: the books check them
        self.answered_unknown = 0  # event requests without a clear answer (no answer, a 5xx): the books allow them

    def add(self, kind: str, operation: str, started: float, seconds: float, error: str | None) -> None:
        measured = self.measure_from <= started < self.measure_to
        key = (kind, operation)
        if error is not None:
            self.errors[(kind, operation, measured)] += 1
            if len(self.examples) < 30:
                self.examples.append(f"{kind} {operation}: {error}")
        if not measured:
            self.warmup[key] += 1
            return
        self.latencies.setdefault(key, []).append(seconds)
        self.starts.setdefault(key, []).append(started - self.measure_from)

    def result(self) -> dict[str, Any]:
        return {
            "operations": [
                {
                    "kind": kind,
                    "operation": operation,
                    "latencies": self.latencies.get((kind, operation), []),
                    "starts": self.starts.get((kind, operation), []),
                    "errors": self.errors[(kind, operation, True)],
                    "warmup_requests": self.warmup[(kind, operation)],
                    "warmup_errors": self.errors[(kind, operation, False)],
                }
                for kind, operation in sorted(
                    {*self.latencies, *self.warmup, *((k, o) for k, o, _ in self.errors)}, key=lambda x: x
                )
            ],
            "examples": self.examples,
            "accepted_events": self.accepted_events,
            "answered_unknown": self.answered_unknown,
        }


async def timed(
    stats: Stats,
    kind: str,
    operation: str,
    connection: Connection,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
    expect: int = 200,
) -> Any:
    """One request; its latency and outcome into `stats`. Returns the response, or None without an answer."""
    started = time.monotonic()
    try:
        response = await connection.request(method, path, headers, body)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        stats.add(kind, operation, started, time.monotonic() - started, f"{method} {path}: no answer ({exc!r})")
        return None
    seconds = time.monotonic() - started
    error = None
    if response.status != expect:
        error = f"{method} {path}: {response.status}, not {expect}: {response.body[:300]!r}"
    stats.add(kind, operation, started, seconds, error)
    return response if error is None else None


async def admin_client(spec: dict[str, Any], stats: Stats, number: int, deadline: float) -> None:
    rng = random.Random(spec["seed"] + 100 + number)
    connection = Connection(spec["port"])
    # Log in as a person does: the form (its CSRF cookie and token), then the POST; the session cookie follows.
    page = await connection.request("GET", "/login/")
    csrf = page.cookies().get("csrftoken", "")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    if page.status != 200 or not csrf or token is None:
        raise LoadError(f"the log-in page answered {page.status} without a CSRF token: {page.body[:300]!r}")
    form = urllib.parse.urlencode(
        {"username": spec["admin"]["username"], "password": spec["admin"]["password"],
         "csrfmiddlewaretoken": token.group(1).decode(), "next": "/"}
    ).encode()  # fmt: skip
    answer = await connection.request(
        "POST",
        "/login/",
        {"Cookie": f"csrftoken={csrf}", "Content-Type": "application/x-www-form-urlencoded"},
        form,
    )
    session = answer.cookies().get("sessionid")
    if answer.status != 302 or not session:
        raise LoadError(f"the log-in answered {answer.status}: {answer.body[:300]!r}")
    cookie = {"Cookie": f"csrftoken={csrf}; sessionid={session}"}
    htmx = {**cookie, "HX-Request": "true"}
    pages = spec["admin"]["pages"]
    weights = [p[1] for p in pages]
    think = spec["admin"]["think"]
    await asyncio.sleep(rng.random() * think)
    while time.monotonic() < deadline:
        operation, _, path, is_htmx = rng.choices(pages, weights)[0]
        response = await timed(stats, "admin", operation, connection, "GET", path, htmx if is_htmx else cookie)
        if response is not None:
            full = b"<html" in response.body[:2000]
            if full == is_htmx:  # a fragment that is a whole page, or a page that is not
                what = "a whole page for an htmx request" if is_htmx else "no page"
                stats.errors[("admin", operation, True)] += 1
                stats.examples.append(f"admin {operation}: GET {path}: {what}")
        await asyncio.sleep(think * (0.5 + rng.random()))
    connection.close()


async def metering_client(spec: dict[str, Any], stats: Stats, number: int, deadline: float) -> None:
    from bench.credits_ingest import event_json

    rng = random.Random(spec["seed"] + 200 + number)
    meter = spec["metering"]
    connection = Connection(spec["port"])
    auth = {"Authorization": f"Bearer {meter['token']}"}
    post = {**auth, "Content-Type": "application/json"}
    events_path = f"/api/v1/profiles/{meter['profile']}/usage-events"
    entitlement = f"/api/v1/profiles/{meter['profile']}/entitlements/"
    users = meter["users"]
    operations, weights = list(MIX), list(MIX.values())
    n = 0
    while time.monotonic() < deadline:
        n += 1
        operation = rng.choices(operations, weights)[0]
        key = f"{meter['prefix']}-{number}-{n}"
        if operation == "single event":
            body = json.dumps(event_json(key, rng.choice(users), rng, None)).encode()
            response = await timed(stats, "metering", operation, connection, "POST", events_path, post, body, 201)
            if response is not None:
                stats.accepted_events += 1
            else:
                stats.answered_unknown += 1
        elif operation == "batch of 2-20":
            size = rng.randint(2, 20)
            events = [event_json(f"{key}-{i}", rng.choice(users), rng, None) for i in range(size)]
            body = json.dumps({"events": events}).encode()
            response = await timed(stats, "metering", operation, connection, "POST", events_path, post, body, 200)
            if response is None:
                stats.answered_unknown += size
                continue
            answer = json.loads(response.body)
            stats.accepted_events += answer["accepted"]
            if answer["accepted"] != size:
                stats.errors[("metering", operation, True)] += 1
                first = next((r for r in answer["results"] if r["status"] != "accepted"), None)
                stats.examples.append(f"metering batch: {answer['rejected']} of {size} rejected, e.g. {first}")
        else:
            path = entitlement + rng.choice(users)
            response = await timed(stats, "metering", operation, connection, "GET", path, auth)
            if response is not None and b'"entitled": true' not in response.body:
                stats.errors[("metering", operation, True)] += 1
                stats.examples.append(f"metering entitlements: GET {path}: not entitled: {response.body[:200]!r}")
    connection.close()


async def scim_client(spec: dict[str, Any], stats: Stats, deadline: float) -> dict[str, Any]:
    """A steady SCIM client: a cycle of 8 requests at `rate` a second (the next one waits for the previous)."""
    scim = spec["scim"]
    rng = random.Random(spec["seed"] + 300)
    connection = Connection(spec["port"])
    auth = {"Authorization": f"Bearer {scim['token']}"}
    body_headers = {**auth, "Content-Type": "application/scim+json"}
    patch_op = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    group, teams, existing = scim["group"], scim["teams"], scim["users"]
    members: list[str] = []  # SCIM-created users in the SCIM group, oldest first
    created: list[str] = []
    visiting: tuple[str, str] | None = None  # (team, user): a subscribed user added to a team, removed next cycle
    interval = 1 / scim["rate"]
    next_at = time.monotonic()
    n = 0

    def patch(operations: list[dict[str, Any]]) -> bytes:
        return json.dumps({"schemas": [patch_op], "Operations": operations}).encode()

    async def send(operation: str, method: str, path: str, body: bytes = b"", expect: int = 200) -> Any:
        nonlocal next_at
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at = max(next_at + interval, time.monotonic() - interval)  # no burst to catch up after a slow answer
        headers = body_headers if body else auth
        return await timed(stats, "scim", operation, connection, method, f"/scim/v2{path}", headers, body, expect)

    while time.monotonic() < deadline:
        n += 1
        login = f"{scim['prefix']}.{n:05}@scim.bench.example"
        user = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": login,
            "name": {"givenName": "Scim", "familyName": f"User{n}"},
            "displayName": f"Scim User {n}",
            "emails": [{"primary": True, "value": login, "type": "work"}],
            "externalId": f"00s{scim['prefix']}{n:08}",
            "active": True,
        }
        response = await send("POST /Users", "POST", "/Users", json.dumps(user).encode(), 201)
        new_id = json.loads(response.body)["id"] if response is not None else None
        if new_id:
            created.append(new_id)
            body = patch([{"op": "replace", "value": {"displayName": f"Scim User {n} (renamed)"}}])
            await send("PATCH /Users (rename)", "PATCH", f"/Users/{new_id}", body)
            body = patch([{"op": "add", "path": "members", "value": [{"value": new_id}]}])
            if await send("PATCH /Groups (add member)", "PATCH", f"/Groups/{group}", body, 204) is not None:
                members.append(new_id)
        someone = rng.choice(existing)
        body = patch([{"op": "replace", "path": "displayName", "value": f"Dev renamed {n}"}])
        await send("PATCH /Users (rename)", "PATCH", f"/Users/{someone}", body)
        if len(members) > 10:
            gone = members.pop(0)
            body = patch([{"op": "remove", "path": f'members[value eq "{gone}"]'}])
            if await send("PATCH /Groups (remove member)", "PATCH", f"/Groups/{group}", body, 204) is None:
                members.insert(0, gone)  # not known to be removed; the books will tell
        else:
            await send("GET /Users?filter", "GET", f"/Users?filter={urllib.parse.quote(f'userName eq "{login}"')}")
        if visiting is None:
            visiting = (rng.choice(teams), rng.choice(existing))
            body = patch([{"op": "add", "path": "members", "value": [{"value": visiting[1]}]}])
            await send("PATCH /Groups (add member)", "PATCH", f"/Groups/{visiting[0]}", body, 204)
        else:
            body = patch([{"op": "remove", "path": f'members[value eq "{visiting[1]}"]'}])
            await send("PATCH /Groups (remove member)", "PATCH", f"/Groups/{visiting[0]}", body, 204)
            visiting = None
        await send("GET /Users?filter", "GET", f"/Users?filter={urllib.parse.quote(f'userName eq "{login}"')}")
    connection.close()
    return {"members": members, "created": created, "visiting": visiting}


def generate(spec_path: str) -> None:
    """The load generator's process: prints MEASURING when the warm-up ends, DONE when the load stops (the
    requests in flight are then answered), then its results as one JSON line."""
    spec = json.loads(Path(spec_path).read_text())
    started = time.monotonic()
    measure_from = started + spec["warmup"]
    deadline = measure_from + spec["seconds"]
    stats = Stats(measure_from, deadline)

    async def mark(at: float, text: str) -> float:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        print(text, flush=True)
        return time.process_time()

    async def main() -> dict[str, Any]:
        tasks = [
            *(admin_client(spec, stats, n, deadline) for n in range(spec["admin"]["clients"])),
            *(metering_client(spec, stats, n, deadline) for n in range(spec["metering"]["clients"])),
        ]
        scim = asyncio.ensure_future(scim_client(spec, stats, deadline))
        cpu_from, cpu_to, *_ = await asyncio.gather(
            mark(measure_from, "MEASURING"), mark(deadline, "DONE"), *tasks, scim
        )
        return {"scim": scim.result(), "cpu_seconds": cpu_to - cpu_from}

    try:
        outcome = asyncio.run(main())
    except LoadError as exc:
        sys.exit(f"load_mixed's load generator: {exc}")
    result = stats.result() | outcome | {"seconds": spec["seconds"], "drained": time.monotonic() - deadline}
    print("RESULT " + json.dumps(result), flush=True)


# --- Driving it ----------------------------------------------------------------------------------------------


@dataclass
class Memory:
    boot: dict[int, int] = field(default_factory=dict)  # pid -> bytes, before any load
    start: dict[int, int] = field(default_factory=dict)  # after the warm-up
    end: dict[int, int] = field(default_factory=dict)
    peak: dict[int, int] = field(default_factory=dict)
    series: list[tuple[float, int]] = field(default_factory=list)  # (seconds into the window, mean RSS)

    def sample(self, pids: list[int], into: dict[int, int] | None = None, at: float | None = None) -> None:
        sizes = []
        for pid in pids:
            size = rss_bytes(pid)
            if size is None:
                continue
            sizes.append(size)
            if into is not None:
                into[pid] = size
            self.peak[pid] = max(self.peak.get(pid, 0), size)
        if at is not None and sizes:
            self.series.append((at, sum(sizes) // len(sizes)))

    def by_slice(self, width: float, buckets: int) -> list[float]:
        """The workers' mean RSS (MiB) in each slice of the window, from the samples every 5 s: still growing?"""
        values = []
        for n in range(buckets):
            inside = [size for at, size in self.series if n * width <= at < (n + 1) * width]
            values.append(sum(inside) / len(inside) / 2**20 if inside else float("nan"))
        return values


def run_load(spec: dict[str, Any], folder: Path, server: Gunicorn) -> tuple[dict[str, Any], Memory, dict, list]:
    """Run the generator; sample the workers' memory (at boot, after the warm-up, every 5 s, at the end) and the
    CPU over the measured window. Returns the generator's result, the memory, the CPU shares, the worker pids."""
    from django.db import connection

    path = folder / "spec.json"
    path.write_text(json.dumps(spec))
    memory = Memory()
    workers = server.worker_pids()
    memory.sample(workers, memory.boot)
    process = subprocess.Popen(  # noqa: S603 (this module)
        [sys.executable, "-c", f"from bench.load_mixed import generate; generate({str(path)!r})"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    groups: dict[str, list[int]] = {}
    before = after = None
    result = None
    while True:
        try:
            line = lines.get(timeout=5)
        except queue.Empty:
            line = ""
        if line is None:
            break
        if before is not None and after is None:
            memory.sample(server.worker_pids(), at=time.monotonic() - before.at)
        if line.startswith("MEASURING"):
            workers = server.worker_pids()
            groups = {"gunicorn": [server.process.pid, *workers], "load generator": [process.pid]}
            before = CpuSnapshot()
            memory.sample(workers, memory.start, at=0.0)
            print(f"  measuring for {spec['seconds']:g} s …", flush=True)
        elif line.startswith("DONE"):
            after = CpuSnapshot()
            memory.sample(server.worker_pids(), memory.end)
            print("  load stopped; waiting for the requests in flight …", flush=True)
        elif line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
    process.wait()
    if process.returncode != 0 or result is None:
        assert process.stderr is not None
        raise BenchError(
            f"the load generator failed ({process.returncode}): {process.stderr.read()[-3000:]}\n"
            f"gunicorn's log: {server.log_tail(4000)}"
        )
    shares = cpu_split(before, after, groups, connection.vendor == "postgresql") if before and after else {}
    return result, memory, shares, workers


def stored_accepted(profile: Any, prefix: str) -> tuple[int, int]:
    from credits.models import Outcome, UsageEvent

    events = UsageEvent.objects.filter(profile=profile, idempotency_key__startswith=f"{prefix}-")
    return events.exclude(outcome=Outcome.REJECTED).count(), events.filter(outcome=Outcome.REJECTED).count()


def check_books(data: Data, prefix: str, result: dict[str, Any]) -> list[tuple[str, bool]]:
    """(what, agrees) for every check of the books after the load."""
    from credits.selectors import balance_mismatches
    from credits.services.rollups import rollups_differences
    from directory.models import GroupMembership
    from subscriptions.models import Subscription, SubscriptionStatus

    profile = data.base.profile
    checks: list[tuple[str, bool]] = []
    accepted, other = stored_accepted(profile, prefix)
    told, unknown = result["accepted_events"], result["answered_unknown"]
    agrees = told <= accepted <= told + unknown and other == 0
    checks.append(
        (
            f"accepted events stored {accepted:,}, answered as accepted {told:,}"
            + (f" (+ {unknown:,} without a clear answer)" if unknown else "")
            + f", stored as rejected {other:,}",
            agrees,
        )
    )
    started = time.perf_counter()
    mismatches = balance_mismatches(profile)
    checks.append(
        (
            f"balances equal the sums of their accepted events (check_balances, {time.perf_counter() - started:.1f} s)"
            + (f": {len(mismatches)} differ, e.g. {mismatches[:3]}" if mismatches else ""),
            not mismatches,
        )
    )
    started = time.perf_counter()
    differences = rollups_differences([profile.pk])
    checks.append(
        (
            f"rollups equal what the events imply (rollups_differences, {time.perf_counter() - started:.1f} s)"
            + (f": {differences[:3]}" if differences else ""),
            not differences,
        )
    )
    members = {str(u) for u in GroupMembership.objects.filter(group=data.scim_group).values_list("user_id", flat=True)}
    expected = set(result["scim"]["members"])
    checks.append(
        (
            f"the SCIM group holds the {len(expected)} members the client left in it"
            + (f" (it holds {len(members)}: {sorted(members ^ expected)[:3]} differ)" if members != expected else ""),
            members == expected,
        )
    )
    live = {
        str(u)
        for u in Subscription.objects.filter(profile=profile, user_id__in=list(members))
        .exclude(status=SubscriptionStatus.CANCELED)
        .values_list("user_id", flat=True)
    }
    subscribed = f"each member of the assigned SCIM group is subscribed ({len(live)} of {len(members)})"
    checks.append((subscribed, live == members))
    return checks


# --- The report ---------------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:,.1f}"  # nan: no request


@dataclass
class Line:
    kind: str
    operation: str
    requests: int
    rate: float
    p50: float
    p99: float
    errors: int


def summarize(result: dict[str, Any]) -> list[Line]:
    """A line per kind (all its operations) followed by one per operation."""
    seconds = result["seconds"]

    def line(kind: str, name: str, latencies: list[float], errors: int) -> Line:
        if not latencies:
            return Line(kind, name, 0, 0.0, float("nan"), float("nan"), errors)
        p50, p99 = statistics.median(latencies), percentile(latencies, 99)
        return Line(kind, name, len(latencies), len(latencies) / seconds, p50, p99, errors)

    lines = []
    for kind in KINDS:
        ops = [o for o in result["operations"] if o["kind"] == kind]
        everything = [x for o in ops for x in o["latencies"]]
        lines.append(line(kind, "all", everything, sum(o["errors"] for o in ops)))
        lines += [line(kind, o["operation"], o["latencies"], o["errors"]) for o in ops]
    return lines


def per_interval(result: dict[str, Any], buckets: int) -> tuple[float, dict[str, list[float]]]:
    """Requests per second of each kind in `buckets` equal slices of the window: is the rate steady?"""
    width = result["seconds"] / buckets
    rates: dict[str, list[float]] = {}
    for kind in KINDS:
        counts = [0] * buckets
        for o in result["operations"]:
            if o["kind"] == kind:
                for start in o["starts"]:
                    counts[min(buckets - 1, int(start / width))] += 1
        rates[kind] = [c / width for c in counts]
    return width, rates


def print_rows(headers: list[str], rows: list[list[str]]) -> None:
    credits_ingest.print_table(rows, headers)


@register(
    "load_mixed",
    "5 minutes of mixed load on gunicorn + PostgreSQL: administrators' pages, metering at full rate, SCIM changes",
    databases=("postgresql:bench_load",),
    minutes=7,
    quick=("--users", "500"),
)
def run(ctx: Context) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        raise BenchError(
            "load_mixed is PostgreSQL-only (SQLite has one writer at a time): "
            "--database-url postgres://postgres@127.0.0.1:5432/bench_load"
        )
    from kiroconsole.models import AuditEvent

    count = ctx.users or USERS
    seconds = ctx.duration or DURATION
    config = Config.parse(os.environ.get("BENCH_GUNICORN", GUNICORN))
    admins, think = int(env_number("BENCH_ADMINS", ADMINS)), env_number("BENCH_ADMIN_THINK", ADMIN_THINK)
    metering, scim_rate = int(env_number("BENCH_METERING", METERING)), env_number("BENCH_SCIM_RATE", SCIM_RATE)
    run_id = f"{int(time.time()):x}"
    prefix = f"lm-{run_id}"
    folder = Path(tempfile.mkdtemp(prefix="bench-load-"))
    remove_bench_data()
    audit_top = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    failed = True
    try:
        with ctx.phase(f"build: {count:,} users subscribed at Power, {TEAMS} teams, the SCIM group, tokens"):
            data = build(count)
            analyze()
        rng = random.Random(SEED)
        spec = {
            "seed": SEED,
            "warmup": WARMUP,
            "seconds": seconds,
            "admin": {
                "clients": admins,
                "think": think,
                "username": ADMIN_USER,
                "password": data.admin_password,
                "pages": admin_pages(data, rng),
            },
            "metering": {
                "clients": metering,
                "token": data.base.token,
                "profile": data.base.profile.profile_id,
                "users": data.base.users,
                "prefix": prefix,
            },
            "scim": {
                "token": data.scim_token,
                "rate": scim_rate,
                "group": str(data.scim_group.pk),
                "teams": [str(t.pk) for t in data.teams[:ASSIGNED_TEAMS]],
                "users": rng.sample(data.base.users, min(500, len(data.base.users))),
                "prefix": run_id,
            },
        }
        with ctx.phase("collectstatic into var/bench-static (the pages need its manifest with DEBUG off)"):
            settings = collect_static()
        with ctx.phase(f"gunicorn {config}: {WARMUP:g} s warm-up, {seconds:g} s measured"):
            server = Gunicorn(config, folder, settings)
            try:
                port = server.port
                spec["port"] = port
                result, memory, shares, workers = run_load(spec, folder, server)
                stopped_workers = server.worker_pids()
            finally:
                server.stop()
            log = server.log_tail(20_000)
        with ctx.phase("checking the books"):
            checks = check_books(data, prefix, result)
        failed = report(
            ctx, config, result, memory, shares, workers, stopped_workers, checks, log, admins, think, metering,
            scim_rate, count, data,
        )  # fmt: skip
    finally:
        with ctx.phase("removing the bench's organization, events, balances and audit events"):
            remove_bench_data(audit_top)
        shutil.rmtree(folder, ignore_errors=True)
    if failed:
        raise BenchError("errors during the load or books that disagree (see above)")


def report(
    ctx: Context,
    config: Config,
    result: dict[str, Any],
    memory: Memory,
    shares: dict[str, float],
    workers: list[int],
    stopped_workers: list[int],
    checks: list[tuple[str, bool]],
    log: str,
    admins: int,
    think: float,
    metering: int,
    scim_rate: float,
    count: int,
    data: Data,
) -> bool:
    """Print the tables, record them for the results file; True when the run failed (errors, books)."""
    seconds = result["seconds"]
    ctx.note(
        "data",
        f"{count:,} users subscribed at Power ({len(data.base.pending):,} Pending), {TEAMS} teams of "
        f"{count // TEAMS:,} ({ASSIGNED_TEAMS} assigned at Pro), the SCIM group (assigned at Pro); built in "
        f"{data.seconds:.1f} s",
    )
    ctx.note(
        "gunicorn",
        f"{config}, production settings (DEBUG off, static files collected into var/bench-static), CONN_MAX_AGE 60",
    )
    ctx.note(
        "load",
        f"{WARMUP:g} s warm-up then {seconds:g} s measured; {admins} administrators ({think:g} s think time, "
        f"+/- 50%), {metering} metering connections (no think time; mix "
        + ", ".join(f"{k} {v}%" for k, v in MIX.items())
        + f"), SCIM {scim_rate:g} requests/s; one asyncio generator process, raw sockets",
    )
    if shares:
        window = shares["seconds"]
        total = sum(line.requests for line in summarize(result) if line.operation == "all")
        parts = [
            f"{label} {shares[label] / window * 100:.0f}%"
            for label in ("gunicorn", "postgres", "load generator", "other")
            if label in shares
        ]
        ctx.note(
            "CPU (of one core)",
            ", ".join(parts) + " (postgres: the whole server, other databases' work included)"
            f"; machine busy {shares['machine'] / window * 100:.0f}% of one core "
            f"({os.cpu_count()} cores); the generator {shares['load generator'] / max(1, total) * 1000:.2f} ms "
            f"a request ({result['cpu_seconds']:.1f} s CPU as it measured itself)",
        )
    ctx.note("runs", f"one load: {WARMUP:g} s warm-up, {seconds:g} s measured, drained in {result['drained']:.1f} s")
    ctx.print_environment()

    lines = summarize(result)
    print(f"\nload_mixed ({ctx.database}): {seconds:g} s of mixed load against gunicorn {config}")
    headers = ["kind", "operation", "requests", "req/s", "p50 ms", "p99 ms", "errors"]
    rows = []
    ctx.table(f"load_mixed: {seconds:g} s, gunicorn {config}, PostgreSQL")
    for line in lines:
        first = line.operation == "all"
        rows.append(
            [
                KINDS[line.kind] if first else "",
                line.operation if first else f"  {line.operation}",
                f"{line.requests:,}",
                f"{line.rate:,.1f}",
                ms(line.p50),
                ms(line.p99),
                f"{line.errors:,}",
            ]
        )
        ctx.record(
            f"{KINDS[line.kind]}: {line.operation}",
            f"{line.rate:,.1f} req/s ({line.requests:,}), p50 {ms(line.p50)} ms, p99 {ms(line.p99)} ms, "
            f"{line.errors} errors",
            target="no errors" if first else "",
            met=(line.errors == 0) if first else None,
        )
    print_rows(headers, rows)
    accepted = result["accepted_events"]
    scim_line = next(line for line in lines if line.kind == "scim" and line.operation == "all")
    print(
        "requests: answered in the measured window (started in it); req/s: requests / window; p50/p99 as the "
        f"generator saw them (gunicorn's queue included); errors: another status than expected, or no answer. "
        f"Accepted usage events, warm-up included: {accepted:,} ({accepted / (seconds + WARMUP):,.0f}/s). SCIM: "
        f"{scim_rate:g} requests/s asked, {scim_line.rate:,.1f} answered (each waits for the answer before)."
    )

    buckets = max(1, min(5, int(seconds // 60) or 1))
    if buckets > 1:
        width, rates = per_interval(result, buckets)
        print(f"\nrequests per second by {width:g} s slice (steady?)")
        for kind, values in rates.items():
            print(f"  {KINDS[kind]:<20} " + "  ".join(f"{v:8,.1f}" for v in values))
        sizes = memory.by_slice(width, buckets)
        print(f"  {'workers, mean RSS MiB':<20} " + "  ".join(f"{v:8,.1f}" for v in sizes))
        ctx.note(
            f"req/s by {width:g} s",
            "; ".join(f"{KINDS[k]} " + ", ".join(f"{v:,.1f}" for v in values) for k, values in rates.items()),
        )
        ctx.note(f"workers' RSS by {width:g} s", ", ".join(f"{v:,.1f}" for v in sizes) + " MiB (mean of the workers)")

    print("\ngunicorn workers: resident memory (MiB, /proc VmRSS)")
    mib = 2**20
    restarted = sorted(set(stopped_workers) ^ set(workers))
    rss_rows, flat = [], True
    for pid in workers:
        start, end = memory.start.get(pid), memory.end.get(pid)
        grew = (end - start) / start if start and end else None
        ok = grew is not None and grew <= RSS_GROWTH
        flat &= ok
        rss_rows.append(
            [
                str(pid),
                f"{memory.boot.get(pid, 0) / mib:,.1f}",
                f"{start / mib:,.1f}" if start else "-",
                f"{end / mib:,.1f}" if end else "gone",
                f"{memory.peak.get(pid, 0) / mib:,.1f}",
                f"{grew * 100:+.1f}%" if grew is not None else "-",
            ]
        )
    print_rows(["worker pid", "at boot", "after warm-up", "at the end", "peak", "change"], rss_rows)
    if restarted:
        flat = False
        print(f"workers replaced during the load (a crash or a timeout): {restarted}")
    ctx.table("gunicorn workers' memory")
    for row in rss_rows:
        ctx.record(
            f"worker {row[0]}",
            f"RSS {row[2]} MiB after the warm-up, {row[3]} MiB at the end (peak {row[4]}, {row[1]} at boot)",
            ratio=row[5],
            target=f"flat (<= +{RSS_GROWTH:.0%})",
            met=row[5] != "-" and float(row[5].rstrip("%")) <= RSS_GROWTH * 100,
        )

    examples = result["examples"]
    errors = sum(line.errors for line in lines if line.operation == "all")
    warmup_errors = sum(o["warmup_errors"] for o in result["operations"])
    if examples:
        print(f"\nerrors ({errors} measured, {warmup_errors} during the warm-up), the first ones:")
        for example in examples[:15]:
            print(f"  {example}")
        tracebacks = [block for block in log.split("\n20") if "Traceback" in block or "ERROR" in block]
        if tracebacks:
            print("\ngunicorn's log (the last errors):")
            print(log[-6000:])
    print("\nthe books after the load")
    for text, agrees in checks:
        print(f"  {'agree' if agrees else 'DISAGREE'}: {text}")
        ctx.target(text, agrees)

    print()
    ctx.target(f"no errors ({errors} measured, {warmup_errors} in the warm-up)", errors + warmup_errors == 0, show=True)
    ctx.target(f"workers' memory flat (each <= +{RSS_GROWTH:.0%} after the warm-up)", flat, show=True)
    print(f"target: the books agree: {'met' if all(agrees for _, agrees in checks) else 'MISSED'}")
    return bool(errors or warmup_errors or not all(agrees for _, agrees in checks))

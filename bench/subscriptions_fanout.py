"""subscriptions_fanout: assigning a group of 20,000 members to a tier (issue 6), against the same subscription
rows written by one raw `INSERT ... SELECT` in the same run; then 50,000 memberships imported into assigned
groups, with the subscriptions following inside the import, against the same import into unassigned groups.

The data lives in an Identity Center and profile of the bench's own (d-bec0000002, account 999999999998), built
raw at the start and removed at the end, so other benchmarks sharing the bench database never see it.

Each timed round runs on the same starting state: the operation, then (untimed) the rows it wrote are removed.
Printed: p50 and p95 seconds, the statements each operation ran, and the ratio of the p50s (target <= 3.0).
"""

from __future__ import annotations

import csv
import gc
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._organizations import execute, quoted_table, remove_organization
from bench.harness import ROOT, BenchError, Context, analyze, register

MEMBERS = 20_000  # the big group
IMPORT_USERS = 10_000  # the import: 10,000 other users into 5 assigned groups = 50,000 memberships
IMPORT_GROUPS = 5
RATIO_TARGET = 3.0
STORE_ID = "d-bec0000002"
ACCOUNT_ID = "999999999998"
PROFILE_NAME = "bench fan-out"


def remove_bench_data() -> None:
    remove_organization(STORE_ID, ACCOUNT_ID, ("manage.py bench_fanout", "manage.py import_memberships"))


def adapter_value(value: Any) -> Any:
    from directory.models import DirectoryUser
    from kiroconsole.bulk import adapter

    return adapter(DirectoryUser, "identity_center")(value)


def build() -> dict[str, Any]:
    """The bench's organization: one profile, MEMBERS users in one big group, IMPORT_USERS more users and
    IMPORT_GROUPS groups for the import, all written raw."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import AwsAccount, IdentityCenterInstance, Region
    from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
    from kiroconsole.audit import Actor
    from kiroconsole.bulk import adapter, insert_rows
    from subscriptions.services import profile_create

    actor = Actor.for_command("bench_fanout")
    now = timezone.now()
    with transaction.atomic():
        account = AwsAccount.objects.create(account_id=ACCOUNT_ID, name="bench fan-out", kind="member")
        instance = IdentityCenterInstance.objects.create(
            identity_store_id=STORE_ID, name="bench fan-out", region=Region.objects.get(code="us-east-1"),
            account=account, kind="account",
        )  # fmt: skip
        profile = profile_create(
            account=account, region=Region.objects.get(code="us-east-1"), identity_center=instance,
            name=PROFILE_NAME, actor=actor,
        )  # fmt: skip
        db_id, db_now = adapter(DirectoryUser, "id"), adapter(DirectoryUser, "created_at")(now)
        db_ic = adapter(DirectoryUser, "identity_center")(instance.pk)
        users = [uuid.uuid4() for _ in range(MEMBERS + IMPORT_USERS)]
        rows = [
            (
                db_id(pk),
                db_ic,
                f"fan{n:06}",
                f"Fan {n}",
                "Fan",
                f"N{n}",
                f"fan{n:06}@x.example",
                "",
                True,
                db_now,
                db_now,
            )
            for n, pk in enumerate(users)
        ]
        fields = ["id", "identity_center", "user_name", "display_name", "given_name", "family_name", "email"]
        insert_rows(DirectoryUser, [*fields, "external_id", "active", "created_at", "updated_at"], rows)
        groups = [uuid.uuid4() for _ in range(1 + IMPORT_GROUPS)]
        names = ["Everyone (bench)", *[f"Import team {n} (bench)" for n in range(IMPORT_GROUPS)]]
        insert_rows(
            DirectoryGroup,
            ["id", "identity_center", "display_name", "description", "external_id", "created_at", "updated_at"],
            [(db_id(pk), db_ic, name, "", "", db_now, db_now) for pk, name in zip(groups, names, strict=True)],
        )
        insert_rows(
            GroupMembership,
            ["group", "user", "created_at"],
            [(db_id(groups[0]), db_id(pk), db_now) for pk in users[:MEMBERS]],
        )
    return {
        "profile": profile,
        "big": DirectoryGroup.objects.get(pk=groups[0]),
        "import_groups": [DirectoryGroup.objects.get(pk=pk) for pk in groups[1:]],
        "import_users": [f"fan{n:06}" for n in range(MEMBERS, MEMBERS + IMPORT_USERS)],
        "actor": actor,
    }


def timed(fn: Callable[[], Any], reset: Callable[[], Any], runs: int) -> tuple[list[float], int]:
    """`runs` timings of `fn`, each followed by an untimed `reset`; and the statements of one call."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings = []
    statements = 0
    for n in range(runs + 1):
        gc.collect()
        started = time.perf_counter()
        if n == 0:
            with CaptureQueriesContext(connection) as ctx:
                fn()
            statements = len(ctx.captured_queries)
        else:
            fn()
            timings.append(time.perf_counter() - started)
        reset()
    return timings, statements


def raw_insert_select(profile: Any, group: Any) -> int:
    """The baseline: the same subscription rows, from one INSERT ... SELECT over the group's memberships."""
    from django.db import connection, transaction
    from django.utils import timezone

    from directory.models import DirectoryUser, GroupMembership
    from kiroconsole.bulk import adapter
    from subscriptions.models import Subscription

    new_id = "lower(hex(randomblob(16)))" if connection.vendor == "sqlite" else "gen_random_uuid()"
    now = adapter(Subscription, "updated_at")(timezone.now())
    sql = (
        f"INSERT INTO {quoted_table(Subscription)} (id, profile_id, user_id, user_name, status, tier_id, "  # noqa: S608
        f"direct_opt_out, subscribed_at, updated_at) SELECT {new_id}, %s, m.user_id, u.user_name, 'PENDING', 'PRO', "
        f"%s, %s, %s FROM {quoted_table(GroupMembership)} m "
        f"JOIN {quoted_table(DirectoryUser)} u ON u.id = m.user_id WHERE m.group_id = %s"
    )
    with transaction.atomic():
        count = execute(sql, [profile.pk, False, now, now, adapter(GroupMembership, "group")(group.pk)])
    if count != MEMBERS:
        raise BenchError(f"the raw INSERT ... SELECT wrote {count} rows, not {MEMBERS}")
    return count


def clear_subscriptions(profile: Any) -> None:
    from django.db import transaction

    from kiroconsole.models import AuditEvent
    from subscriptions.models import GroupAssignment, Subscription, SubscriptionPeriod

    with transaction.atomic():
        subs = f"SELECT id FROM {quoted_table(Subscription)} WHERE profile_id = %s"  # noqa: S608
        execute(f"DELETE FROM {quoted_table(SubscriptionPeriod)} WHERE subscription_id IN ({subs})", [profile.pk])  # noqa: S608
        execute(f"DELETE FROM {quoted_table(Subscription)} WHERE profile_id = %s", [profile.pk])  # noqa: S608
        GroupAssignment.objects.filter(profile=profile).delete()
        execute(f"DELETE FROM {quoted_table(AuditEvent)} WHERE actor_label = %s", ["manage.py bench_fanout"])  # noqa: S608


def run_import(path: Path, store: str) -> float:
    started = time.perf_counter()
    result = subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, "manage.py", "import_memberships", str(path), "--identity-store", store],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0 or not result.stdout.strip().endswith("unchanged 0"):
        raise BenchError(f"import_memberships failed: {result.stdout} {result.stderr}")
    return seconds


@register(
    "subscriptions_fanout",
    "a group of 20,000 members assigned vs one raw INSERT ... SELECT; 50,000 imported memberships into assigned groups",
    minutes=3,
)
def run(ctx: Context) -> None:
    from django.db import connection, transaction

    from directory.models import GroupMembership
    from subscriptions.models import Subscription
    from subscriptions.services import group_assign

    remove_bench_data()
    try:
        with ctx.phase(f"build: {MEMBERS + IMPORT_USERS:,} users, a group of {MEMBERS:,}"):
            data = build()
        analyze()
        profile, big, actor = data["profile"], data["big"], data["actor"]
        ctx.note("rows", f"{MEMBERS:,} members in one group; {IMPORT_USERS * IMPORT_GROUPS:,} memberships imported")

        def assign() -> None:
            _, changes = group_assign(profile=profile, group=big, tier="PRO", actor=actor)
            if len(changes.subscribed) != MEMBERS:
                raise BenchError(f"group_assign subscribed {len(changes.subscribed)}, not {MEMBERS}")

        def reset() -> None:
            clear_subscriptions(profile)

        runs = max(3, ctx.runs // 2)
        print(f"  timing group_assign and the raw INSERT ... SELECT, {runs} runs each …", flush=True)
        base, base_statements = timed(lambda: raw_insert_select(profile, big), reset, runs)
        ours, our_statements = timed(assign, reset, runs)
        ratio = statistics.median(ours) / statistics.median(base)

        # The import: 50,000 memberships into 5 groups, assigned (subscriptions follow) or not.
        lines = [["group", "user_name"]]
        for n, user_name in enumerate(data["import_users"]):
            for g in range(IMPORT_GROUPS):
                if (n + g) % 1 == 0:
                    lines.append([data["import_groups"][g].display_name, user_name])
        folder = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
        path = folder / "memberships.csv"
        with open(path, "w", newline="") as handle:
            csv.writer(handle).writerows(lines)
        group_ids = [adapter_value(g.pk) for g in data["import_groups"]]

        def drop_imported() -> None:
            marks = ", ".join(["%s"] * len(group_ids))
            with transaction.atomic():
                execute(f"DELETE FROM {quoted_table(GroupMembership)} WHERE group_id IN ({marks})", group_ids)  # noqa: S608
            clear_subscriptions(profile)

        import_runs = max(2, ctx.runs // 4)
        plain, assigned = [], []
        for _ in range(import_runs):
            plain.append(run_import(path, STORE_ID))
            drop_imported()
            for tier, group in zip(["PRO", "PRO_PLUS", "PRO_MAX", "POWER", "PRO"], data["import_groups"], strict=True):
                group_assign(profile=profile, group=group, tier=tier, actor=actor)
            assigned.append(run_import(path, STORE_ID))
            subscribed = Subscription.objects.filter(profile=profile).count()
            if subscribed != IMPORT_USERS:
                raise BenchError(f"after the import {subscribed} subscriptions, not {IMPORT_USERS}")
            drop_imported()

        ctx.print_environment()
        print(f"\nsubscriptions_fanout ({connection.vendor})")
        ctx.table(f"subscriptions_fanout ({connection.vendor})")
        print(f"{'operation':<62} {'runs':>4} {'p50 s':>8} {'p95 s':>8} {'statements':>10} {'x base':>7}")
        for label, timings, statements, base_p50 in (
            (f"raw INSERT ... SELECT of {MEMBERS:,} subscriptions (baseline)", base, base_statements, None),
            (f"group_assign: a group of {MEMBERS:,} members", ours, our_statements, statistics.median(base)),
        ):
            p50 = statistics.median(timings)
            p95 = sorted(timings)[max(0, round(0.95 * (len(timings) - 1)))]
            x = f"{p50 / base_p50:.2f}" if base_p50 else "1.00"
            print(f"{label:<62} {len(timings):>4} {p50:>8.3f} {p95:>8.3f} {statements:>10} {x:>7}")
            ctx.record(
                label,
                f"p50 {p50:.3f} s, p95 {p95:.3f} s, {statements} statements",
                ratio=f"{p50 / base_p50:.2f}x base" if base_p50 else "baseline",
            )
        p_plain, p_assigned = statistics.median(plain), statistics.median(assigned)
        blank = f"{'':>8} {'':>10}"
        label = "import_memberships, 50,000 rows, groups not assigned"
        print(f"{label:<62} {len(plain):>4} {p_plain:>8.3f} {blank} {'1.00':>7}")
        ctx.record(label, f"p50 {p_plain:.3f} s", ratio="baseline of the next row")
        label = "import_memberships, 50,000 rows, into assigned groups"
        print(f"{label:<62} {len(assigned):>4} {p_assigned:>8.3f} {blank} {p_assigned / p_plain:>7.2f}")
        ctx.record(label, f"p50 {p_assigned:.3f} s", ratio=f"{p_assigned / p_plain:.2f}x the row above")
        ctx.target(f"<= {RATIO_TARGET}x the raw INSERT ... SELECT", ratio <= RATIO_TARGET, operation="group_assign")
        print(
            "group_assign: the service (validation, lock, recompute, subscription and history rows, audit), each run "
            "on the same empty profile. statements: of one untimed call. The imports are whole `manage.py` processes "
            "(start-up included); the second also subscribes the 10,000 users inside the import's transaction."
        )
        verdict = "met" if ratio <= RATIO_TARGET else "MISSED"
        print(f"\ntarget: group_assign {ratio:.2f}x the raw INSERT ... SELECT (target <= {RATIO_TARGET}): {verdict}")
    finally:
        remove_bench_data()

"""`kill -9` in the middle of a write (issue 9, item 1), on the suite's database (SQLite file or PostgreSQL).

Each test first runs the work to completion in one scope (a directory or a profile: the *clean* run, in the test's
process) and keeps what it changed in the database (`fingerprint` delta: row counts, sums, counts per state of every
table of the console). It then runs the same work in a twin scope (the *victim*) in a process of its own
(`tests.processes.manage` on the test database) and SIGKILLs it at a random moment while its write transaction is
open (seen in pg_stat_activity on PostgreSQL, by the database's write lock on SQLite). Right after the kill the
database has changed by nothing or by exactly the clean delta (one transaction), never by something between, and
the books agree (balances = events, rollups = events). Running the work again (in the test's process) then
finishes it: the database has changed by exactly the clean delta. The random choices are in the failure messages.
"""

from __future__ import annotations

import datetime
import io
import random
import re
import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from credits.models import UsageEvent
from directory.models import DirectoryUser
from subscriptions.services import subscription_subscribe
from tests.faults import scripts
from tests.faults.conftest import BIG
from tests.faults.support import (
    Stderr,
    books,
    delta,
    fingerprint,
    kill_while_writing,
    shell,
)
from tests.processes import manage

pytestmark = pytest.mark.django_db(transaction=True)

USERS = 6_000  # rows of the users import: three batches of 2,000
EVENTS = 3_000  # rows of the usage import: three chunks of 1,000
PERCENT = re.compile(r"^importing: (\d+)% ")


def progress_past(percent: int):
    """`ready` for kill_while_writing: the import's progress log (-v 2) has reached `percent` of the file (the
    batches before are written, in its transaction)."""

    def ready(stderr: Stderr) -> bool:
        return stderr.seen(lambda line: (m := PERCENT.match(line)) is not None and int(m.group(1)) >= percent)

    return ready


def run(*args: str) -> tuple[float, str]:
    """A clean run or a rerun: the command run to completion in this process (the same code as the killed
    process's, without its start-up to wait for). Its duration in seconds and its last line of output."""
    start = time.monotonic()
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return time.monotonic() - start, out.getvalue().strip().splitlines()[-1]


def assert_before_or_after(before, clean_delta, why: str) -> bool:
    """The database changed by nothing or by exactly the clean run's delta, the books agree, and a SQLite file
    (its write-ahead log holding the dead transaction's pages) is sound. True when it is the clean run's (the
    kill came as the transaction committed: a slow machine can make it that late)."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            assert cursor.execute("PRAGMA integrity_check").fetchone()[0] == "ok", why
    changed = delta(before, fingerprint())
    assert changed in ({}, clean_delta), f"{why}: half-written: {changed} (a clean run changes {clean_delta})"
    assert books() == {"balances": [], "rollups": []}, why
    return changed == clean_delta


def assert_rerun_equals_clean(before, clean_delta, committed: bool, why: str) -> None:
    """After the rerun the database has changed by exactly the clean run's delta; when the killed run had committed,
    the rerun (which then changes nothing) may add the audit event of its own run."""
    changed = delta(before, fingerprint())
    if committed:
        changed, clean_delta = (
            {k: v for k, v in d.items() if not k.startswith("kiroconsole.AuditEvent.")} for d in (changed, clean_delta)
        )
    assert changed == clean_delta, why


def users_file(path, count: int) -> str:
    lines = ["user_name,display_name,given_name,family_name,email"]
    lines += [f"user{n:06},User {n},User,N{n},user{n}@example.com" for n in range(count)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_a_killed_users_import_leaves_the_directory_as_before_and_a_rerun_equals_a_clean_run(org, tmp_path):
    path = users_file(tmp_path / "users.csv", USERS)
    start = fingerprint()
    run("import_users", path, "--identity-store", org.second_directory.identity_store_id)
    clean = delta(start, fingerprint())
    assert clean["directory.DirectoryUser.rows"] == USERS

    before = fingerprint()
    percent = random.randint(35, 70)  # after the first batch or chunk
    process = manage("import_users", path, "--identity-store", org.directory.identity_store_id, "-v", "2")
    _, pause = kill_while_writing(process, ready=progress_past(percent), delay=(0.0, 0.2))
    why = f"killed at {percent}% of the file + {pause:.2f}s"
    committed = assert_before_or_after(before, clean, why)

    _, last = run("import_users", path, "--identity-store", org.directory.identity_store_id)
    done = f"created 0, updated 0, unchanged {USERS}"
    assert last == (done if committed else f"created {USERS}, updated 0, unchanged 0"), why
    assert_rerun_equals_clean(before, clean, committed, why)
    assert DirectoryUser.objects.filter(identity_center=org.directory).count() == USERS


@pytest.fixture
def subscribed(org):
    """200 users of the first directory, subscribed at Power (10,000 credits a month) in both profiles."""
    now = timezone.now()
    users = DirectoryUser.objects.bulk_create(
        [
            DirectoryUser(
                identity_center=org.directory,
                user_name=f"dev{n:03d}",
                display_name=f"Dev {n}",
                given_name="Dev",
                family_name=f"N{n}",
                email=f"dev{n:03d}@example.com",
                created_at=now,
                updated_at=now,
            )
            for n in range(200)
        ]
    )
    from kiroconsole.audit import Actor

    for profile in (org.clean, org.victim):
        subscription_subscribe(profile=profile, users=users, tier="POWER", actor=Actor.for_command("test"))
    return [user.user_name for user in users]


def usage_file(path, user_names: list[str], count: int) -> str:
    # A second after the subscriptions (the future is accepted up to 5 minutes ahead).
    at = (timezone.now() + datetime.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = ["idempotency_key,user_name,credits,occurred_at,client_type,model"]
    lines += [
        f"imp-{n:06},{user_names[n % len(user_names)]},{1 + n % 4}.25,{at},{('KIRO_IDE', 'KIRO_CLI')[n % 2]},auto"
        for n in range(count)
    ]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_a_killed_usage_import_records_nothing_and_a_rerun_equals_a_clean_run(org, subscribed, tmp_path):
    path = usage_file(tmp_path / "usage.csv", subscribed, EVENTS)
    start = fingerprint()
    run("import_usage", path, "--profile", org.clean.profile_id)
    clean = delta(start, fingerprint())
    assert clean["credits.UsageEvent.rows"] == EVENTS

    before = fingerprint()
    percent = random.randint(35, 70)  # after the first batch or chunk
    process = manage("import_usage", path, "--profile", org.victim.profile_id, "-v", "2")
    _, pause = kill_while_writing(process, ready=progress_past(percent), delay=(0.0, 0.2))
    why = f"killed at {percent}% of the file + {pause:.2f}s"
    committed = assert_before_or_after(before, clean, why)

    _, last = run("import_usage", path, "--profile", org.victim.profile_id)
    assert last.startswith("accepted 0 " if committed else f"accepted {EVENTS} "), why
    assert_rerun_equals_clean(before, clean, committed, why)
    assert books() == {"balances": [], "rollups": []}


BATCH, INGESTED = 50, 1000


def ingest(profile, user_names: list[str]):
    code = (
        "from tests.faults.scripts import ingest; "
        f"ingest(profile_id={str(profile.pk)!r}, user_names={user_names!r}, count={INGESTED}, batch={BATCH})"
    )
    return shell(code)


def test_a_killed_ingestion_loop_keeps_whole_batches_and_a_rerun_equals_a_clean_run(org, subscribed):
    """1,000 events through usage_record, 50 a transaction (as the API's batches): the kill leaves whole batches
    only, the books agree, and running the loop again (the same keys: replays, then new events) ends as a clean
    run does."""
    users = subscribed[:50]
    start = fingerprint()
    scripts.ingest(profile_id=str(org.clean.pk), user_names=users, count=INGESTED, batch=BATCH)
    clean = delta(start, fingerprint())
    assert clean["credits.UsageEvent.rows"] == INGESTED

    before = fingerprint()
    batches = random.randint(2, 10)
    stderr, pause = kill_while_writing(
        ingest(org.victim, users),
        ready=lambda stderr: stderr.seen(lambda line: line == f"committed {batches * BATCH}"),
        delay=(0.0, 0.1),
    )
    why = f"killed after {batches} batches + {pause:.2f}s"
    told = max(int(line.split()[1]) for line in stderr.lines if line.startswith("committed "))
    stored = sorted(UsageEvent.objects.filter(profile=org.victim).values_list("idempotency_key", flat=True))
    assert len(stored) % BATCH == 0, f"{why}: {len(stored)} events, not whole batches of {BATCH}"
    assert len(stored) in (told, told + BATCH), why  # the batch in flight: all or nothing
    assert stored == [f"ingest-{n:05d}" for n in range(len(stored))], why
    assert books() == {"balances": [], "rollups": []}, why
    # A fast machine can finish the loop before the signal lands: then it is the 'after' case.
    assert 0 < len(stored) <= INGESTED, why

    scripts.ingest(profile_id=str(org.victim.pk), user_names=users, count=INGESTED, batch=BATCH)
    assert delta(before, fingerprint()) == clean, why
    assert books() == {"balances": [], "rollups": []}


def test_a_killed_group_fan_out_subscribes_nobody_and_a_rerun_equals_a_clean_run(org, big_group, tmp_path):
    """`import_subscriptions` of one row assigning a 20,000-member group: one transaction that subscribes every
    member (set-based, in chunks). Killed at a random moment of its write (a fraction of the clean run's), it
    leaves no subscription; run again, it subscribes all of them. (The clean run's duration, in this process,
    is about the victim's from the moment its transaction shows.)"""
    path = tmp_path / "assign.csv"
    path.write_text("type,name,tier\ngroup,Everyone,PRO\n")
    start = fingerprint()
    writing, _ = run("import_subscriptions", str(path), "--profile", org.clean.profile_id)
    clean = delta(start, fingerprint())
    assert clean["subscriptions.Subscription.rows"] == BIG

    before = fingerprint()
    fraction = random.uniform(0.2, 0.6)
    process = manage("import_subscriptions", str(path), "--profile", org.victim.profile_id)
    _, pause = kill_while_writing(process, delay=(fraction * writing, fraction * writing))
    why = f"killed {pause:.2f}s into a write that takes {writing:.2f}s"
    committed = assert_before_or_after(before, clean, why)

    _, last = run("import_subscriptions", str(path), "--profile", org.victim.profile_id)
    assert last == ("created 0, updated 0, unchanged 1" if committed else "created 1, updated 0, unchanged 0"), why
    assert_rerun_equals_clean(before, clean, committed, why)

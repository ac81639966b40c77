"""PostgreSQL restarted, stopped or out of disk under load (issue 9, items 2 and 3), on a PostgreSQL instance of the
test's own (initdb in a temporary directory, a free port): never the shared server.

The console runs under gunicorn (one worker, four threads, persistent connections with health checks) on a copy of
the test database. Clients post usage events through the API and read pages while the instance is restarted
(`pg_ctl restart -m fast`), then stopped for a second and a half and started again. Every failed request must be a
clean one (the API: JSON `{"detail": ...}` with 503; pages: the console's 500 page; /healthz: 503), none may leak a
traceback, and once the database is back every request succeeds. Events that failed are sent again with their keys,
as a client retries; at the end every event is stored exactly once and balances and rollups equal the events.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections import Counter

import pytest
from django.db import connection

from tests.faults.support import (
    PG_BIN,
    RUNUSER,
    PrivatePostgres,
    Server,
    database_state,
    gunicorn,
    http,
    leaks_a_traceback,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (PG_BIN / "initdb").exists() or not RUNUSER.exists() or os.geteuid() != 0,
        reason="needs PostgreSQL's programs (initdb, pg_ctl) and root, to run an instance of its own",
    ),
]


@pytest.fixture(scope="module")
def postgres():
    """The instance, for the tests of this module (each copies the test database into a database of its own)."""
    if connection.vendor != "postgresql":
        pytest.skip("copies the test database into its own PostgreSQL instance: run with DATABASE_URL=postgres://...")
    instance = PrivatePostgres()
    yield instance
    instance.remove()


class Load:
    """Clients of a served console: `posters` threads post one usage event at a time (new keys), one thread reads
    the home page, a profile page and /healthz. Every answer is kept with the time it came."""

    def __init__(self, base: str, console, posters: int = 2):
        self.base, self.console = base, console
        self.stop = threading.Event()
        self.answers: list[tuple[float, str, str, object]] = []  # (time, kind, key or path, Answer)
        self.threads = [threading.Thread(target=self.post, args=(n,)) for n in range(posters)]
        self.threads.append(threading.Thread(target=self.read))

    def event(self, key: str, n: int) -> dict:
        names = self.console.user_names
        return {"idempotency_key": key, "user_name": names[n % len(names)], "credits": "1.00", "model": "auto"}

    def send(self, key: str, n: int):
        return http(
            "POST",
            f"{self.base}/api/v1/profiles/{self.console.profile.profile_id}/usage-events",
            body={**self.event(key, n), "client_type": "KIRO_IDE"},
            headers={"Authorization": f"Bearer {self.console.token}"},
        )

    def post(self, thread: int) -> None:
        n = 0
        while not self.stop.is_set():
            key = f"load-{thread}-{n:05d}"
            self.answers.append((time.monotonic(), "event", key, self.send(key, n)))
            n += 1

    def read(self) -> None:
        cookie = {"Cookie": f"sessionid={self.console.session}"}
        paths = ["/", f"/profiles/{self.console.profile.profile_id}/users/", "/healthz"]
        n = 0
        while not self.stop.is_set():
            path = paths[n % len(paths)]
            self.answers.append((time.monotonic(), "page", path, http("GET", f"{self.base}{path}", headers=cookie)))
            n += 1
            time.sleep(0.02)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def assert_failed_cleanly(kind: str, what: str, answer) -> None:
    assert not leaks_a_traceback(answer), (what, answer)
    if kind == "event":
        assert answer.status == 503, (what, answer)
        assert answer.content_type.startswith("application/json"), (what, answer)
        assert "unavailable" in answer.json()["detail"], (what, answer)
    elif what == "/healthz":
        assert answer.status == 503 and answer.json()["status"] == "error", answer
    else:
        assert answer.status == 500, (what, answer)
        assert "Something went wrong" in answer.text, (what, answer)


def test_requests_fail_cleanly_while_postgresql_restarts_or_stops_and_succeed_once_it_is_back(postgres, console):
    url = postgres.copy_test_database("console_restart")
    with gunicorn(url) as base:
        with Load(base, console) as load:
            time.sleep(1.5)
            postgres.restart()
            time.sleep(1.5)
            postgres.stop()
            down = time.monotonic()
            time.sleep(1.5)
            postgres.start()
            back = time.monotonic()
            time.sleep(2.5)

        answers = load.answers
        statuses = Counter((kind, answer.status) for _, kind, _, answer in answers)
        failed = [(at, kind, what, answer) for at, kind, what, answer in answers if answer.status >= 400]
        for _, kind, what, answer in failed:
            assert_failed_cleanly(kind, what, answer)
        assert any(down < at < back for at, *_ in failed), f"no request failed while it was stopped: {statuses}"
        # Once it is back (a second to let the requests in flight end), everything succeeds.
        late = [(kind, what, answer) for at, kind, what, answer in answers if at > back + 1]
        assert late, statuses
        assert all(answer.status in (200, 201) for _, _, answer in late), [a for a in late if a[2].status >= 300][:5]
        # Metering made progress around the outage (how much depends on the machine's load).
        assert any(kind == "event" for kind, _, _ in late), statuses

        # A client retries what failed, with the same keys: each is recorded now, or was already (a replay).
        created = {what for _, kind, what, answer in answers if kind == "event" and answer.status == 201}
        retried = {what for _, kind, what, answer in failed if kind == "event"}
        assert retried, statuses
        for key in sorted(retried):
            answer = load.send(key, int(key.rsplit("-", 1)[1]))
            assert answer.status in (200, 201), (key, answer)

    state = database_state(url)
    keys = Counter(key for key, _ in state["events"])
    assert set(keys) == created | retried
    assert max(keys.values()) == 1  # exactly once
    assert {outcome for _, outcome in state["events"]} == {"PLAN"}
    assert state["balances"] == [] and state["rollups"] == []


def test_a_full_disk_fails_a_batch_cleanly_and_nothing_of_it_is_written(postgres, console):
    """The usage events' table on a tablespace of its own, on a 4 MB tmpfs filled but for a little: a batch of
    1,000 events that does not fit answers 503 in JSON and writes nothing at all (no event, no balance); once
    space is freed, the same batch is recorded."""
    url = postgres.copy_test_database("console_full")
    tiny = postgres.base / "tiny"
    tiny.mkdir()
    mounted = subprocess.run(["/usr/bin/mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(tiny)], check=False)  # noqa: S603
    if mounted.returncode != 0:
        pytest.skip("can't mount a tmpfs here: the disk-full case needs a tiny file system")
    try:
        shutil.chown(tiny, "postgres", "postgres")
        (tiny / "pg").mkdir()
        shutil.chown(tiny / "pg", "postgres", "postgres")
        postgres.psql(f"CREATE TABLESPACE tiny LOCATION '{tiny / 'pg'}'")
        postgres.psql("ALTER TABLE credits_usageevent SET TABLESPACE tiny", database="console_full")
        filler = tiny / "filler"
        free = shutil.disk_usage(tiny).free
        filler.write_bytes(b"\0" * (free - 600 * 1024))  # 600 KiB left: two batches, not ten

        with gunicorn(url) as base:
            load = Load(base, console)
            path = f"/api/v1/profiles/{console.profile.profile_id}/usage-events"
            headers = {"Authorization": f"Bearer {console.token}"}

            def batch(n: int):
                events = [{**load.event(f"full-{n}-{i:04d}", i), "client_type": "KIRO_CLI"} for i in range(1000)]
                return http("POST", f"{base}{path}", body={"events": events}, headers=headers)

            accepted = 0
            for n in range(20):
                answer = batch(n)
                if answer.status != 200:
                    break
                accepted += 1
            else:
                pytest.fail("the disk never filled up")
            assert answer.status == 503, answer
            assert answer.content_type.startswith("application/json")
            assert not leaks_a_traceback(answer), answer
            assert "No space left on device" in Server.log(base)  # the cause, logged for the operator
            sums = "SELECT count(*), coalesce(sum(plan_credits), 0) * 100 FROM credits_usageevent"
            balances = "SELECT coalesce(sum(plan_hundredths), 0) FROM credits_balance"
            events, plan = postgres.psql(sums, database="console_full").strip().split("|")
            assert int(events) == 1000 * accepted  # the failed batch: nothing
            assert int(float(plan)) == int(postgres.psql(balances, database="console_full"))

            filler.unlink()
            again = batch(n)
            assert again.status == 200, again
            assert {result["status"] for result in again.json()["results"]} == {"accepted"}
        state = database_state(url)
        assert len(state["events"]) == 1000 * (accepted + 1)
        assert state["balances"] == [] and state["rollups"] == []
    finally:
        try:  # the server lets go of the tablespace before it is unmounted
            postgres.psql("DROP DATABASE IF EXISTS console_full WITH (FORCE)")
            postgres.psql("DROP TABLESPACE IF EXISTS tiny")
        except subprocess.CalledProcessError:
            postgres.halt()
        subprocess.run(["/usr/bin/umount", str(tiny)], check=False)  # noqa: S603

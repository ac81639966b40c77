"""A database that can't take writes (issue 9, item 3): read-only, or full.

The console runs under gunicorn on a database that refuses writes: on SQLite a copy of the test database opened
read-only (`mode=ro`; the tests run as root, whom file modes don't stop), or capped at a few pages more than it
holds (`PRAGMA max_page_count`: SQLite's "database or disk is full", which is what a full disk gives); on
PostgreSQL the test database with `default_transaction_read_only` set for new sessions. Reading still works; a page
that writes (logging in) answers the console's 500 page, the API a JSON 503; no traceback is shown, nothing is
half-written, and the SQLite file passes `PRAGMA integrity_check`. (A real full disk on PostgreSQL, a tablespace on
a tiny tmpfs, is in test_postgres_restart.py.)
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from django.contrib.sessions.models import Session
from django.db import connection

from credits.models import UsageEvent
from tests import processes
from tests.faults.support import Server, database_state, gunicorn, http, leaks_a_traceback

pytestmark = pytest.mark.django_db(transaction=True)
CSRF = "fAuLtStEsTcSrFsEcReT0123456789ab"  # a CSRF secret of the expected form (32 letters and digits)


def needs(vendor: str) -> None:
    if connection.vendor != vendor:
        pytest.skip(f"a {vendor} case: runs when the suite runs on {vendor}")


def sqlite_copy(path) -> str:
    """A compact copy of the test database (as committed now), in WAL mode as the console keeps it; its path."""
    source = sqlite3.connect(connection.settings_dict["NAME"])
    source.execute("VACUUM INTO ?", (str(path),))
    source.close()
    copy = sqlite3.connect(path)
    copy.execute("PRAGMA journal_mode=WAL")
    copy.close()
    return str(path)


def integrity(path: str) -> str:
    check = sqlite3.connect(path)
    try:
        return check.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        check.close()


def event(console, key: str) -> dict:
    return {"idempotency_key": key, "user_name": console.user_names[0], "credits": "1.00", "model": "auto"}


def post_event(base: str, console, body: dict):
    return http(
        "POST",
        f"{base}/api/v1/profiles/{console.profile.profile_id}/usage-events",
        body=body,
        headers={"Authorization": f"Bearer {console.token}"},
    )


def assert_reads_work_and_writes_fail_cleanly(base: str, console) -> None:
    health = http("GET", f"{base}/healthz")
    assert health.status == 200, health
    home = http("GET", f"{base}/", headers={"Cookie": f"sessionid={console.session}"})
    assert home.status == 200, home  # reading needs no write

    login = http(
        "POST",
        f"{base}/login/",
        form={"username": "alice.admin", "password": "correct horse battery", "csrfmiddlewaretoken": CSRF},
        headers={"Cookie": f"csrftoken={CSRF}"},
    )
    assert login.status == 500, login
    assert "Something went wrong" in login.text and "Nothing was half-written" in login.text
    assert not leaks_a_traceback(login), login

    answer = post_event(base, console, {**event(console, "ro-1"), "client_type": "KIRO_IDE"})
    assert answer.status == 503, answer
    assert answer.content_type.startswith("application/json"), answer
    assert "nothing was written" in answer.json()["detail"]
    assert not leaks_a_traceback(answer), answer


def test_a_read_only_sqlite_database_answers_writes_with_clean_errors_and_stays_intact(console, tmp_path):
    needs("sqlite")
    path = sqlite_copy(tmp_path / "console.sqlite3")
    before = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    with gunicorn(f"sqlite:///{path}", settings="tests.faults.settings", FAULTS_SQLITE_READ_ONLY="1") as base:
        assert_reads_work_and_writes_fail_cleanly(base, console)
        assert "attempt to write a readonly database" in Server.log(base)
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == before  # not a byte changed
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    assert integrity(path) == "ok"


def test_a_full_sqlite_database_fails_a_batch_cleanly_and_nothing_of_it_is_written(console, tmp_path):
    """Capped at 120 pages (480 KiB) more than it holds: batches of 1,000 events are recorded until one does not
    fit; that one answers 503 in JSON and writes nothing (no event, no balance, no rollup)."""
    needs("sqlite")
    path = sqlite_copy(tmp_path / "console.sqlite3")
    pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]
    settings = {"settings": "tests.faults.settings", "FAULTS_SQLITE_MAX_PAGES": str(pages + 120)}
    with gunicorn(f"sqlite:///{path}", **settings) as base:
        accepted = 0
        for n in range(20):
            events = [{**event(console, f"full-{n}-{i:04d}"), "client_type": "KIRO_CLI"} for i in range(1000)]
            answer = post_event(base, console, {"events": events})
            if answer.status != 200:
                break
            accepted += 1
        else:
            pytest.fail("the database never filled up")
        assert "database or disk is full" in Server.log(base)
    assert answer.status == 503, answer
    assert answer.content_type.startswith("application/json") and not leaks_a_traceback(answer), answer
    assert integrity(path) == "ok"
    state = database_state(f"sqlite:///{path}")
    assert len(state["events"]) == 1000 * accepted  # the batch that did not fit: nothing
    assert state["balances"] == [] and state["rollups"] == []


def test_a_read_only_postgresql_database_answers_writes_with_clean_errors(console):
    needs("postgresql")
    name = connection.settings_dict["NAME"]
    sessions = Session.objects.count()
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    try:
        with gunicorn(processes.test_database_url()) as base:
            assert_reads_work_and_writes_fail_cleanly(base, console)
            assert "read-only transaction" in Server.log(base)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
    assert UsageEvent.objects.count() == 0
    assert Session.objects.count() == sessions  # the log-in wrote no session either

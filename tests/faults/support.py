"""What the fault tests share (issue 9): fingerprints of the database, killing a process at a random moment while it
writes, a gunicorn server on a database of its own, and the scripts that subprocesses run.

A *fingerprint* is, per model of the console's apps, its row count, the sum of each numeric column and the count of
each value of each choice or boolean column. Two runs of the same work in two scopes (two directories, two
profiles) change it by the same *delta*; a half-written state changes it by something else.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import connection, models
from django.db.models import Count, Sum

from tests.processes import ROOT, test_database_url

APPS = ("accounts", "directory", "subscriptions", "credits", "kiroconsole")
CENT = Decimal("0.01")
NUMERIC = (models.IntegerField, models.DecimalField, models.FloatField)


# --- Fingerprints ---------------------------------------------------------------------------------------------


def fingerprint() -> Counter:
    """Counts and sums of every table of the console's apps (see the module's docstring)."""
    print_: Counter = Counter()
    for app in APPS:
        for model in apps.get_app_config(app).get_models():
            label = model._meta.label
            manager = model._base_manager.order_by()
            numeric, grouped = [], []
            for field in model._meta.concrete_fields:
                if field.primary_key or field.is_relation:
                    continue
                if isinstance(field, NUMERIC):
                    numeric.append(field.attname)
                elif field.choices or isinstance(field, models.BooleanField):
                    grouped.append(field.attname)
            sums = manager.aggregate(rows=Count("pk"), **{name: Sum(name) for name in numeric})
            for name, value in sums.items():
                value = Decimal(value or 0).quantize(CENT)
                print_[f"{label}.{name}"] = value
            for name in grouped:
                for value, count in manager.values_list(name).annotate(n=Count("pk")).values_list(name, "n"):
                    print_[f"{label}.{name}={value}"] = count
    return print_


def delta(before: Counter, after: Counter) -> dict[str, Any]:
    """What changed from `before` to `after` (keys that did not change are left out)."""
    return {key: after[key] - before[key] for key in sorted(set(before) | set(after)) if after[key] != before[key]}


def books() -> dict[str, list[str]]:
    """Balances against events, rollups against events: empty lists when the books agree."""
    from credits.selectors import balance_mismatches
    from credits.services.rollups import rollups_differences

    return {"balances": balance_mismatches(), "rollups": rollups_differences()}


# --- Subprocesses ---------------------------------------------------------------------------------------------


def manage_on(database_url: str, *args: str, settings: str = "tests.settings", **env: str) -> subprocess.Popen[str]:
    """`manage.py ARGS` in a process of its own on `database_url` (as tests.processes.manage on the test database)."""
    environment = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}}
    environment.update(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE=settings, PYTHONUNBUFFERED="1", **env)
    return subprocess.Popen(  # noqa: S603 (our own manage.py)
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 300) -> str:
    """Wait for the process; its standard output. Fails with its standard error unless it exits 0."""
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"exit status {process.returncode}: {err[-3000:]}"
    return out


def shell(code: str, database_url: str | None = None) -> subprocess.Popen[str]:
    """`manage.py shell -c CODE` on the test database (or `database_url`)."""
    return manage_on(database_url or test_database_url(), "shell", "-c", code)


# --- Knowing that a process writes, and killing it then -----------------------------------------------------


def open_write_transactions() -> int:
    """How many other connections hold a write transaction on the test database right now. PostgreSQL: sessions
    with a transaction id (it is given at the first write or row lock). SQLite: 1 when the database's write lock is
    taken (the console's transactions are IMMEDIATE: they take it at BEGIN), probed without waiting."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
            )
            return cursor.fetchone()[0]
    probe = sqlite3.connect(connection.settings_dict["NAME"], timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:  # database is locked: someone writes
        return 1
    else:
        probe.execute("ROLLBACK")
        return 0
    finally:
        probe.close()


class Stderr:
    """Reads a process's standard error in a thread (so it never blocks on a full pipe); `lines` so far."""

    def __init__(self, process: subprocess.Popen[str]):
        self.lines: list[str] = []
        assert process.stderr is not None
        self.thread = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def seen(self, predicate: Callable[[str], bool]) -> bool:
        return any(predicate(line) for line in list(self.lines))


def kill_while_writing(
    process: subprocess.Popen[str],
    *,
    ready: Callable[[Stderr], bool] = lambda stderr: True,
    delay: tuple[float, float] = (0.0, 0.3),
    timeout: float = 120,
) -> tuple[Stderr, float]:
    """SIGKILL the process at a random moment while it writes: once `ready()` is true and the database shows its
    write transaction open (`open_write_transactions`), after a random delay in `delay` (seconds), at the first
    moment its write transaction is open. `ready` is given the process's standard error so far. Fails if the
    process fails by itself before; one that finishes first (status 0) is the "after" state, checked as such.
    Returns its standard error and the delay chosen."""
    stderr = Stderr(process)
    deadline = time.monotonic() + timeout
    while not (ready(stderr) and open_write_transactions()):
        if process.poll() is not None:
            if process.returncode == 0:  # it wrote and finished between two looks (a fast machine): the "after" state
                stderr.thread.join(5)
                return stderr, 0.0
            raise AssertionError(f"the process ended (status {process.returncode}) before it wrote: {stderr.lines}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the process did not start writing in {timeout}s: {stderr.lines}")
        time.sleep(0.02)
    pause = random.uniform(*delay)
    time.sleep(pause)
    # Then at the first moment its transaction is open (a loop of short transactions may be between two).
    deadline = time.monotonic() + 10
    while not open_write_transactions():
        if process.poll() is not None:  # it finished first (a fast machine): the "after" state, checked as such
            assert process.returncode == 0, f"the process failed by itself {pause:.2f}s after it started writing"
            return stderr, pause
        assert time.monotonic() < deadline, "the process stopped writing"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    # PostgreSQL's server process for the dead client ends its transaction on its own: it rolls back, or commits
    # if the COMMIT was already sent. Look only once it has, or a check could see that COMMIT land half-way.
    deadline = time.monotonic() + 30
    while open_write_transactions():
        assert time.monotonic() < deadline, "the killed process's transaction is still open after 30 s"
        time.sleep(0.01)
    assert process.returncode in (-signal.SIGKILL, 0)  # 0: it committed and ended just before the signal
    stderr.thread.join(5)
    return stderr, pause


# --- A server of its own --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(database_url: str, *, settings: str = "tests.settings", threads: int = 4, **env: str) -> Iterator[str]:
    """The console under gunicorn (one worker, `threads` threads) on `database_url`; yields its base URL. While it
    runs, `Server.log(base)` is what it has logged (its errors with their tracebacks, for the operator)."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}}
    environment.update(DATABASE_URL=database_url, DJANGO_SETTINGS_MODULE=settings, PYTHONUNBUFFERED="1", **env)
    log = Path(tempfile.gettempdir()) / f"faults-gunicorn-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 (our own server)
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "kiroconsole.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                str(threads),
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5):  # noqa: S310 (http to ourselves)
                    break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        Server.logs[base] = log
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        Server.logs.pop(base, None)
        log.unlink(missing_ok=True)


class Server:
    """The logs of the servers `gunicorn` runs, by base URL."""

    logs: dict[str, Path] = {}

    @classmethod
    def log(cls, base: str) -> str:
        return cls.logs[base].read_text()


class Answer:
    def __init__(self, status: int, body: bytes, content_type: str):
        self.status, self.body, self.content_type = status, body, content_type

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<{self.status} {self.content_type} {self.text[:300]!r}>"


def http(method: str, url: str, *, body: Any = None, form: dict | None = None, headers: dict | None = None) -> Answer:
    """One HTTP request (no redirects followed); the answer whatever its status."""
    data, all_headers = None, dict(headers or {})
    if body is not None:
        data, all_headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    elif form is not None:
        from urllib.parse import urlencode

        data, all_headers["Content-Type"] = urlencode(form).encode(), "application/x-www-form-urlencoded"

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, data=data, headers=all_headers, method=method)  # noqa: S310
    try:
        with opener.open(request, timeout=60) as response:
            return Answer(response.status, response.read(), response.headers.get("Content-Type", ""))
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read(), error.headers.get("Content-Type", ""))


LEAKS = ("Traceback", 'File "', ".py", "psycopg", "sqlite3", "connection to server", "django.db", "SELECT ", "INSERT ")


def leaks_a_traceback(answer: Answer) -> bool:
    """Whether the answer shows a traceback, a source path, the database driver's message or SQL. (/healthz names
    the exception's class, "OperationalError", on purpose: not a leak.)"""
    return any(mark in answer.text for mark in LEAKS)


# --- A PostgreSQL server of our own (never the shared one) ----------------------------------------------------

PG_BIN = max(  # Debian's newest PostgreSQL
    Path("/usr/lib/postgresql").glob("*/bin"),
    default=Path("/nonexistent"),
    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
)
RUNUSER = Path("/usr/sbin/runuser")


def as_postgres(*command: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """A PostgreSQL program run as the `postgres` system user (initdb and the server refuse root)."""
    return subprocess.run(  # noqa: S603 (PostgreSQL's own programs)
        [str(RUNUSER), "-u", "postgres", "--", *command], check=True, capture_output=True, text=True, **kwargs
    )


class PrivatePostgres:
    """A throwaway PostgreSQL instance: its data directory and socket in a temporary directory, listening on a free
    port of 127.0.0.1, trust authentication. `stop`, `start`, `restart` as pg_ctl does; `remove` at the end."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        os.chmod(self.base, 0o755)  # noqa: S103 (the postgres user reaches its data directory through it)
        self.data = self.base / "data"
        self.port = free_port()
        shutil.chown(self.base, "postgres", "postgres")
        as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.base / "log"), *args)

    def start(self) -> None:
        self.pg_ctl("-w", "start")

    def stop(self) -> None:
        self.pg_ctl("-w", "-m", "fast", "stop")

    def restart(self) -> None:
        self.pg_ctl("-w", "-m", "fast", "restart")

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        return as_postgres(
            str(PG_BIN / "psql"), "-X", "-q", "-At", "-h", "127.0.0.1", "-p", str(self.port), "-d", database, "-c", sql
        ).stdout

    def copy_test_database(self, name: str) -> str:
        """A copy of the test database (schema and data, as committed now) as database `name`; its URL."""
        self.psql(f"CREATE DATABASE {name}")
        settings = connection.settings_dict
        dump = subprocess.run(  # noqa: S603
            [
                str(PG_BIN / "pg_dump"),
                "--no-owner",
                "-h",
                settings.get("HOST") or "127.0.0.1",
                "-p",
                str(settings.get("PORT") or 5432),
                "-U",
                settings.get("USER") or "postgres",
                settings["NAME"],
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        subprocess.run(  # noqa: S603
            [
                str(PG_BIN / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                name,
            ],
            input=dump,
            check=True,
            capture_output=True,
            text=True,
        )
        return self.url(name)

    def halt(self) -> None:
        """Stop at once, if it runs."""
        with suppress(subprocess.CalledProcessError):  # not running
            self.pg_ctl("-w", "-m", "immediate", "stop")

    def remove(self) -> None:
        self.halt()
        shutil.rmtree(self.base, ignore_errors=True)


def database_state(database_url: str) -> dict[str, Any]:
    """`tests.faults.scripts.state()` run on `database_url`: its events, balance and rollup differences."""
    out = finish(manage_on(database_url, "shell", "-c", "from tests.faults.scripts import state; state()"))
    return json.loads(out.strip().splitlines()[-1])

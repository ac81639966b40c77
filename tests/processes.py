"""Commands run as real processes against the test database, for the tests that kill one in the middle of its
work (`kill -9`): only a separate process can die without the test's own connection and transaction with it.

The test must use the transactional database (`transactional_db`), so that what it sets up is committed and
the process sees it, and what the process commits is visible to the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def test_database_url() -> str:
    """The DATABASE_URL of the database the tests run on (the test database, not the one it was named after)."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    if connection.vendor == "postgresql":
        user, host, port = settings.get("USER") or "postgres", settings.get("HOST") or "", settings.get("PORT")
        if not host or host.startswith("/"):  # a socket
            return f"postgres://{user}@/{settings['NAME']}" + (f"?host={host}" if host else "")
        return f"postgres://{user}@{host}:{port or 5432}/{settings['NAME']}"
    raise NotImplementedError(connection.vendor)


def manage(*args: str) -> subprocess.Popen[str]:
    """`manage.py ARGS` in a process of its own on the test database, its output piped (text)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}}
    env.update(DATABASE_URL=test_database_url(), DJANGO_SETTINGS_MODULE="tests.settings", PYTHONUNBUFFERED="1")
    return subprocess.Popen(  # noqa: S603 (our own manage.py)
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when(process: subprocess.Popen[str], ready: Callable[[str], bool], timeout: float = 120) -> list[str]:
    """Read the process's standard error line by line and SIGKILL it at the first line for which `ready` is
    true. Returns the lines read. Fails if the process ends first or the line does not come in `timeout`."""
    assert process.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    for line in process.stderr:
        lines.append(line.rstrip("\n"))
        if ready(lines[-1]):
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            assert process.returncode == -signal.SIGKILL, f"the process ended by itself: {lines}"
            return lines
        if time.monotonic() > deadline:
            process.kill()
            break
    process.wait(timeout=30)
    out = process.stdout.read() if process.stdout else ""
    raise AssertionError(f"the process ended (status {process.returncode}) before it was killed: {lines} {out}")

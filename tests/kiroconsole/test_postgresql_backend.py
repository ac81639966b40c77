"""The PostgreSQL backend's health check (kiroconsole/postgresql/base.py): at most once a second per connection, and
a connection the server dropped is still replaced once it has been idle that long."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection, connections
from django.db.utils import Error

from kiroconsole.bulk import hot_cursor
from kiroconsole.postgresql import base as backend

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only"),
]


@pytest.fixture
def clock(monkeypatch):
    now = [1_000.0]
    monkeypatch.setattr(backend.time, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def other():
    """A second connection to the test database, outside the test's transaction."""
    default = connections["default"]
    wrapper = type(default)({**default.settings_dict, "CONN_HEALTH_CHECKS": True}, alias="other")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def test_settings_choose_this_backend(settings):
    assert settings.DATABASES["default"]["ENGINE"] == "kiroconsole.postgresql"
    assert isinstance(connections["default"], backend.DatabaseWrapper)


def test_a_connection_checked_within_the_interval_is_not_checked_again(other, clock, monkeypatch):
    checks: list[bool] = []
    real = other.is_usable
    monkeypatch.setattr(other, "is_usable", lambda: checks.append(real()) or checks[-1])
    other.checked_at = clock[0]
    for _ in range(3):  # three requests within the second: no round trip
        clock[0] += 0.3
        other.health_check_done = False
        other.close_if_health_check_failed()
        assert other.health_check_done
    assert checks == []
    clock[0] += 0.2  # 1.1 s after the last check: checked again, and the time of that check kept
    other.health_check_done = False
    other.close_if_health_check_failed()
    assert checks == [True]
    assert other.checked_at == clock[0]
    assert other.connection is not None


def test_a_new_connection_counts_as_checked(other, clock):
    other.close()
    other.ensure_connection()
    assert other.checked_at == clock[0]


def test_a_dropped_connection_is_replaced_after_the_interval(other, clock):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [other.connection.info.backend_pid])
    other.checked_at = clock[0]
    # Within the second the check is skipped: the request that finds the dead connection fails, as it would have
    # failed had the server gone during it, and Django closes the connection at the request's end.
    other.health_check_done = False
    other.close_if_health_check_failed()
    with pytest.raises(Error), other.cursor() as cursor:
        cursor.execute("SELECT 1")
    other.close()
    other.ensure_connection()
    with other.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def test_an_idle_dropped_connection_is_closed_by_the_check(other, clock):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [other.connection.info.backend_pid])
    other.checked_at = clock[0] - 5
    other.health_check_done = False
    other.close_if_health_check_failed()
    assert other.connection is None  # closed: the next use opens a new one
    with other.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


def _prepared(marker: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{marker}%"])
        return [row[0] for row in cursor.fetchall()]


def test_hot_statements_are_prepared_from_their_fifth_run_and_djangos_never():
    for _ in range(6):
        with hot_cursor() as cursor:
            cursor.execute("SELECT %s::int + 1 AS hot_marker", [1])
            assert cursor.fetchone() == (2,)
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::int + 1 AS cold_marker", [1])
    assert len(_prepared("hot_marker")) == 1
    assert _prepared("cold_marker") == []


def test_hot_statements_are_seen_by_query_capture(django_assert_num_queries):
    with django_assert_num_queries(1), hot_cursor() as cursor:
        cursor.execute("SELECT 1 AS captured_marker")


def test_without_prepared_statements_the_hot_cursor_is_djangos(monkeypatch):
    options = {k: v for k, v in connections["default"].settings_dict["OPTIONS"].items() if k != "prepare_threshold"}
    monkeypatch.setitem(connections["default"].settings_dict, "OPTIONS", options)
    for _ in range(6):
        with hot_cursor() as cursor:
            cursor.execute("SELECT %s::int AS off_marker", [1])
    assert _prepared("off_marker") == []


def test_settings_prepare_unless_turned_off():
    def threshold(**env: str) -> str:
        code = (
            "from kiroconsole import settings as s; print(s.DATABASES['default']['OPTIONS'].get('prepare_threshold'))"
        )
        environment = {**os.environ, "DATABASE_URL": "postgres://u@h/d", "DEBUG": "1", **env}
        return subprocess.run(  # noqa: S603
            [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert threshold() == "5"
    assert threshold(DATABASE_PREPARED_STATEMENTS="0") == "None"

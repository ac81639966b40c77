"""`manage.py analyze_database` (and the end of `rebuild_rollups`): the planner statistics are written, on SQLite
and on PostgreSQL (of the tables with rows: the catalogues seeded by the migrations)."""

from __future__ import annotations

import io

from django.core.management import call_command
from django.db import connection


def statistics_rows() -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            if not cursor.fetchone()[0]:
                return 0
            cursor.execute("SELECT COUNT(*) FROM sqlite_stat1")
        else:
            cursor.execute("SELECT COUNT(*) FROM pg_stats WHERE schemaname = current_schema()")
        return cursor.fetchone()[0]


def test_analyze_database_writes_the_planner_statistics(db):
    if connection.vendor == "sqlite":
        assert statistics_rows() == 0  # a new database has none (PostgreSQL's autovacuum may have some)
    out = io.StringIO()
    call_command("analyze_database", stdout=out)
    assert "statistics refreshed in" in out.getvalue()
    assert statistics_rows() > 0


def test_rebuild_rollups_ends_by_refreshing_them(db):
    out = io.StringIO()
    call_command("rebuild_rollups", stdout=out)
    assert "planner statistics refreshed in" in out.getvalue()
    assert statistics_rows() > 0

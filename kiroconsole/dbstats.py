"""Planner statistics (ANALYZE): what lets the database choose the right index for a query whose best plan depends
on the data, such as a group's days in the usage explorer (5,000 members' rows of 2,000,000 in a month: walk the
members, not the month). PostgreSQL keeps them itself (autovacuum); SQLite only has what ANALYZE last wrote, so
`manage.py analyze_database` should run after a large import or rebuild (rebuild_rollups runs it) and now and then
(README, Deploying)."""

from __future__ import annotations

import time

from django.db import connections


def analyze(using: str = "default") -> float:
    """Refresh the statistics of every table; returns the seconds it took. On SQLite a table at a time, each its
    own statement (outside a transaction, its own transaction): ANALYZE holds the write lock while it reads, so
    writers wait for one table, not for the whole database. PostgreSQL's ANALYZE does not block writes."""
    started = time.perf_counter()
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for table in connection.introspection.table_names(cursor):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
        else:
            cursor.execute("ANALYZE")
    return time.perf_counter() - started

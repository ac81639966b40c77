"""Set-based writes of many plain rows: imports and bulk audit events (STYLE.md "Set-based work for sets").

`bulk_create` builds one model instance per row and one multi-row INSERT whose every value goes through the
field's conversion; at 100,000 rows that costs several times the database work itself. Callers that hold plain,
checked values write tuples instead: the statement comes from the model's metadata, values are converted by their
field only where the database needs it (`adapter`; constants once), and the rows go in one prepared INSERT run
for all of them (`executemany`) or, on PostgreSQL, one COPY.
"""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from functools import cache, partial
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models

COPY_FROM = 20  # rows: below that, a COPY's set-up costs more than the INSERT it replaces
PLAIN = (models.CharField, models.TextField, models.BooleanField)  # Python values the drivers take as they are


def _connection():
    return connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the `connection` proxy costs a lookup a use


def adapter(model: type[models.Model], name: str) -> Callable[[Any], Any]:
    """The conversion of a Python value of the field `name` to the database's form."""
    field: Any = model._meta.get_field(name)
    if isinstance(field, PLAIN):
        return lambda value: value
    return partial(field.get_db_prep_save, connection=_connection())


def hot_cursor() -> Any:
    """A cursor for the statements metering runs again and again (a few shapes, thousands of times a minute). On
    PostgreSQL it binds its parameters on the server, and the connection prepares a statement the fifth time it
    runs it (`prepare_threshold` in settings.py): PostgreSQL then skips parsing and planning it, a third of its work
    for a metering event (measured with `bench credits_ingest`). Django's own cursors bind on the client and
    prepare nothing (with server binding, some of Django's queries fail: a parameter repeated in SELECT and GROUP
    BY is two parameters to the server). Elsewhere, or with prepared statements turned off: Django's cursor."""
    connection = _connection()
    if connection.vendor != "postgresql" or connection.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = connection.connection
    previous = raw.cursor_factory
    raw.cursor_factory = ServerBindingCursor  # Django's cursor() then builds, times and wraps it as any other
    try:
        return connection.cursor()
    finally:
        raw.cursor_factory = previous


def insert_rows(
    model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]], *, hot: bool = False
) -> None:
    """INSERT `rows`, tuples of values of `fields` in the database's form (see `adapter`). `hot`: a statement run
    again and again (metering's events): on PostgreSQL, up to COPY_FROM rows go as one INSERT of the columns'
    arrays on a `hot_cursor`, prepared, rather than a statement a row."""
    if not rows:
        return
    connection = _connection()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)  # type: ignore[union-attr]
    if hot and connection.vendor == "postgresql" and len(rows) <= COPY_FROM:
        with hot_cursor() as cursor, connection.wrap_database_errors:
            columns_values = [list(column) for column in zip(*rows, strict=True)]
            cursor.execute(_insert_arrays_sql(model, tuple(fields)), columns_values)
        return
    with connection.cursor() as cursor, connection.wrap_database_errors:  # psycopg's errors as Django's
        if connection.vendor == "postgresql" and hasattr(cursor.cursor, "copy") and len(rows) > COPY_FROM:
            sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
            started = time.monotonic()
            with cursor.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
            if connection.queries_logged:  # psycopg's copy() bypasses Django's cursor: log it as the others are
                duration = time.monotonic() - started
                connection.queries_log.append({"sql": f"{sql} -- {len(rows)} rows", "time": f"{duration:.3f}"})
        else:
            placeholders = ", ".join(["%s"] * len(fields))
            sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608  # nosec B608
            cursor.executemany(sql, rows)


def array_params(model: type[models.Model], names: Sequence[str]) -> str:
    """PostgreSQL: one parameter per field, each cast to an array of the field's type (`%s::uuid[], %s::text[]`),
    for statements that take a column of values as one array (varchar as text: its length is checked on write)."""
    casts = []
    for name in names:
        db_type = model._meta.get_field(name).cast_db_type(_connection()) or "text"  # type: ignore[union-attr]
        casts.append(f"%s::{'text' if db_type.startswith('varchar') else db_type}[]")
    return ", ".join(casts)


@cache
def _insert_arrays_sql(model: type[models.Model], fields: tuple[str, ...]) -> str:
    """PostgreSQL: INSERT of the rows whose columns come as one array each (`insert_rows(hot=True)`)."""
    quote = _connection().ops.quote_name
    names = ", ".join(quote(model._meta.get_field(name).column) for name in fields)  # type: ignore[union-attr]
    return (
        f"INSERT INTO {quote(model._meta.db_table)} ({names}) "  # noqa: S608  # nosec B608
        f"SELECT * FROM unnest({array_params(model, fields)})"
    )


def update_rows(model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """UPDATE by primary key: `rows` are tuples of values of `fields` then the pk, in the database's form."""
    if not rows:
        return
    connection = _connection()
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(model._meta.get_field(name).column)} = %s" for name in fields)  # type: ignore[union-attr]
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"  # noqa: S608  # nosec B608
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def existing_pairs(
    model: type[models.Model], fields: tuple[str, str], pairs: Sequence[tuple[Any, Any]]
) -> set[tuple[Any, Any]]:
    """Which of `pairs` (values of the two `fields`, in the database's form) are rows of `model`, as a set of
    pairs in the database's form: one statement that joins the pairs to the table, so an index on the two
    columns answers each pair (IN lists on each column would make the database probe every combination)."""
    if not pairs:
        return set()
    connection = _connection()
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    first, second = (quote(model._meta.get_field(name).column) for name in fields)  # type: ignore[union-attr]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            types = [model._meta.get_field(name).db_type(connection) for name in fields]  # type: ignore[union-attr]
            sql = (
                f"SELECT t.{first}, t.{second} FROM {table} t "  # noqa: S608  # nosec B608
                f"JOIN unnest(%s::{types[0]}[], %s::{types[1]}[]) AS v(a, b) ON t.{first} = v.a AND t.{second} = v.b"
            )
            cursor.execute(sql, [[a for a, _ in pairs], [b for _, b in pairs]])
        else:
            values = ", ".join(["(%s, %s)"] * len(pairs))
            sql = (
                f"WITH v(a, b) AS (VALUES {values}) "  # noqa: S608  # nosec B608
                f"SELECT t.{first}, t.{second} FROM {table} t JOIN v ON t.{first} = v.a AND t.{second} = v.b"
            )
            cursor.execute(sql, [value for pair in pairs for value in pair])
        return {(a, b) for a, b in cursor.fetchall()}


@contextmanager
def large_cache(megabytes: int = 32) -> Iterator[None]:
    """On SQLite, a page cache of `megabytes` for this connection while a bulk write runs (the default 2 MB makes
    an import of 500,000 indexed rows re-read index pages from the file), then the previous size again. Other
    databases size their caches themselves."""
    connection = _connection()
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (previous,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = {-1024 * int(megabytes)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")


def python_value(field: models.Field, value: Any) -> Any:
    """A value of `field` read by a raw cursor, as the ORM would give it: the hot paths (metering, API
    authentication) read rows with plain SQL, because building an ORM query costs more than running it."""
    if value is None:
        return None
    while field.is_relation:  # a foreign key holds a value of the field it points at
        field = field.target_field  # type: ignore[attr-defined]
    if isinstance(field, models.DateTimeField):
        if isinstance(value, str):
            value = datetime.datetime.fromisoformat(value)
        return value if value.tzinfo is not None else value.replace(tzinfo=datetime.UTC)
    if isinstance(field, models.DateField):
        return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(value)
    if isinstance(field, models.UUIDField):
        return value if isinstance(value, uuid.UUID) else uuid.UUID(value)
    if isinstance(field, models.DecimalField):
        return (
            value
            if isinstance(value, Decimal)
            else Decimal(str(value)).quantize(Decimal(1).scaleb(-field.decimal_places))
        )
    if isinstance(field, models.BooleanField):
        return bool(value)
    return value


def reader(field: models.Field) -> Callable[[Any], Any]:
    """`python_value` for one field, with the dispatch done once: for the rows of a hot path."""
    while field.is_relation:
        field = field.target_field  # type: ignore[attr-defined]
    if isinstance(field, models.UUIDField):
        return lambda value: value if value is None or isinstance(value, uuid.UUID) else uuid.UUID(value)
    if isinstance(field, models.CharField | models.TextField | models.IntegerField | models.AutoField):
        return lambda value: value
    return partial(python_value, field)


def instance_of(model: type[models.Model], names: Sequence[str], row: Sequence[Any]) -> Any:
    """A model instance from raw values of the fields `names`; the other fields are deferred."""
    attnames, order = _instance_plan(model, tuple(names))
    if len(row) != len(names):
        raise ValueError(f"{len(row)} values for {len(names)} fields")
    return model.from_db(DEFAULT_DB_ALIAS, attnames, [read(row[index]) for index, read in order])


@cache
def _instance_plan(
    model: type[models.Model], names: tuple[str, ...]
) -> tuple[list[str], list[tuple[int, Callable[[Any], Any]]]]:
    """For `instance_of`: the attribute names in the model's field order (what `from_db` takes) and, for each, the
    position of its value in the row and its reader (each API call builds a few instances this way)."""
    fields: dict[str, tuple[int, Any]] = {}
    for index, name in enumerate(names):
        field: Any = model._meta.get_field(name)
        fields[field.attname] = (index, field)
    attnames = [field.attname for field in model._meta.concrete_fields if field.attname in fields]
    return attnames, [(fields[name][0], partial(python_value, fields[name][1])) for name in attnames]


def update_by_key(
    model: type[models.Model],
    assignments: str,
    columns: dict[str, str],
    rows: Sequence[Sequence[Any]],
    where: str = "",
) -> int:
    """One UPDATE of many rows, each with its own values: `rows` are (pk, value...) for the `columns` (alias: the
    model field whose type the value has), named `v.<alias>` in `assignments` and `where` (e.g.
    `plan = t.plan + v.delta`, `t.plan + v.delta <= v.limit`).
    PostgreSQL joins arrays of the values (one statement: `executemany` would run one per row); SQLite runs the
    statement per row (cheap in-process). Returns the number of rows changed."""
    if not rows:
        return 0
    connection = _connection()
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column)
    condition = f" AND {where}" if where else ""
    with hot_cursor() as cursor, connection.wrap_database_errors:
        if connection.vendor == "postgresql":
            types = [model._meta.pk.db_type(connection)] + [
                model._meta.get_field(field).db_type(connection)  # type: ignore[union-attr]
                for field in columns.values()
            ]
            # One array a column, unnested: the planner sees a small input and probes the primary key for
            # each row (a VALUES list of 1,000 rows made it hash-join the whole table: 170 ms for 1,000 rows).
            arrays = ", ".join(f"%s::{kind}[]" for kind in types)
            names = ", ".join(["id", *columns])
            sql = (
                f"UPDATE {table} AS t SET {assignments} FROM unnest({arrays}) AS v({names}) "  # noqa: S608  # nosec B608
                f"WHERE t.{pk} = v.id{condition}"
            )
            cursor.execute(sql, [list(column) for column in zip(*rows, strict=True)])
            return cursor.rowcount
        values = ", ".join(f"%s AS {name}" for name in ["id", *columns])
        sql = (
            f"UPDATE {table} AS t SET {assignments} FROM (SELECT {values}) AS v "  # noqa: S608  # nosec B608
            f"WHERE t.{pk} = v.id{condition}"
        )
        cursor.executemany(sql, rows)
        return cursor.rowcount

"""Indexes for the directory pages at 100,000 users (issue 4, bench/directory_import.py).

- The Users page lists live users by user name: a partial index in that order lets a page read 50 index
  entries instead of sorting the table. The Groups tab does the same by display name.
- PostgreSQL only: a tiny index of the live users alone, so that counting them reads it instead of the table
  (34 -> 17 ms at 100,000). Not on SQLite, whose planner would then read every live user through it, even for a
  page that an index in user-name order serves in 50 steps.
- Searching users (icontains on user name, display name, email, given and family name):
  on PostgreSQL, trigram GIN indexes on UPPER(col), the expression Django's icontains compiles to;
  on SQLite, an FTS5 trigram table kept in step by triggers (directory.selectors.search_users reads it).
"""

from django.db import migrations, models

SEARCH_COLUMNS = ["user_name", "display_name", "email", "given_name", "family_name"]

USER_TABLE = "directory_directoryuser"
FTS_TABLE = "directory_user_fts"
# Each user's rowid in FTS_TABLE: users have UUID keys, and SQLite's implicit rowid may change on VACUUM.
KEY_TABLE = "directory_user_fts_key"


def _sqlite_create(schema_editor):
    """A contentless FTS5 trigram index (it keeps no copy of the text, only the index), kept in step by
    triggers. Contentless tables forget what they indexed, so removing a row passes its old values
    ('delete' command); an update re-indexes only when a searched column changed."""
    cols = ", ".join(SEARCH_COLUMNS)

    def values(row):
        return ", ".join(f"{row}.{c}" for c in SEARCH_COLUMNS)

    def key(row):
        return f"(SELECT rowid FROM {KEY_TABLE} WHERE user_id = {row}.id)"

    def index(row):
        return f"INSERT INTO {FTS_TABLE} (rowid, {cols}) VALUES ({key(row)}, {values(row)});"

    def unindex(row):
        return f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, {cols}) VALUES ('delete', {key(row)}, {values(row)});"

    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in SEARCH_COLUMNS)
    for statement in [
        f"CREATE TABLE {KEY_TABLE} (rowid INTEGER PRIMARY KEY, user_id char(32) NOT NULL UNIQUE)",
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5({cols}, content='', tokenize='trigram')",
        f"INSERT INTO {KEY_TABLE} (user_id) SELECT id FROM {USER_TABLE}",
        f"INSERT INTO {FTS_TABLE} (rowid, {cols}) "
        f"SELECT k.rowid, {values('u')} FROM {USER_TABLE} u JOIN {KEY_TABLE} k ON k.user_id = u.id",
        f"CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON {USER_TABLE} BEGIN "
        f"INSERT INTO {KEY_TABLE} (user_id) VALUES (new.id); {index('new')} END",
        f"CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF {cols} ON {USER_TABLE} WHEN {changed} BEGIN "
        f"{unindex('old')} {index('new')} END",
        f"CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON {USER_TABLE} BEGIN "
        f"{unindex('old')} DELETE FROM {KEY_TABLE} WHERE user_id = old.id; END",
    ]:
        schema_editor.execute(statement)


def _sqlite_drop(schema_editor):
    for statement in [
        f"DROP TRIGGER IF EXISTS {FTS_TABLE}_insert",
        f"DROP TRIGGER IF EXISTS {FTS_TABLE}_update",
        f"DROP TRIGGER IF EXISTS {FTS_TABLE}_delete",
        f"DROP TABLE IF EXISTS {FTS_TABLE}",
        f"DROP TABLE IF EXISTS {KEY_TABLE}",
    ]:
        schema_editor.execute(statement)


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _sqlite_create(schema_editor)
    elif vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS directory_user_live_count ON {USER_TABLE} (deleted_at) "
            "WHERE deleted_at IS NULL"
        )
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for column in SEARCH_COLUMNS:
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS directory_user_{column}_trgm ON {USER_TABLE} "
                f'USING gin ((UPPER(("{column}")::text)) gin_trgm_ops)'
            )


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        _sqlite_drop(schema_editor)
    elif vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS directory_user_live_count")
        for column in SEARCH_COLUMNS:
            schema_editor.execute(f"DROP INDEX IF EXISTS directory_user_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [("directory", "0002_membership_indexes")]

    operations = [
        migrations.AddIndex(
            model_name="directoryuser",
            index=models.Index(
                fields=["user_name", "id"],
                condition=models.Q(deleted_at__isnull=True),
                name="directory_user_live_name_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="directorygroup",
            index=models.Index(
                fields=["display_name", "id"],
                condition=models.Q(deleted_at__isnull=True),
                name="directory_group_live_name_idx",
            ),
        ),
        migrations.RunPython(create, drop, elidable=False),
    ]

"""The test settings with a SQLite database that can't take writes, for the fault tests' servers:
FAULTS_SQLITE_READ_ONLY=1 opens the file read-only (`mode=ro`: as root, file modes are no protection),
FAULTS_SQLITE_MAX_PAGES=N caps its size at N pages (SQLite then answers "database or disk is full")."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES

_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    if os.environ.get("FAULTS_SQLITE_READ_ONLY"):
        _db["NAME"] = f"file:{_db['NAME']}?mode=ro"
    if pages := os.environ.get("FAULTS_SQLITE_MAX_PAGES"):
        _db["OPTIONS"]["init_command"] += f" PRAGMA max_page_count={int(pages)};"

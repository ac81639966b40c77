"""Settings for the test suite: production settings (DEBUG off) with a throwaway secret and a fast hasher.

DATABASE_URL chooses the database as in production: SQLite by default, PostgreSQL with
DATABASE_URL=postgres://postgres@127.0.0.1:5432/test (pytest-django creates test_<name> beside it).
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")

from kiroconsole.settings import *  # noqa: F403
from kiroconsole.settings import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP; production redirects
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A test database file rather than Django's in-memory default: threads (the concurrency tests) then meet SQLite's
    # real locking, where a second writer waits for the first as in production, instead of the shared in-memory
    # cache's immediate "database table is locked". One file per test process, so parallel runs don't collide.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"kiroconsole-test-{os.getpid()}.sqlite3")
    }

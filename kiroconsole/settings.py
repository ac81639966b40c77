"""Settings, read from the environment (CONTRACTS.md "Set-up and serving").

Environment variables:
  DATABASE_URL          default: SQLite file var/db.sqlite3 in the project; postgres://... in production
  SECRET_KEY            required unless DEBUG is on
  DEBUG                 "1"/"true" turns debug on; off by default (the dev command turns it on)
  ALLOWED_HOSTS         comma-separated; default "127.0.0.1,localhost" (plus "testserver" under DEBUG)
  CSRF_TRUSTED_ORIGINS  comma-separated origins, e.g. https://kiro.example.com
  SECURE_SSL_REDIRECT   default on in production; turn off only when a proxy already redirects
  SECURE_PROXY_SSL      "1" trusts X-Forwarded-Proto from the proxy in front of the app
  SECURE_HSTS_SECONDS   default one year in production
  Email (alerts): EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, DEFAULT_FROM_EMAIL
  LOG_LEVEL             default INFO
  KIRO_GOVCLOUD_PRICE_MULTIPLIER  prices in the GovCloud Regions relative to the list prices; default 1.2
  METERING_GROUP_COMMIT "0" records each single usage event in a transaction of its own; default on (see below)
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# The manage.py command this process runs, if any (None under gunicorn, the WSGI app or pytest).
MANAGE_COMMAND = sys.argv[1] if Path(sys.argv[0]).name == "manage.py" and len(sys.argv) > 1 else None
SERVING_COMMANDS = {"runserver", "testserver", "runmodwsgi"}  # commands that answer requests

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdefghijkl"  # noqa: S105
    elif MANAGE_COMMAND is not None and MANAGE_COMMAND not in SERVING_COMMANDS:
        # A command that serves no request (makemigrations, migrate, check, an import) signs nothing that outlives
        # it: a key of its own, random, lets it run without the production secret. Serving still refuses below.
        SECRET_KEY = secrets.token_urlsafe(50)
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. In production set the SECRET_KEY environment variable to a long random "
            "value (for example: python -c 'import secrets; print(secrets.token_urlsafe(50))'). "
            "For local development use ./dev start, which turns DEBUG on."
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
if DEBUG:
    ALLOWED_HOSTS += ["testserver"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "kiroconsole.apps.KiroAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",  # its widget templates, for FORM_RENDERER below
    "django_htmx",
    "django_tables2",
    "django_filters",
    "ninja",
    "axes",
    "kiroconsole.apps.KiroConsoleConfig",
    "accounts",
    "directory",
    "subscriptions",
    "credits",
]

MIDDLEWARE = [
    "kiroconsole.middleware.TokenApiMiddleware",  # /api/: API_MIDDLEWARE only
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "kiroconsole.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

# What a request under /api/ goes through (kiroconsole.middleware.TokenApiMiddleware): bearer tokens, JSON, no
# session, cookie, CSRF token, messages or htmx. The security headers and the host check stay.
API_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "kiroconsole.urls"
WSGI_APPLICATION = "kiroconsole.wsgi.application"
AUTH_USER_MODEL = "kiroconsole.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kiroconsole.context_processors.console",
                "credits.context_processors.notifications",
            ],
        },
    },
]
# Form widgets rendered by the templates above, so that templates/django/forms/widgets/ can write Django's select
# without an include per option (the same HTML); the rest are Django's own (the "django.forms" app).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# --- Database -------------------------------------------------------------------------------------------
DEFAULT_SQLITE_URL = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASE_URL = os.environ.get("DATABASE_URL", DEFAULT_SQLITE_URL)
# Persistent connections on both databases: on SQLite, closing the last connection checkpoints the WAL and
# syncs the file, which cost about 40% of a small write request (measured with the SCIM bench).
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # Concurrent use: WAL lets readers run beside the writer, IMMEDIATE takes the write lock at BEGIN so two
    # writers queue (instead of failing with "database is locked" on upgrade), and the timeout is how long
    # they queue.
    _db["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    }
else:
    _db.setdefault("OPTIONS", {})
if _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a connection's health check at most once a second (kiroconsole/postgresql/base.py).
    _db["ENGINE"] = "kiroconsole.postgresql"
    # Metering's statements (`kiroconsole.bulk.hot_cursor`) are prepared by PostgreSQL the fifth time a connection
    # runs them; Django's own queries are never prepared. DATABASE_PREPARED_STATEMENTS=0 turns it off, for a pooler
    # in transaction mode that does not carry prepared statements (PgBouncer before 1.21).
    if os.environ.get("DATABASE_PREPARED_STATEMENTS", "1") != "0":
        _db["OPTIONS"].setdefault("prepare_threshold", 5)
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Log-in throttling (django-axes): 5 failures for one user name from one address lock that pair for 15
# minutes; the lock-out answers 429 with a readable page. `manage.py axes_reset` releases every lock.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# Sessions: a long working day from log-in (no write per request just to slide the expiry).
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_COOKIE_AGE", 12 * 3600))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# --- Security headers -----------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Load balancers probe the health check over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
if env_bool("SECURE_PROXY_SSL", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Static files ---------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Internationalisation: the console shows UTC and says so. --------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = True

# --- Metering --------------------------------------------------------------------------------------------------
# Group commit of single usage events (credits.services.metering.usage_record_one): events that a worker's threads
# receive while another thread records go into the next transaction together. "0" records each alone.
METERING_GROUP_COMMIT = env_bool("METERING_GROUP_COMMIT", True)

# --- Billing (DOMAIN.md §3) ------------------------------------------------------------------------------
try:
    KIRO_GOVCLOUD_PRICE_MULTIPLIER = Decimal(os.environ.get("KIRO_GOVCLOUD_PRICE_MULTIPLIER", "1.2"))
except ArithmeticError:
    KIRO_GOVCLOUD_PRICE_MULTIPLIER = Decimal(0)
if not KIRO_GOVCLOUD_PRICE_MULTIPLIER.is_finite() or KIRO_GOVCLOUD_PRICE_MULTIPLIER <= 0:
    raise ImproperlyConfigured("KIRO_GOVCLOUD_PRICE_MULTIPLIER must be a positive number, like 1.2.")

# --- Tables ---------------------------------------------------------------------------------------------
DJANGO_TABLES2_TEMPLATE = "components/tables2_htmx.html"
DJANGO_TABLES2_PAGE_RANGE = 7

# --- Email (alerts) -------------------------------------------------------------------------------------
MAILERS: dict[str, dict[str, Any]]
if DEBUG and not os.environ.get("EMAIL_HOST"):
    # In development, mail (alerts) is written to the console.
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    # Production: SMTP, by default to the local mail relay (localhost:25), as Django does.
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": os.environ.get("EMAIL_HOST", "localhost"),
                "port": int(os.environ.get("EMAIL_PORT", 25 if not os.environ.get("EMAIL_HOST") else 587)),
                "username": os.environ.get("EMAIL_HOST_USER", ""),
                "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", bool(os.environ.get("EMAIL_HOST"))),
            },
        }
    }
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "kiro-console@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

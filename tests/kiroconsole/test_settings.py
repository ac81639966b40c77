"""Production settings, security headers, the health check and start-up refusals."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "x7Rk2pQ9vL4mN8sT1wY6zA3bC5dE0fG-hJ_kM9nP2qR4sT6uV8wX0yZ1aB3cD5eF",
    "ALLOWED_HOSTS": "kiro.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://kiro.example.com",
    "DATABASE_URL": "sqlite:///:memory:",
}


def run_manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    clean.update(env, DJANGO_SETTINGS_MODULE="kiroconsole.settings")
    return subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_production_settings_pass_the_deploy_check():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr + result.stdout


def test_missing_secret_key_in_production_refuses_to_start():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = run_manage("runserver", "--noreload", "127.0.0.1:0", env=env | {"SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_missing_secret_key_refuses_to_serve_through_wsgi():
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    env |= {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, "-c", "import kiroconsole.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_commands_that_serve_nothing_run_without_the_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = run_manage("makemigrations", "--check", "--dry-run", env=env | {"SECRET_KEY": ""})
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout


def test_pages_send_a_strict_content_security_policy_with_a_nonce(admin_client):
    response = admin_client.get("/")
    csp = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert "'unsafe-inline'" not in csp
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert f'nonce="{nonce}"' in response.content.decode()  # the htmx script tag
    assert "/static/django_htmx/htmx" in response.content.decode()


def test_security_headers(admin_client):
    response = admin_client.get("/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_production_cookies_are_secure(settings):
    assert settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE
    assert settings.SECURE_HSTS_SECONDS >= 31536000


def test_sqlite_is_configured_for_concurrent_use(settings):
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.sqlite3":
        pytest.skip("SQLite only")
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert db["OPTIONS"]["timeout"] >= 5
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def test_healthz_answers_200_when_the_database_answers(anonymous, db):
    response = anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_healthz_answers_503_when_the_database_does_not(anonymous, db):
    from django.db import connection
    from django.db.utils import OperationalError

    with mock.patch.object(connection, "cursor", side_effect=OperationalError("down")):
        response = anonymous.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "OperationalError"}

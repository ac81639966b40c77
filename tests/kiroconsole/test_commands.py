"""seed_demo and ensure_admin: idempotent (seed_demo's subscriptions too), audited as commands."""

from __future__ import annotations

from django.core.management import call_command

from kiroconsole.models import ApiToken, AuditEvent, User
from subscriptions.models import GroupAssignment, Subscription, SubscriptionPeriod


def test_seed_demo_is_idempotent(db, capsys):
    call_command("seed_demo")

    def counts():
        models = (User, ApiToken, AuditEvent, Subscription, SubscriptionPeriod, GroupAssignment)
        return [model.objects.count() for model in models]

    before = counts()
    assert before[3] > 0  # subscriptions
    call_command("seed_demo")
    assert counts() == before
    events = before[2]
    assert {u.username: u.role for u in User.objects.all()} == {
        "dana.support": "support",
        "vic.viewer": "viewer",
        "kiro-metering": "metering",
    }
    assert AuditEvent.objects.filter(source="command", actor_label="manage.py seed_demo").count() == events


def test_ensure_admin_creates_an_administrator_once_and_prints_the_login(db, capsys, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("ensure_admin")
    first = capsys.readouterr().out
    assert "Log in as: admin" in first
    password = first.split("Password:")[1].split()[0]
    admin = User.objects.get(username="admin")
    assert admin.role == "administrator" and admin.check_password(password)
    call_command("ensure_admin")
    again = capsys.readouterr().out
    assert password in again
    assert User.objects.filter(username="admin").count() == 1
    assert AuditEvent.objects.filter(action="console_user.create").count() == 1

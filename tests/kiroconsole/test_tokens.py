"""API tokens: stored hashed, shown once, revocable, expiring; the page and the command."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from kiroconsole.audit import Actor
from kiroconsole.models import ApiToken, AuditEvent
from kiroconsole.services import api_token_authenticate, api_token_create, api_token_revoke
from tests.conftest import ApiClient

ACTOR = Actor.for_command("test")


def test_token_is_stored_only_as_its_hash(metering_user):
    token, raw = api_token_create(user=metering_user, name="metering", expires_at=None, actor=ACTOR)
    assert raw.startswith("kiro_") and len(raw) > 40
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    stored = ApiToken.objects.filter(pk=token.pk).values()[0]
    assert raw not in str(stored)
    assert raw.startswith(token.prefix)
    assert AuditEvent.objects.get(action="api_token.create").after["prefix"] == token.prefix


def test_token_authenticates_and_marks_last_use(metering_user):
    token, raw = api_token_create(user=metering_user, name="m", expires_at=None, actor=ACTOR)
    assert token.last_used_at is None
    assert api_token_authenticate(raw).pk == token.pk
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize("raw", ["", "kiro_", "kiro_" + "x" * 43, "not-even-our-format", "kiro_" + "a" * 500])
def test_malformed_or_unknown_tokens_do_not_authenticate(db, raw):
    assert api_token_authenticate(raw) is None


def test_revoked_expired_and_deactivated_tokens_do_not_authenticate(metering_user, admin_user):
    revoked, raw_revoked = api_token_create(user=metering_user, name="r", expires_at=None, actor=ACTOR)
    api_token_revoke(token=revoked, actor=ACTOR)
    assert api_token_authenticate(raw_revoked) is None

    expiring, raw_expiring = api_token_create(
        user=metering_user, name="e", expires_at=timezone.now() + timedelta(seconds=30), actor=ACTOR
    )
    ApiToken.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api_token_authenticate(raw_expiring) is None

    _, raw_admin = api_token_create(user=admin_user, name="a", expires_at=None, actor=ACTOR)
    admin_user.is_active = False
    admin_user.save()
    assert api_token_authenticate(raw_admin) is None


def test_revoking_twice_records_one_change(metering_user):
    token, _ = api_token_create(user=metering_user, name="r", expires_at=None, actor=ACTOR)
    api_token_revoke(token=token, actor=ACTOR)
    api_token_revoke(token=token, actor=ACTOR)
    assert AuditEvent.objects.filter(action="api_token.revoke").count() == 1


def test_token_needs_a_name_and_a_future_expiry(metering_user):
    with pytest.raises(ValidationError) as err:
        api_token_create(user=metering_user, name="  ", expires_at=timezone.now(), actor=ACTOR)
    assert set(err.value.message_dict) == {"name", "expires_at"}


def test_revoked_token_gets_401_from_the_api(metering_user):
    token, raw = api_token_create(user=metering_user, name="m", expires_at=None, actor=ACTOR)
    client = ApiClient(raw)
    assert client.get("/api/v1/me").status_code == 200
    api_token_revoke(token=token, actor=ACTOR)
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}


# --- A token found valid is taken as valid for a second by the process that checked it -----------------------


@pytest.fixture
def fresh_checks():
    from kiroconsole import services

    services.forget_verified_tokens()
    yield services
    services.forget_verified_tokens()


def test_a_token_checked_within_the_second_is_not_read_again(metering_user, fresh_checks, django_assert_num_queries):
    _, raw = api_token_create(user=metering_user, name="m", expires_at=None, actor=ACTOR)
    first = api_token_authenticate(raw)
    with django_assert_num_queries(0):
        again = api_token_authenticate(raw)
    assert again is not None and again is not first and again.pk == first.pk
    assert again.user.username == metering_user.username


def test_a_revocation_by_another_process_holds_within_the_second(metering_user, fresh_checks, monkeypatch):
    token, raw = api_token_create(user=metering_user, name="m", expires_at=None, actor=ACTOR)
    clock = [100.0]
    monkeypatch.setattr(fresh_checks.time, "monotonic", lambda: clock[0])
    assert api_token_authenticate(raw) is not None
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())  # another server: no signal here
    clock[0] += 0.5
    assert api_token_authenticate(raw) is not None  # still taken as valid, within the second
    clock[0] += 0.6
    assert api_token_authenticate(raw) is None
    clock[0] += 0.1
    assert api_token_authenticate(raw) is None  # a refused token is never kept


def test_an_expiry_holds_to_the_instant(metering_user, fresh_checks, monkeypatch):
    expires = timezone.now() + timedelta(minutes=5)
    _, raw = api_token_create(user=metering_user, name="m", expires_at=expires, actor=ACTOR)
    assert api_token_authenticate(raw) is not None
    monkeypatch.setattr(fresh_checks.timezone, "now", lambda: expires + timedelta(microseconds=1))
    assert api_token_authenticate(raw) is None


def test_changes_in_this_process_hold_at_once(metering_user, fresh_checks):
    from kiroconsole.roles import Role, user_role
    from kiroconsole.services import console_user_set_role

    _, raw = api_token_create(user=metering_user, name="m", expires_at=None, actor=ACTOR)
    assert user_role(api_token_authenticate(raw).user) == Role.METERING
    console_user_set_role(user=metering_user, role=Role.VIEWER, actor=ACTOR)
    assert user_role(api_token_authenticate(raw).user) == Role.VIEWER
    metering_user.is_active = False
    metering_user.save()
    assert api_token_authenticate(raw) is None


def test_the_check_may_run_on_every_call(metering_user, fresh_checks, settings, django_assert_num_queries):
    settings.API_TOKEN_CHECK_SECONDS = 0
    _, raw = api_token_create(user=metering_user, name="m", expires_at=None, actor=ACTOR)
    api_token_authenticate(raw)
    with django_assert_num_queries(1):
        assert api_token_authenticate(raw) is not None


# --- The page ----------------------------------------------------------------------------------------------


def test_administrator_creates_a_token_and_sees_it_once(admin_client, metering_user):
    response = admin_client.post("/tokens/new/", {"user": "kiro-service", "name": "Kiro service", "expires": "90"})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    token = ApiToken.objects.get(name="Kiro service")
    page = response.content.decode()
    raw = page.split('id="raw-token" class="token-value" type="text" readonly value="')[1].split('"')[0]
    assert api_token_authenticate(raw).pk == token.pk
    listing = admin_client.get("/tokens/").content.decode()
    assert "Kiro service" in listing and raw not in listing
    event = AuditEvent.objects.get(action="api_token.create")
    assert event.actor_label == "alice.admin" and event.source == "web"


def test_token_form_shows_errors_at_the_field(admin_client):
    response = admin_client.post("/tokens/new/", {"user": "nobody", "name": "", "expires": "7"})
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('class="error"') == 3
    assert ApiToken.objects.count() == 0


def test_revoke_asks_first_then_revokes(admin_client, metering_user):
    token, _ = api_token_create(user=metering_user, name="To revoke", expires_at=None, actor=ACTOR)
    confirm = admin_client.get(f"/tokens/{token.pk}/revoke/")
    assert "Revoke “To revoke”?" in confirm.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None
    response = admin_client.post(f"/tokens/{token.pk}/revoke/", follow=True)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "is revoked" in response.content.decode()


def test_token_list_filters_by_status(admin_client, metering_user):
    api_token_create(user=metering_user, name="Still good", expires_at=None, actor=ACTOR)
    gone, _ = api_token_create(user=metering_user, name="Gone", expires_at=None, actor=ACTOR)
    api_token_revoke(token=gone, actor=ACTOR)
    page = admin_client.get("/tokens/?status=revoked").content.decode()
    assert "Gone" in page and "Still good" not in page
    page = admin_client.get("/tokens/?status=active").content.decode()
    assert "Gone" not in page and "Still good" in page


# --- The command -------------------------------------------------------------------------------------------


def test_create_api_token_command_prints_the_token_once(metering_user, capsys):
    call_command("create_api_token", "kiro-service", "--name", "ci")
    out = capsys.readouterr()
    raw = out.out.strip()
    token = api_token_authenticate(raw)
    assert token.name == "ci" and token.user == metering_user
    assert "shown only now" in out.err
    assert AuditEvent.objects.get(action="api_token.create").source == "command"


def test_create_api_token_for_an_unknown_user_is_a_usage_error(db):
    with pytest.raises(CommandError) as err:
        call_command("create_api_token", "nobody")
    assert err.value.returncode == 2
    assert "No console user named 'nobody'" in str(err.value)

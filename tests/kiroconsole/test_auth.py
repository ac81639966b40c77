"""Log-in, log-out, throttling and sessions."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from kiroconsole.models import AuditEvent
from tests.factories import PASSWORD


def log_in(client, username, password=PASSWORD, next_url=None):
    data = {"username": username, "password": password}
    url = "/login/" + (f"?next={next_url}" if next_url else "")
    if next_url:
        data["next"] = next_url
    return client.post(url, data)


def test_log_in_with_the_standard_fields_lands_on_the_dashboard(client, admin_user):
    response = log_in(client, "alice.admin")
    assert response.status_code == 302
    assert response["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert "alice.admin" in page.content.decode()
    assert "Administrator" in page.content.decode()


def test_log_in_is_audited_with_the_address(client, admin_user):
    log_in(client, "alice.admin")
    event = AuditEvent.objects.get(action="console_user.login")
    assert event.actor_label == "alice.admin"
    assert event.source == "web"
    assert event.remote_addr == "127.0.0.1"


def test_wrong_password_shows_a_clear_error_and_logs_nobody_in(client, admin_user):
    response = log_in(client, "alice.admin", "wrong password")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert client.get("/").status_code == 302


def test_session_key_changes_at_log_in(client, admin_user):
    client.get("/login/")
    client.session.save()
    before = client.session.session_key
    log_in(client, "alice.admin")
    assert client.session.session_key != before


def test_next_parameter_cannot_redirect_off_site(client, admin_user):
    response = log_in(client, "alice.admin", next_url="https://evil.example.com/")
    assert response["Location"] == "/"
    response = log_in(client, "alice.admin", next_url="//evil.example.com/")
    assert response["Location"] == "/"


def test_next_parameter_returns_to_the_page_asked_for(client, admin_user):
    response = log_in(client, "alice.admin", next_url="/audit/")
    assert response["Location"] == "/audit/"


def test_log_out_is_a_post_and_ends_the_session(client, admin_client):
    assert admin_client.get("/logout/").status_code == 405
    response = admin_client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert admin_client.get("/").status_code == 302
    assert AuditEvent.objects.filter(action="console_user.logout").count() == 1


def test_five_failures_lock_the_user_name_with_a_readable_429(client, admin_user):
    for _ in range(4):
        assert log_in(client, "alice.admin", "wrong").status_code == 200
    locked = log_in(client, "alice.admin", "wrong")
    assert locked.status_code == 429
    assert "Too many failed log-in attempts" in locked.content.decode()
    # The right password does not get through while locked.
    assert log_in(client, "alice.admin").status_code == 429


def test_lockout_is_per_user_name(client, admin_user, support_user):
    for _ in range(5):
        log_in(client, "alice.admin", "wrong")
    assert log_in(client, "sam.support").status_code == 302


def test_releasing_the_lock_lets_the_user_in_again(client, admin_user):
    for _ in range(5):
        log_in(client, "alice.admin", "wrong")
    assert log_in(client, "alice.admin").status_code == 429
    call_command("axes_reset_username", "alice.admin")
    assert log_in(client, "alice.admin").status_code == 302


def test_expired_session_during_htmx_request_redirects_the_whole_page(anonymous, db):
    response = anonymous.get(
        "/audit/?q=x",
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/audit/?source=api"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=%2Faudit%2F%3Fsource%3Dapi"
    assert response.content == b""


def test_expired_session_without_htmx_is_a_normal_redirect(anonymous, db):
    response = anonymous.get("/audit/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/audit/"


@pytest.mark.parametrize("active", [False])
def test_deactivated_console_user_cannot_log_in(client, admin_user, active):
    admin_user.is_active = active
    admin_user.save()
    assert log_in(client, "alice.admin").status_code == 200

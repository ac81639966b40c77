"""SCIM tokens: per directory, stored hashed, shown once, valid a year, at most two valid at a time (even when two
creations race), last use recorded, revocable; on the Identity Center page and with create_scim_token."""

from __future__ import annotations

import hashlib
import importlib
import threading
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import Region
from directory import services
from directory.models import ScimToken
from kiroconsole.audit import Actor
from kiroconsole.errors import ConflictError
from kiroconsole.models import AuditEvent
from tests.directory.scim.conftest import ScimClient, patch_body, user_body

ACTOR = Actor.for_command("test")


def test_a_token_is_stored_only_as_its_hash_and_valid_for_a_year(identity_center):
    before = timezone.now()
    token, raw = services.scim_token_create(identity_center=identity_center, actor=ACTOR)
    assert raw.startswith("scim_") and len(raw) > 40 and raw.startswith(token.prefix)
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(ScimToken.objects.filter(pk=token.pk).values()[0])
    assert before + timedelta(days=365) <= token.expires_at <= timezone.now() + timedelta(days=365)
    assert (token.identity_center, token.status, token.last_used_at) == (identity_center, "active", None)
    event = AuditEvent.objects.get(action="scim_token.create")
    assert event.after["prefix"] == token.prefix and raw not in str(event.after)


def test_at_most_two_valid_tokens_per_directory(identity_center, second_identity_center):
    first, _ = services.scim_token_create(identity_center=identity_center, actor=ACTOR)
    services.scim_token_create(identity_center=identity_center, actor=ACTOR)
    with pytest.raises(ConflictError) as caught:
        services.scim_token_create(identity_center=identity_center, actor=ACTOR)
    assert "already has 2 valid SCIM tokens" in caught.value.message_dict["token"][0]
    # Another directory has its own two.
    services.scim_token_create(identity_center=second_identity_center, actor=ACTOR)
    # Revoking one makes room.
    services.scim_token_revoke(token=first, actor=ACTOR)
    services.scim_token_create(identity_center=identity_center, actor=ACTOR)
    assert ScimToken.objects.valid().filter(identity_center=identity_center).count() == 2
    assert ScimToken.objects.filter(identity_center=identity_center).count() == 3


def test_an_expired_token_no_longer_counts(identity_center):
    old, _ = services.scim_token_create(identity_center=identity_center, actor=ACTOR)
    services.scim_token_create(identity_center=identity_center, actor=ACTOR)
    ScimToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    services.scim_token_create(identity_center=identity_center, actor=ACTOR)
    assert ScimToken.objects.valid().filter(identity_center=identity_center).count() == 2


def test_the_database_refuses_a_third_valid_token(identity_center):
    """The rule holds below the service too: valid tokens hold one of two slots, unique per directory."""
    services.scim_token_create(identity_center=identity_center, actor=ACTOR)
    services.scim_token_create(identity_center=identity_center, actor=ACTOR)
    for slot in (1, 2, 3):
        with pytest.raises(IntegrityError), transaction.atomic():
            ScimToken.objects.create(
                identity_center=identity_center,
                prefix="scim_x",
                token_hash=f"{slot:064x}",
                slot=slot,
                expires_at=timezone.now() + timedelta(days=1),
            )
    with pytest.raises(IntegrityError), transaction.atomic():  # a revoked token holds no slot
        ScimToken.objects.filter(identity_center=identity_center, slot=1).update(revoked_at=timezone.now())


@pytest.fixture
def racing_directory(transactional_db):
    """A directory on a transactional database (the racing threads commit), with one valid token already."""
    importlib.import_module("accounts.migrations.0002_regions").seed_regions(apps, None)
    account = accounts_services.aws_account_create(
        account_id="111111111111", name="Acme", kind="management", actor=ACTOR
    )
    instance = accounts_services.identity_center_create(
        identity_store_id="d-1234567890",
        name="Acme",
        region=Region.objects.get(code="us-east-1"),
        account=account,
        kind="organization",
        actor=ACTOR,
    )
    services.scim_token_create(identity_center=instance, actor=ACTOR)
    return instance


@pytest.mark.parametrize("run", range(3))
def test_two_simultaneous_creations_make_at_most_two_valid_tokens(racing_directory, run):
    barrier = threading.Barrier(2, timeout=10)
    results: list[object] = [None, None]

    def create(index: int) -> None:
        try:
            barrier.wait()
            results[index] = services.scim_token_create(identity_center=racing_directory, actor=ACTOR)
        except Exception as exc:  # the test inspects whatever each thread got
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    created = [r for r in results if isinstance(r, tuple)]
    conflicts = [r for r in results if isinstance(r, ConflictError)]
    assert (len(created), len(conflicts)) == (1, 1), results
    assert ScimToken.objects.valid().filter(identity_center=racing_directory).count() == 2
    assert AuditEvent.objects.filter(action="scim_token.create").count() == 2


def test_a_token_marks_its_last_use_at_most_once_a_minute(scim_token, django_assert_num_queries):
    token, raw = scim_token
    client = ScimClient(raw)
    assert client.read("/ServiceProviderConfig").status_code == 200
    token.refresh_from_db()
    first_use = token.last_used_at
    assert first_use is not None
    with django_assert_num_queries(1):  # the look-up only: no second write within the minute
        assert client.read("/ServiceProviderConfig").status_code == 200
    ScimToken.objects.filter(pk=token.pk).update(last_used_at=first_use - timedelta(minutes=2))
    client.read("/ServiceProviderConfig")
    token.refresh_from_db()
    assert token.last_used_at > first_use - timedelta(minutes=2)


def test_a_revoked_token_stops_working_at_once(scim_token):
    token, raw = scim_token
    client = ScimClient(raw)
    assert client.send("POST", "/Users", user_body("ada.lovelace")).status_code == 201
    services.scim_token_revoke(token=token, actor=ACTOR)
    assert client.send("POST", "/Users", user_body("alan.turing")).status_code == 401
    services.scim_token_revoke(token=token, actor=ACTOR)  # twice: one audit event
    assert AuditEvent.objects.filter(action="scim_token.revoke").count() == 1


def test_the_token_selects_the_directory(identity_center, second_identity_center):
    _, raw = services.scim_token_create(identity_center=second_identity_center, actor=ACTOR)
    response = ScimClient(raw).send("POST", "/Users", user_body("ada.lovelace"))
    assert response.status_code == 201
    assert second_identity_center.users.get().user_name == "ada.lovelace"
    assert not identity_center.users.exists()


# --- The command -----------------------------------------------------------------------------------------------


def test_create_scim_token_prints_the_token_once(identity_center, capsys):
    call_command("create_scim_token", "--identity-store", "d-1234567890")
    captured = capsys.readouterr()
    raw = captured.out.strip()
    token = ScimToken.objects.get()
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in captured.err and "shown only now" in captured.err
    assert ScimClient(raw).read("/Users").status_code == 200
    event = AuditEvent.objects.get(action="scim_token.create")
    assert (event.source, event.actor_label) == ("command", "manage.py create_scim_token")


def test_create_scim_token_finds_the_only_directory_and_refuses_a_third(identity_center, capsys):
    call_command("create_scim_token")
    call_command("create_scim_token")
    with pytest.raises(CommandError) as caught:
        call_command("create_scim_token")
    assert caught.value.returncode == 1
    assert "already has 2 valid SCIM tokens" in str(caught.value)


def test_create_scim_token_needs_a_known_directory(second_identity_center):
    with pytest.raises(CommandError) as caught:
        call_command("create_scim_token", "--identity-store", "d-0000000000")
    assert caught.value.returncode == 2
    with pytest.raises(CommandError) as caught:
        call_command("create_scim_token")  # two directories: which one?
    assert caught.value.returncode == 2 and "--identity-store" in str(caught.value)


# --- The Identity Center page ----------------------------------------------------------------------------------


def page(client, instance) -> str:
    response = client.get(f"/organization/identity-centers/{instance.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_an_administrator_creates_a_token_on_the_page_and_sees_it_once(admin_client, identity_center):
    html = page(admin_client, identity_center)
    assert "SCIM provisioning" in html and "http://testserver/scim/v2/" in html
    assert "No SCIM token yet" in html and "Create a SCIM token" in html
    response = admin_client.post(f"/organization/identity-centers/{identity_center.pk}/scim-tokens/new/")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    raw = (
        response.content.decode()
        .split('id="raw-token" class="token-value" type="text" readonly value="')[1]
        .split('"')[0]
    )
    token = ScimToken.objects.get()
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.created_by.username == "alice.admin"
    html = page(admin_client, identity_center)
    assert raw not in html and f"{token.prefix}…" in html
    event = AuditEvent.objects.get(action="scim_token.create")
    assert (event.source, event.actor_label) == ("web", "alice.admin")


def test_the_page_refuses_a_third_token_with_a_message(admin_client, identity_center):
    url = f"/organization/identity-centers/{identity_center.pk}/scim-tokens/new/"
    admin_client.post(url)
    admin_client.post(url)
    assert "revoke one to create another" in page(admin_client, identity_center)
    response = admin_client.post(url, follow=True)
    assert "already has 2 valid SCIM tokens" in response.content.decode()
    assert ScimToken.objects.count() == 2


def test_an_administrator_revokes_a_token_after_confirming(admin_client, identity_center, scim_token):
    token, raw = scim_token
    url = f"/organization/identity-centers/{identity_center.pk}/scim-tokens/{token.pk}/revoke/"
    confirm = admin_client.get(url)
    assert confirm.status_code == 200 and "This cannot be undone" in confirm.content.decode()
    response = admin_client.post(url, follow=True)
    assert "is revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.status == "revoked" and token.slot is None
    assert ScimClient(raw).read("/Users").status_code == 401


def test_a_token_is_revoked_only_from_its_own_directory(admin_client, identity_center, second_identity_center):
    token, _ = services.scim_token_create(identity_center=second_identity_center, actor=ACTOR)
    url = f"/organization/identity-centers/{identity_center.pk}/scim-tokens/{token.pk}/revoke/"
    assert admin_client.post(url).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_support_and_viewers_see_the_tokens_but_cannot_manage_them(
    support_client, viewer_client, identity_center, scim_token
):
    token, _ = scim_token
    for client in (support_client, viewer_client):
        html = page(client, identity_center)
        assert f"{token.prefix}…" in html
        assert "Create a SCIM token" not in html and "/revoke/" not in html
        assert client.post(f"/organization/identity-centers/{identity_center.pk}/scim-tokens/new/").status_code == 403
    assert ScimToken.objects.count() == 1


def test_the_page_shows_the_last_provisioning_activity(admin_client, identity_center, scim):
    assert "No provisioning yet" in page(admin_client, identity_center)
    user_id = scim.send("POST", "/Users", user_body("ada.lovelace")).json()["id"]
    scim.send("PATCH", f"/Users/{user_id}", patch_body({"op": "replace", "value": {"active": False}}))
    services.directory_user_update(  # a change from the console is not provisioning
        user=identity_center.users.get(), display_name="Countess", actor=ACTOR
    )
    html = page(admin_client, identity_center)
    activity = html.split('id="scim-activity"')[1].split("</ul>")[0]
    assert activity.count("<li>") == 2
    assert "directory_user.update" in activity and "directory_user.create" in activity
    assert "Last change through SCIM" in html


def test_support_sees_scim_tokens_in_the_admin_but_cannot_revoke_them(client, support_user, admin_user, scim_token):
    token, _ = scim_token
    revoke = {"action": "revoke", "_selected_action": [token.pk]}
    client.force_login(support_user)
    assert client.get("/admin/directory/scimtoken/").status_code == 200
    assert client.get(f"/admin/directory/scimtoken/{token.pk}/change/").status_code == 200  # read-only view
    assert client.post("/admin/directory/scimtoken/", revoke).status_code in (200, 302, 403)
    token.refresh_from_db()
    assert token.revoked_at is None  # support holds no right on tokens
    client.force_login(admin_user)
    client.post("/admin/directory/scimtoken/", revoke)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.get(action="scim_token.revoke").source == "admin"

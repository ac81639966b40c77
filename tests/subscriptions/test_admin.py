"""The Django admin for profiles, their settings and the model catalogue: support reads; administrators create and
edit profiles through the services; settings are changed on the settings page or the API only; the model
catalogue is a superuser's."""

from __future__ import annotations

from django.test import Client

from kiroconsole.models import AuditEvent
from subscriptions.models import AiModel, Profile, ProfileSettings
from tests.assertions import nothing_written
from tests.factories import AwsAccountFactory, ConsoleUserFactory, IdentityCenterFactory, ProfileFactory


def test_support_can_view_profiles_but_not_change_them(support_client):
    profile = ProfileFactory(name="Engineering (US)")
    assert support_client.get("/admin/subscriptions/profile/").status_code == 200
    url = f"/admin/subscriptions/profile/{profile.pk}/change/"
    response = support_client.get(url)
    assert response.status_code == 200
    assert "Engineering (US)" in response.content.decode()
    assert b'name="name"' not in response.content  # the read-only view
    with nothing_written():
        assert support_client.post(url, {"name": "Hijacked", "description": ""}).status_code == 403
        assert support_client.post("/admin/subscriptions/profile/add/", {}).status_code == 403
        assert (
            support_client.post(f"/admin/subscriptions/profile/{profile.pk}/delete/", {"post": "yes"}).status_code
            == 403
        )


def test_nobody_changes_settings_in_the_admin(support_client, admin_client):
    profile = ProfileFactory()
    url = f"/admin/subscriptions/profilesettings/{profile.pk}/change/"
    assert support_client.get(url).status_code == 200
    with nothing_written():
        for client in (support_client, admin_client):
            assert client.post(url, {"web_tools": ""}).status_code == 403


def test_support_and_administrators_cannot_change_ai_models_only_a_superuser_can(support_client, admin_client, db):
    model = AiModel.objects.get(code="claude-opus-4.5")
    url = f"/admin/subscriptions/aimodel/{model.pk}/change/"
    data = {"code": model.code, "name": model.name, "credit_multiplier": "2.50", "active": "on", "position": "2"}
    for client in (support_client, admin_client):
        assert client.get(url).status_code == 200
        with nothing_written():
            assert client.post(url, data).status_code == 403
            assert client.post("/admin/subscriptions/aimodel/add/", data | {"code": "new-model"}).status_code == 403
    superuser = Client()
    superuser.force_login(ConsoleUserFactory(username="root", is_superuser=True, is_staff=True))
    assert superuser.post(url, data).status_code == 302
    model.refresh_from_db()
    assert str(model.credit_multiplier) == "2.50"
    event = AuditEvent.objects.get(action="aimodel.change")
    assert (event.source, event.before["credit_multiplier"], event.after["credit_multiplier"]) == (
        "admin",
        "2.20",
        "2.50",
    )


def test_administrator_creating_a_duplicate_profile_in_the_admin_sees_the_service_message(admin_client):
    instance = IdentityCenterFactory(organization=True)
    existing = ProfileFactory(name="Engineering (US)")
    data = {
        "account": existing.account.pk,
        "region": "us-east-1",
        "identity_center": instance.pk,
        "name": "Another",
        "description": "",
    }
    with nothing_written():
        response = admin_client.post("/admin/subscriptions/profile/add/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        f"The account {existing.account.account_id} already has the Kiro profile “Engineering (US)” in us-east-1: "
        "there is at most one profile per account and Region." in html
    )
    # At the Region field, not only above the form.
    region_row = html[html.index('class="form-row field-region') :]
    assert region_row.index("already has the Kiro profile") < region_row.index('name="region"')


def test_administrator_creates_a_profile_in_the_admin_through_the_service(admin_client):
    instance = IdentityCenterFactory(organization=True)
    account = AwsAccountFactory()
    data = {
        "account": account.pk,
        "region": "eu-central-1",
        "identity_center": instance.pk,
        "name": "EU",
        "description": "",
    }
    response = admin_client.post("/admin/subscriptions/profile/add/", data)
    assert response.status_code == 302
    profile = Profile.objects.get(name="EU")
    assert ProfileSettings.objects.filter(profile=profile).exists()
    assert list(AuditEvent.objects.filter(action="profile.create").values_list("source", flat=True)) == ["admin"]


def test_administrator_refused_a_region_without_profiles_in_the_admin(admin_client):
    instance = IdentityCenterFactory(organization=True)
    account = AwsAccountFactory()
    data = {
        "account": account.pk,
        "region": "us-west-2",
        "identity_center": instance.pk,
        "name": "X",
        "description": "",
    }
    with nothing_written():
        response = admin_client.post("/admin/subscriptions/profile/add/", data)
    assert response.status_code == 200
    assert "Kiro profiles can&#x27;t be created in us-west-2" in response.content.decode()


def test_administrator_deletes_a_profile_in_the_admin_keeping_its_row(admin_client):
    profile = ProfileFactory()
    url = f"/admin/subscriptions/profile/{profile.pk}/delete/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert Profile.objects.get(pk=profile.pk).deleted_at is not None
    assert AuditEvent.objects.filter(action="profile.delete", source="admin").count() == 1

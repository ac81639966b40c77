"""The profile pages: the list (a query budget), the create dialog with its early checks, delete, and the settings
page whose sections save on their own (in place with htmx, or by a normal post)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kiroconsole.audit import Actor
from kiroconsole.models import AuditEvent
from subscriptions.models import Profile, ProfileSettings
from subscriptions.services import profile_settings_update, settings_snapshot
from tests.assertions import nothing_written
from tests.factories import AwsAccountFactory, IdentityCenterFactory, ProfileFactory

HTMX = {"HX-Request": "true"}
PROFILE_LIST_QUERIES = (
    8  # session, user, roles, unread alerts, count, the filter's Regions and accounts, one page of profiles
)
SETTINGS_PAGE_QUERIES = (
    9  # session, user, roles, unread alerts, profile, settings, approved models, the models list twice
)


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def settings_of(profile) -> dict:
    return settings_snapshot(ProfileSettings.objects.get(profile=profile))


# --- The list -----------------------------------------------------------------------------------------------


def test_profile_list_has_a_query_budget_that_does_not_grow_with_rows(viewer_client, django_assert_max_num_queries):
    ProfileFactory.create_batch(3)
    few = queries(viewer_client, "/profiles/")
    ProfileFactory.create_batch(52)
    ProfileFactory(region="us-gov-east-1")
    with django_assert_max_num_queries(PROFILE_LIST_QUERIES):
        response = viewer_client.get("/profiles/")
    assert response.status_code == 200
    assert len(re.findall(r'href="/profiles/[A-Z0-9]{12}/"', response.content.decode())) == 50
    assert queries(viewer_client, "/profiles/") == few
    assert queries(viewer_client, "/profiles/?page=2") == few


def test_a_deleted_profile_disappears_from_the_list_and_its_pages(admin_client):
    gone = ProfileFactory(name="Gone team")
    ProfileFactory(name="Staying team")
    response = admin_client.post(f"/profiles/{gone.profile_id}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == "/profiles/"
    html = response.content.decode()
    assert "Deleted the Kiro profile “Gone team”. Its history is kept." in html
    assert "Staying team" in html
    assert "Gone team</a>" not in html
    assert Profile.objects.get(pk=gone.pk).deleted_at is not None
    for path in ("", "edit/", "delete/", "settings/"):
        assert admin_client.get(f"/profiles/{gone.profile_id}/{path}").status_code == 404, path
    assert AuditEvent.objects.filter(action="profile.delete", source="web").count() == 1


# --- The create dialog --------------------------------------------------------------------------------------


@pytest.fixture
def organization(db):
    return IdentityCenterFactory(organization=True)


def form_data(account, identity_center, region="us-east-1", name="Engineering (US)", description=""):
    return {
        "account": str(account.pk),
        "region": region,
        "identity_center": str(identity_center.pk),
        "name": name,
        "description": description,
    }


def test_creating_a_profile_opens_it(admin_client, organization):
    account = AwsAccountFactory()
    response = admin_client.post("/profiles/new/", form_data(account, organization))
    profile = Profile.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/profiles/{profile.profile_id}/"
    response = admin_client.post(
        "/profiles/new/", form_data(account, organization, region="eu-central-1"), headers=HTMX
    )
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/profiles/")
    assert AuditEvent.objects.filter(action="profile.create", source="web").count() == 2


def test_creating_a_duplicate_shows_the_message_and_a_link_to_the_existing_profile(admin_client, organization):
    existing = ProfileFactory(name="Engineering (US)")
    with nothing_written():
        response = admin_client.post("/profiles/new/", form_data(existing.account, organization, name="Another"))
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        f"The account {existing.account.account_id} already has the Kiro profile “Engineering (US)” in us-east-1"
        in html
    )
    assert f'<a href="/profiles/{existing.profile_id}/">Open “Engineering (US)”</a>' in html


def test_the_duplicate_link_also_comes_with_the_htmx_fragment(admin_client, organization):
    existing = ProfileFactory(name="Engineering (US)")
    with nothing_written():
        response = admin_client.post("/profiles/new/", form_data(existing.account, organization), headers=HTMX)
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="profile-create"' in html
    assert f'<a href="/profiles/{existing.profile_id}/">Open “Engineering (US)”</a>' in html


def test_early_check_with_only_account_and_region_shows_the_duplicate_without_required_field_noise(
    admin_client, organization
):
    existing = ProfileFactory(name="Engineering (US)")
    with nothing_written():
        response = admin_client.post(
            "/profiles/new/?validate=1", {"account": str(existing.account.pk), "region": "us-east-1"}, headers=HTMX
        )
    assert response.status_code == 200
    html = response.content.decode()
    assert "already has the Kiro profile “Engineering (US)” in us-east-1" in html
    assert "Open “Engineering (US)”" in html
    assert "This field is required" not in html


def test_early_check_shows_a_region_without_profiles(admin_client, organization):
    account = AwsAccountFactory()
    with nothing_written():
        response = admin_client.post(
            "/profiles/new/?validate=1", {"account": str(account.pk), "region": "us-west-2"}, headers=HTMX
        )
    html = response.content.decode()
    assert "Kiro profiles can&#x27;t be created in us-west-2: only in us-east-1, eu-central-1" in html
    assert "This field is required" not in html


def test_early_check_of_a_complete_valid_form_creates_nothing(admin_client, organization):
    account = AwsAccountFactory()
    with nothing_written():
        response = admin_client.post("/profiles/new/?validate=1", form_data(account, organization), headers=HTMX)
    assert response.status_code == 200
    assert 'class="error"' not in response.content.decode()


def test_creating_without_a_name_shows_the_required_field(admin_client, organization):
    account = AwsAccountFactory()
    with nothing_written():
        response = admin_client.post("/profiles/new/", form_data(account, organization, name=""))
    assert "This field is required" in response.content.decode()


# --- The settings page ------------------------------------------------------------------------------------------


@pytest.fixture
def profile(db):
    return ProfileFactory(name="Engineering (US)")


def settings_controls(html: str) -> list[str]:
    """Every form control of the settings sections, except the hidden CSRF inputs."""
    grid = html[html.index('class="settings-grid"') :]
    controls = re.findall(r"<(?:input|select|textarea)\b[^>]*>", grid)
    return [c for c in controls if 'type="hidden"' not in c]


def test_settings_page_is_read_only_for_a_viewer(viewer_client, profile):
    response = viewer_client.get(f"/profiles/{profile.profile_id}/settings/")
    assert response.status_code == 200
    html = response.content.decode()
    controls = settings_controls(html)
    assert len(controls) >= 18  # every setting has a control
    assert all(" disabled" in control for control in controls), [c for c in controls if " disabled" not in c]
    assert ">Save</button>" not in html
    assert "Only administrators change settings." in html


def test_settings_page_is_editable_for_an_administrator(admin_client, profile):
    html = admin_client.get(f"/profiles/{profile.profile_id}/settings/").content.decode()
    assert not any(" disabled" in control for control in settings_controls(html))
    assert html.count(">Save</button>") == 11  # one per section


def test_settings_page_has_a_query_budget(viewer_client, profile, django_assert_max_num_queries):
    profile_settings_update(
        profile=profile,
        changes={"model_availability": "approved", "approved_models": ["auto", "claude-haiku-4.5"]},
        actor=Actor.for_command("test"),
    )
    with django_assert_max_num_queries(SETTINGS_PAGE_QUERIES):
        assert viewer_client.get(f"/profiles/{profile.profile_id}/settings/").status_code == 200


def test_an_htmx_section_post_saves_and_answers_with_the_section_saying_saved(admin_client, admin_user, profile):
    url = f"/profiles/{profile.profile_id}/settings/web-tools/"
    response = admin_client.post(url, {}, headers=HTMX)  # the switch unchecked: web tools off
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<section class="panel settings-section" id="web-tools"')
    assert "✓ Saved" in html
    assert settings_of(profile)["web_tools"] is False
    event = AuditEvent.objects.get(action="profile.settings.update")
    assert (event.before, event.after) == ({"web_tools": True}, {"web_tools": False})
    assert (event.source, event.actor_user_id) == ("web", admin_user.pk)


def test_an_htmx_section_post_with_a_bad_value_shows_it_at_the_field_and_saves_nothing(admin_client, profile):
    url = f"/profiles/{profile.profile_id}/settings/user-activity-report/"
    data = {
        "user-activity-report-user_activity_report": "on",
        "user-activity-report-report_bucket": "Acme_Reports",
        "user-activity-report-report_prefix": "kiro/",
    }
    with nothing_written():
        response = admin_client.post(url, data, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "✓ Saved" not in html
    assert re.search(
        r'<p class="error" id="id_user-activity-report-report_bucket_error" role="alert">A bucket name uses lower-case',
        html,
    )
    assert 'value="Acme_Reports"' in html  # what the administrator typed stays in the field


def test_an_htmx_post_of_a_prefix_at_the_bucket_root_is_refused_at_the_prefix(admin_client, profile):
    url = f"/profiles/{profile.profile_id}/settings/prompt-logging/"
    data = {"prompt-logging-prompt_logging": "on", "prompt-logging-prompt_bucket": "acme-logs"}
    with nothing_written():
        response = admin_client.post(url, data | {"prompt-logging-prompt_prefix": "/"}, headers=HTMX)
    assert "Enter a prefix: reports are not written to the bucket root." in response.content.decode()


def test_a_section_post_without_htmx_redirects_to_the_settings_page_with_a_message(admin_client, profile):
    url = f"/profiles/{profile.profile_id}/settings/mcp/"
    data = {"mcp-mcp_enabled": "on", "mcp-mcp_registry_url": "https://mcp.acme.example/registry.json"}
    response = admin_client.post(url, data)
    assert response.status_code == 302
    assert response["Location"] == f"/profiles/{profile.profile_id}/settings/#mcp"
    assert "Saved: Model Context Protocol (MCP)." in admin_client.get(response["Location"]).content.decode()
    assert settings_of(profile)["mcp_registry_url"] == "https://mcp.acme.example/registry.json"
    assert AuditEvent.objects.filter(action="profile.settings.update").count() == 1


def test_a_bad_section_post_without_htmx_shows_the_whole_page_with_the_error(admin_client, profile):
    url = f"/profiles/{profile.profile_id}/settings/mcp/"
    with nothing_written():
        response = admin_client.post(url, {"mcp-mcp_enabled": "on", "mcp-mcp_registry_url": "http://mcp.acme.example/"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html and 'id="encryption"' in html
    assert "The MCP registry URL must use https://." in html


def test_a_models_section_post_saves_the_approved_list_and_default(admin_client, profile):
    url = f"/profiles/{profile.profile_id}/settings/models/"
    data = {
        "models-model_availability": "approved",
        "models-approved_models": ["auto", "claude-sonnet-4.5"],
        "models-default_model": "claude-sonnet-4.5",
    }
    response = admin_client.post(url, data, headers=HTMX)
    assert "✓ Saved" in response.content.decode()
    saved = settings_of(profile)
    assert (saved["model_availability"], saved["approved_models"], saved["default_model"]) == (
        "approved",
        ["auto", "claude-sonnet-4.5"],
        "claude-sonnet-4.5",
    )
    with nothing_written():
        response = admin_client.post(url, data | {"models-default_model": "claude-opus-4.5"}, headers=HTMX)
    assert "The default model must be one of the approved models." in response.content.decode()


def test_viewer_and_support_cannot_post_a_settings_section(viewer_client, support_client, profile):
    url = f"/profiles/{profile.profile_id}/settings/web-tools/"
    with nothing_written():
        for client in (viewer_client, support_client):
            assert client.post(url, {}, headers=HTMX).status_code == 403
            assert client.post(url, {}).status_code == 403


def test_an_unknown_settings_section_is_404(admin_client, profile):
    with nothing_written():
        assert admin_client.post(f"/profiles/{profile.profile_id}/settings/no-such-section/", {}).status_code == 404

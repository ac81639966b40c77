"""SCIM tokens in the browser: an administrator opens an Identity Center, creates a SCIM token (shown once, with the
SCIM endpoint), an identity provider uses it, the page then shows the token without its value and the provisioning
activity, and the administrator revokes it after confirming; the token then gets 401."""

from __future__ import annotations

import importlib
import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import check_a11y, login, screenshot, url_of
from tests.factories import PASSWORD

TOKEN_ROWS = "#scim-tokens tbody tr"


@pytest.fixture
def instance(roles):
    from django.apps import apps

    from accounts.models import Region
    from accounts.services import aws_account_create, identity_center_create
    from kiroconsole.audit import Actor

    importlib.import_module("accounts.migrations.0002_regions").seed_regions(apps, None)
    actor = Actor.for_command("test")
    account = aws_account_create(account_id="111111111111", name="Acme management", kind="management", actor=actor)
    return identity_center_create(
        identity_store_id="d-1234567890",
        name="Acme SSO",
        region=Region.objects.get(code="us-east-1"),
        account=account,
        kind="organization",
        actor=actor,
    )


def scim_request(live_server, token: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    """What an identity provider sends: a real HTTP request to the live server."""
    request = urllib.request.Request(  # noqa: S310 (the test's own server)
        url_of(live_server, "/scim/v2" + path),
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (the test's own server)
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_administrator_creates_a_scim_token_sees_it_once_and_revokes_it(page: Page, live_server, admin_user, instance):
    login(page, live_server, "alice.admin", PASSWORD)

    # The Identity Center page: the SCIM panel with the endpoint and no token yet.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Identity Center").click()
    page.get_by_role("link", name="Acme SSO").click()
    expect(page).to_have_url(url_of(live_server, f"/organization/identity-centers/{instance.pk}/"))
    panel = page.locator("#scim")
    expect(panel.get_by_role("heading", name="SCIM provisioning")).to_be_visible()
    expect(panel.locator("#scim-endpoint")).to_have_text(url_of(live_server, "/scim/v2/"))
    expect(panel.get_by_text("No SCIM token yet.")).to_be_visible()
    check_a11y(page)
    screenshot(page, "scim-01-identity-center-without-token")

    # Create: the token is shown once, with the endpoint.
    panel.get_by_role("button", name="Create a SCIM token").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("SCIM token created")
    expect(page.get_by_role("alert")).to_contain_text("This is the only time the token is shown")
    raw = page.get_by_label(re.compile("SCIM token for Acme SSO")).input_value()
    assert raw.startswith("scim_") and len(raw) > 40
    expect(page.get_by_label("SCIM endpoint")).to_have_value(url_of(live_server, "/scim/v2/"))
    check_a11y(page)
    screenshot(page, "scim-02-token-created")

    # An identity provider uses it.
    status, _ = scim_request(live_server, raw, "GET", "/Users?startIndex=1&count=2")
    assert status == 200
    user = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "jane.doe@acme.example",
        "name": {"givenName": "Jane", "familyName": "Doe"},
        "displayName": "Jane Doe",
        "emails": [{"value": "jane.doe@acme.example", "type": "work", "primary": True}],
        "active": True,
    }
    status, created = scim_request(live_server, raw, "POST", "/Users", user)
    assert status == 201 and created["userName"] == "jane.doe@acme.example"

    # Back on the page: the token without its value, last used, and the provisioning activity.
    page.get_by_role("link", name="Done").click()
    expect(page).to_have_url(url_of(live_server, f"/organization/identity-centers/{instance.pk}/"))
    rows = page.locator(TOKEN_ROWS)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(raw[:11] + "…")
    expect(rows.first).to_contain_text("Active")
    expect(rows.first).not_to_contain_text("never")  # last used: just now
    assert raw not in page.content()
    expect(page.locator("#scim-activity li")).to_have_count(1)
    expect(page.locator("#scim-activity")).to_contain_text("directory_user.create")
    expect(page.locator("#scim-activity")).to_contain_text("Jane Doe (jane.doe@acme.example)")
    check_a11y(page)
    screenshot(page, "scim-03-token-listed-with-activity")

    # Revoke, after confirming.
    rows.first.get_by_role("link", name=re.compile("Revoke")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Revoke SCIM token")
    check_a11y(page)
    screenshot(page, "scim-04-revoke-confirm")
    page.get_by_role("button", name="Revoke token").click()
    expect(page).to_have_url(url_of(live_server, f"/organization/identity-centers/{instance.pk}/"))
    expect(page.get_by_text("is revoked")).to_be_visible()
    expect(page.locator(TOKEN_ROWS).first).to_contain_text("Revoked")
    expect(page.locator(TOKEN_ROWS).first.get_by_role("link", name=re.compile("Revoke"))).to_have_count(0)
    check_a11y(page)
    screenshot(page, "scim-05-token-revoked")

    status, error = scim_request(live_server, raw, "GET", "/Users")
    assert status == 401 and error["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]

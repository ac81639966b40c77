"""Issue 9 item 4: every form post of the console needs its CSRF token; the API and SCIM need a bearer token instead.

A browser that is logged in to the console sends its session cookie with any request a hostile page makes it send;
only the CSRF token, which the hostile page can't read, tells the console's own forms from such a request. So every
URL that takes a POST refuses one without the token (403), htmx or not, and a post with the token from the page's
form works. The API and SCIM take no session cookie at all (a bearer token is no ambient credential), so they need no
CSRF token: a bearer request works without one and a cookie-only request is refused.
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from directory import services as directory
from directory.models import DirectoryGroup
from kiroconsole.models import AuditEvent
from subscriptions.services import group_assign
from tests.kiroconsole.test_access import concrete
from tests.subscriptions.conftest import ACTOR

# The API and SCIM authenticate with bearer tokens of their own (see the tests at the bottom); the admin's pages
# are walked below with the console's.
BEARER_PREFIXES = ("api/v1/", "scim/")


def post_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith(BEARER_PREFIXES):
                continue
            yield from post_patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def admin_url(route: str) -> str:
    """An admin route with sample values (`<path:object_id>` and the like)."""
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", "1", route)


CONSOLE = sorted(
    (route, p.name or route) for route, p in post_patterns() if not route.startswith("admin/") and "^" not in route
)
ADMIN = sorted({admin_url(route) for route, p in post_patterns() if route.startswith("admin/")})


def test_the_walker_finds_the_console_and_the_admin():
    names = {name for _, name in CONSOLE}
    assert {"login", "logout", "directory-group-create", "profile-settings-section", "api-token-create"} <= names
    assert len(CONSOLE) >= 60
    assert "/admin/directory/directorygroup/add/" in ADMIN and "/admin/login/" in ADMIN


def test_no_console_view_is_csrf_exempt():
    exempt = [route for route, p in post_patterns() if getattr(p.callback, "csrf_exempt", False)]
    assert exempt == []


@pytest.fixture
def browser(admin_user):
    """A logged-in administrator's browser: the CSRF checks on, as outside tests."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    return client


def assert_csrf_refused(response, url: str) -> None:
    assert response.status_code == 403, (url, response.status_code)
    assert "CSRF" in response.content.decode(), url  # the CSRF failure, not a role's "Not allowed"


@pytest.mark.parametrize(("route", "name"), CONSOLE, ids=[n for _, n in CONSOLE])
def test_a_post_without_the_csrf_token_is_refused(browser, route, name):
    url = concrete(route)
    before = AuditEvent.objects.count()
    for headers in ({}, {"HX-Request": "true"}, {"HX-Request": "true", "X-CSRFToken": "not-the-token"}):
        response = browser.post(url, {"name": "x"}, headers=headers)
        assert_csrf_refused(response, url)
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("url", ADMIN)
def test_an_admin_post_without_the_csrf_token_is_refused(browser, url):
    assert_csrf_refused(browser.post(url, {"action": "delete_selected", "_selected_action": "1"}), url)


def test_a_real_objects_forms_refuse_a_post_without_the_token(browser, org, clock):
    """The same with real ids (the view would act), on the pages that change a profile and a group."""
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    base = f"/profiles/{org.profile.profile_id}"
    group = org.groups["Engineering"]
    before = AuditEvent.objects.count()
    for url, data in (
        (f"{base}/settings/overage/", {"overage-overage_enabled": "on"}),
        (f"{base}/groups/{group.pk}/overage-cap/", {"overage_cap": "5"}),
        (f"{base}/groups/{group.pk}/unassign/", {}),
        (f"{base}/delete/", {}),
        (f"/directory/groups/{group.pk}/delete/", {}),
        (f"/directory/users/{org.users['ann'].pk}/activation/", {}),
    ):
        for headers in ({}, {"HX-Request": "true"}):
            assert_csrf_refused(browser.post(url, data, headers=headers), url)
    assert AuditEvent.objects.count() == before


def form_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def htmx_token(html: str) -> str:
    match = re.search(r"hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", html)
    assert match, "the page gives htmx the CSRF token"
    return match.group(1)


def test_a_post_with_the_token_from_the_pages_form_works(browser, org):
    page = browser.get("/directory/groups/new/")
    data = {"identity_center": org.ic.pk, "display_name": "Platform", "description": "", "csrfmiddlewaretoken": ""}
    data["csrfmiddlewaretoken"] = form_token(page.content.decode())
    response = browser.post("/directory/groups/new/", data)
    assert response.status_code == 302
    assert DirectoryGroup.objects.filter(display_name="Platform").exists()


def test_an_htmx_post_with_the_pages_token_works(browser, org, clock):
    group = org.groups["Engineering"]
    assignment, _ = group_assign(profile=org.profile, group=group, tier="PRO", actor=ACTOR)
    url = f"/profiles/{org.profile.profile_id}/groups/{group.pk}/overage-cap/"
    token = htmx_token(browser.get(f"/profiles/{org.profile.profile_id}/groups/").content.decode())
    response = browser.post(url, {"overage_cap": "5"}, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 200
    assert response["HX-Trigger"] == "kiro:changed"
    assignment.refresh_from_db()
    assert assignment.overage_cap == 5


# --- The API and SCIM: bearer tokens, no cookies ----------------------------------------------------------------


def test_the_api_takes_a_bearer_token_without_a_csrf_token(admin_api, org):
    api = admin_api
    api.handler.enforce_csrf_checks = True
    response = api.post("/api/v1/groups", {"display_name": "By script"}, content_type="application/json")
    assert response.status_code == 201, response.content
    assert DirectoryGroup.objects.filter(display_name="By script").exists()


def test_the_api_refuses_a_session_cookie(browser, org):
    """The API accepts only bearer tokens (kiroconsole/api.py BearerAuth): a logged-in browser's cookie, with or
    without a CSRF token, is no credential there."""
    token = htmx_token(browser.get("/directory/groups/").content.decode())
    for headers in ({}, {"X-CSRFToken": token}):
        response = browser.post(
            "/api/v1/groups", {"display_name": "By cookie"}, content_type="application/json", headers=headers
        )
        assert response.status_code == 401, response.status_code
        assert response.json() == {"detail": "Unauthorized"}
        assert browser.get("/api/v1/me", headers=headers).status_code == 401
    assert not DirectoryGroup.objects.filter(display_name="By cookie").exists()


def test_scim_takes_its_bearer_token_without_a_csrf_token_and_refuses_a_session(browser, org):
    _, raw = directory.scim_token_create(identity_center=org.ic, actor=ACTOR)
    scim = Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {raw}"})
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "From the IdP"}
    response = scim.post("/scim/v2/Groups", json.dumps(body), content_type="application/scim+json")
    assert response.status_code == 201, response.content
    body["displayName"] = "From a browser"
    response = browser.post("/scim/v2/Groups", json.dumps(body), content_type="application/scim+json")
    assert response.status_code == 401
    assert not DirectoryGroup.objects.filter(display_name="From a browser").exists()

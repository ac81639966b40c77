"""Every URL pattern, every role: each gets exactly what CONTRACTS.md "Roles" says.

The walker finds every page pattern and every API operation, so a new page or endpoint that forgets its guard
fails here: a view must either carry `required_capability` (set by `kiroconsole.roles.requires` or
`kiroconsole.api.requires`) or be listed in PUBLIC_VIEWS with a reason.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from kiroconsole.api_urls import api
from kiroconsole.roles import GRANTS, Role

# url name -> why it needs no capability.
PUBLIC_VIEWS = {
    "healthz": "load balancers probe it without credentials",
    "login": "the way in",
    "logout": "any logged-in user may log out (POST only)",
    "api-not-found": "a JSON 404 for unknown API paths; reveals nothing",
}
# The admin, the API and SCIM (which authenticates with SCIM tokens of its own) are walked by their own tests below.
SKIP_PREFIXES = ("admin/", "api/v1/", "scim/")

CONVERTER_SAMPLES = {
    "int": "999999",
    "uuid": str(uuid.UUID(int=1)),
    "slug": "no-such-thing",
    "str": "no-such-thing",
    "path": "no/such/thing",
}


def page_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith(SKIP_PREFIXES):
                continue
            yield from page_patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def concrete(route: str) -> str:
    def sample(match):
        return CONVERTER_SAMPLES[match.group(1) or "str"]

    return "/" + re.sub(r"<(?:(\w+):)?\w+>", sample, route)


PAGES = sorted((route, p.name, p.callback) for route, p in page_patterns())


def test_walker_finds_the_console_pages():
    names = {name for _, name, _ in PAGES}
    assert {"home", "audit-list", "audit-detail", "api-token-list", "api-token-create", "api-token-revoke"} <= names


@pytest.mark.parametrize(("route", "name", "callback"), PAGES, ids=[r[1] or r[0] for r in PAGES])
def test_every_page_is_guarded(route, name, callback):
    assert name in PUBLIC_VIEWS or getattr(callback, "required_capability", None), (
        f"/{route} ({name}) has no role guard: decorate it with @requires(Cap.X) or list it in PUBLIC_VIEWS"
    )


GUARDED = [(route, name, callback) for route, name, callback in PAGES if name not in PUBLIC_VIEWS]
ROLES = [Role.ADMINISTRATOR, Role.SUPPORT, Role.VIEWER, Role.METERING, ""]


@pytest.mark.parametrize(("route", "name", "callback"), GUARDED, ids=[r[1] for r in GUARDED])
def test_anonymous_is_sent_to_log_in(anonymous, route, name, callback):
    url = concrete(route)
    for method in ("get", "post"):
        response = getattr(anonymous, method)(url)
        assert response.status_code == 302, (method, url)
        assert response["Location"].startswith("/login/?next="), (method, url)


@pytest.mark.parametrize(("route", "name", "callback"), GUARDED, ids=[r[1] for r in GUARDED])
@pytest.mark.parametrize("role", ROLES, ids=[r or "no-role" for r in ROLES])
def test_each_role_gets_what_its_capabilities_allow(client, personas, role, route, name, callback):
    cap = callback.required_capability
    allowed = bool(role) and cap in GRANTS[Role(role)]
    client.force_login(personas[role])
    url = concrete(route)
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        if allowed:
            assert response.status_code not in (401, 403) and response.status_code < 500, (role, method, url)
        else:
            assert response.status_code == 403, (role, method, url, response.status_code)
            assert b"Not allowed" in response.content


def test_forbidden_page_explains_the_role(client, viewer_user):
    client.force_login(viewer_user)
    response = client.get("/audit/")
    assert response.status_code == 403
    assert "Your role (Viewer) may not do this" in response.content.decode()


def test_metering_role_has_no_pages(client, metering_user):
    client.force_login(metering_user)
    response = client.get("/")
    assert response.status_code == 403
    assert "for the API only" in response.content.decode()


# --- Public views -------------------------------------------------------------------------------------------


def test_public_views_answer_anonymous(anonymous, db):
    assert anonymous.get("/healthz").status_code == 200
    assert anonymous.get("/login/").status_code == 200
    assert anonymous.get("/logout/").status_code in (302, 405)


# --- The JSON API ----------------------------------------------------------------------------------------


def api_operations():
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                for method in operation.methods:
                    yield method, "/api/v1/" + (prefix + path).lstrip("/"), operation.view_func


OPERATIONS = sorted(api_operations(), key=lambda o: (o[1], o[0]))


def concrete_api(path: str) -> str:
    return re.sub(r"\{(?:\w+:)?\w+\}", "999999", path)


def test_api_walker_finds_operations():
    assert ("GET", "/api/v1/me") in {(m, p) for m, p, _ in OPERATIONS}


@pytest.mark.parametrize(("method", "path", "func"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_every_api_operation_is_guarded(method, path, func):
    assert getattr(func, "required_capability", None), f"{method} {path} has no @requires(Cap.X)"


@pytest.mark.parametrize(("method", "path", "func"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_api_answers_401_without_a_valid_token(anonymous, db, method, path, func):
    for headers in ({}, {"Authorization": "Bearer kiro_not-a-real-token"}, {"Authorization": "Basic abc"}):
        response = anonymous.generic(method, concrete_api(path), headers=headers)
        assert response.status_code == 401, (headers, response.status_code)
        assert response.json() == {"detail": "Unauthorized"}


@pytest.mark.parametrize(("method", "path", "func"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
@pytest.mark.parametrize("role", ROLES, ids=[r or "no-role" for r in ROLES])
def test_api_roles_get_what_their_capabilities_allow(api_client_for, personas, role, method, path, func):
    cap = func.required_capability
    allowed = bool(role) and cap in GRANTS[Role(role)]
    api_client = api_client_for(personas[role])
    response = api_client.generic(method, concrete_api(path), data="{}", content_type="application/json")
    if allowed:
        assert response.status_code not in (401, 403) and response.status_code < 500, (role, response.status_code)
    else:
        assert response.status_code == 403, (role, response.status_code)
        assert "detail" in response.json()


# --- SCIM -------------------------------------------------------------------------------------------------


def scim_patterns():
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and str(entry.pattern) == "scim/":
            for pattern in entry.url_patterns:
                yield pattern.name, pattern.pattern.regex


SCIM_SAMPLES = {  # one URL per SCIM pattern
    "scim-root": "/scim/v2/",
    "scim-service-provider-config": "/scim/v2/ServiceProviderConfig",
    "scim-schemas": "/scim/v2/Schemas",
    "scim-schema": "/scim/v2/Schemas/urn:ietf:params:scim:schemas:core:2.0:User",
    "scim-resource-types": "/scim/v2/ResourceTypes",
    "scim-resource-type": "/scim/v2/ResourceTypes/User",
    "scim-search": "/scim/v2/.search",
    "scim-not-implemented": "/scim/v2/Bulk",
    "scim-users": "/scim/v2/Users",
    "scim-user": f"/scim/v2/Users/{uuid.UUID(int=1)}",
    "scim-groups": "/scim/v2/Groups",
    "scim-group": f"/scim/v2/Groups/{uuid.UUID(int=1)}",
    "scim-not-found": "/scim/v2/NoSuchThing",
}


def test_scim_walker_has_a_sample_for_every_pattern():
    for name, regex in scim_patterns():
        assert name in SCIM_SAMPLES, f"add a sample URL for the SCIM pattern {name}"
        assert regex.match(SCIM_SAMPLES[name].removeprefix("/scim/")), name


@pytest.mark.parametrize("url", sorted(SCIM_SAMPLES.values()))
def test_scim_answers_401_without_a_valid_token(anonymous, db, url):
    """Every SCIM URL, every method: no token, a console session, an API token or an unknown SCIM token get a SCIM
    401, never the log-in page."""
    for headers in ({}, {"Authorization": "Bearer scim_not-a-real-token"}, {"Authorization": "Basic abc"}):
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            response = anonymous.generic(method, url, data="{}", content_type="application/scim+json", headers=headers)
            assert response.status_code == 401, (method, url, headers, response.status_code)
            assert response["Content-Type"] == "application/scim+json"
            assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
            assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_console_session_or_an_api_token_is_not_a_scim_token(client, admin_user, admin_api):
    client.force_login(admin_user)
    assert client.get("/scim/v2/Users").status_code == 401
    assert admin_api.get("/scim/v2/Users").status_code == 401


# --- The Django admin -------------------------------------------------------------------------------------

ADMIN_URLS = ["/admin/", "/admin/kiroconsole/auditevent/", "/admin/kiroconsole/apitoken/", "/admin/kiroconsole/user/"]


@pytest.mark.parametrize("url", ADMIN_URLS)
@pytest.mark.parametrize("role", ROLES, ids=[r or "no-role" for r in ROLES])
def test_admin_is_for_administrators_and_support(client, personas, role, url):
    client.force_login(personas[role])
    response = client.get(url)
    if role in (Role.ADMINISTRATOR, Role.SUPPORT):
        assert response.status_code == 200
    else:
        assert response.status_code == 403


def test_admin_sends_anonymous_to_the_console_log_in(anonymous, db):
    response = anonymous.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/login/?next=")


def test_support_reads_but_cannot_change_console_users_in_the_admin(client, support_user, admin_user):
    client.force_login(support_user)
    response = client.get(f"/admin/kiroconsole/user/{admin_user.pk}/change/")
    assert response.status_code == 200
    assert b'name="username"' not in response.content  # read-only view
    response = client.post(f"/admin/kiroconsole/user/{admin_user.pk}/change/", {"username": "hijacked"})
    assert response.status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.username == "alice.admin"

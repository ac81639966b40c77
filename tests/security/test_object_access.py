"""Issue 9 item 3: one organization's ids never reach into another's.

Two organizations, each an Identity Center directory with a Kiro profile, users, groups, subscriptions and a SCIM
token. Organization A's profile asked about organization B's users or groups answers 404 on every page, dialog,
fragment and API operation that takes such an id (never 200, never 500); ids carried in a form or a query are
refused without effect; A's SCIM token sees nothing of B's directory; and a deleted profile's pages and API
operations answer 404.
"""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.test import Client
from django.utils import timezone

from directory import services as directory
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from kiroconsole.models import AuditEvent
from subscriptions.forms import SECTIONS
from subscriptions.models import GroupAssignment, Profile, Subscription
from subscriptions.services import group_assign, subscription_subscribe
from tests.credits.conftest import event, record
from tests.factories import IdentityCenterFactory, ProfileFactory, region
from tests.kiroconsole.test_access import OPERATIONS, PAGES
from tests.subscriptions.conftest import ACTOR

JSON = "application/json"
SCIM_JSON = "application/scim+json"


def make_org(label: str, profile_region: str, ic) -> SimpleNamespace:
    profile = ProfileFactory(name=f"Org {label}", region=profile_region, identity_center=ic)
    users = [
        directory.directory_user_create(
            identity_center=ic,
            actor=ACTOR,
            user_name=f"{label.lower()}-user{n}",
            display_name=f"{label} User {n}",
            given_name=label,
            family_name=f"User{n}",
            email=f"{label.lower()}{n}@{label.lower()}.example.com",
        )
        for n in range(2)
    ]
    group = directory.directory_group_create(identity_center=ic, actor=ACTOR, display_name=f"{label} Team")
    directory.group_members_add(group=group, users=users, actor=ACTOR)
    group_assign(profile=profile, group=group, tier="PRO", actor=ACTOR)
    subscription_subscribe(profile=profile, users=users, tier="PRO", actor=ACTOR)
    record(profile, *[event(user, Decimal(5)) for user in users])
    _, scim_raw = directory.scim_token_create(identity_center=ic, actor=ACTOR)
    return SimpleNamespace(
        profile=profile, ic=ic, user=users[0], users=users, group=group, scim=Client(headers=bearer(scim_raw))
    )


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def orgs(db):
    a = make_org("A", "us-east-1", IdentityCenterFactory(organization=True))
    b = make_org("B", "eu-central-1", IdentityCenterFactory(region=region("eu-central-1"), name="Other org"))
    return SimpleNamespace(a=a, b=b)


def state() -> tuple:
    """What a refused request must leave alone."""
    return (
        sorted(map(str, Subscription.objects.values_list("profile_id", "user_id", "status", "tier_id", "overage_cap"))),
        sorted(map(str, GroupAssignment.objects.values_list("profile_id", "group_id", "tier_id", "overage_cap"))),
        sorted(map(str, GroupMembership.objects.values_list("group_id", "user_id"))),
        sorted(map(str, DirectoryUser.objects.values_list("pk", "user_name", "display_name", "active", "deleted_at"))),
        sorted(map(str, DirectoryGroup.objects.values_list("pk", "display_name", "deleted_at"))),
        AuditEvent.objects.count(),
    )


# --- Pages ---------------------------------------------------------------------------------------------------

# Every page pattern that takes a user or group id next to the profile (or group) it belongs to, and the methods
# it answers. The walker below fails when a new one appears, so it gets a line here.
ID_PAGES = {
    "profile-subscription": ("GET",),
    "profile-subscription-overage-cap": ("POST",),
    "profile-group-overage-cap": ("GET", "POST"),
    "profile-group-change-plan": ("GET", "POST"),
    "profile-group-unassign": ("GET", "POST"),
    "directory-member-remove": ("GET", "POST"),
}
ID_KWARGS = ("user_id", "group_id")


def pages_with_ids():
    return sorted(
        (route, name) for route, name, _ in PAGES if any(f"{kwarg}>" in route for kwarg in ID_KWARGS) and name
    )


def test_the_walker_knows_every_page_with_a_user_or_group_id():
    assert {name for _, name in pages_with_ids()} == set(ID_PAGES)


def fill(route: str, *, profile, user, group) -> str:
    values = {"profile_id": profile.profile_id, "user_id": user.pk, "group_id": group.pk}
    # directory/groups/<uuid:pk>/members/<uuid:user_id>/remove/: pk is the group.
    values["pk"] = group.pk
    if "<slug:section>" in route:
        values["section"] = SECTIONS[0].slug
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route)


POST_DATA = {"overage_cap": "10", "tier": "PRO_PLUS"}


@pytest.mark.parametrize(("route", "name"), pages_with_ids(), ids=[n for _, n in pages_with_ids()])
def test_a_profile_asked_about_another_organizations_user_or_group_answers_404(admin_client, orgs, route, name):
    a, b = orgs.a, orgs.b
    own = fill(route, profile=a.profile, user=a.user, group=a.group)
    for method in ID_PAGES[name]:
        # The control: A's own ids work, so a 404 below is about B's ids, not a broken URL.
        if method == "GET":
            assert admin_client.get(own).status_code == 200, own
    before = state()
    # Profile pages: B's user and group, and each with A's. The directory's pages belong to no profile: B's user
    # with B's group is B's own pair there, so only the mixed pairs.
    pairs = [(b.user, a.group), (a.user, b.group)]
    if "<str:profile_id>" in route:
        pairs.insert(0, (b.user, b.group))
    for user, group in pairs:
        url = fill(route, profile=a.profile, user=user, group=group)
        if url == own:
            continue
        for method in ID_PAGES[name]:
            for headers in ({}, {"HX-Request": "true"}):
                response = admin_client.generic(
                    method,
                    url,
                    data="&".join(f"{k}={v}" for k, v in POST_DATA.items()) if method == "POST" else "",
                    content_type="application/x-www-form-urlencoded",
                    headers=headers,
                )
                assert response.status_code == 404, (method, url, headers, response.status_code)
    assert state() == before
    if "POST" in ID_PAGES[name] and "GET" not in ID_PAGES[name]:  # the control for a POST-only page
        assert admin_client.post(own, POST_DATA).status_code in (200, 302)


def test_ids_of_another_organization_in_a_form_or_query_change_nothing(admin_client, orgs):
    """The subscribe dialog, change plan, unsubscribe and add member take ids as parameters: B's are refused (a
    page or dialog saying so, or a redirect with an error), never used."""
    a, b = orgs.a, orgs.b
    base = f"/profiles/{a.profile.profile_id}"
    before = state()
    requests = [
        ("POST", f"{base}/subscribe/", {"tier": "PRO_PLUS", "kind": "users", "users": [str(b.user.pk)]}),
        ("POST", f"{base}/subscribe/", {"tier": "PRO_PLUS", "kind": "groups", "groups": [str(b.group.pk)]}),
        ("POST", f"{base}/users/change-plan/", {"tier": "PRO_PLUS", "users": [str(b.user.pk)]}),
        ("POST", f"{base}/users/unsubscribe/", {"users": [str(b.user.pk)], "confirm": "on"}),
        ("POST", f"/directory/groups/{a.group.pk}/members/add/", {"user_id": [str(b.user.pk)]}),
    ]
    for method, url, data in requests:
        for headers in ({}, {"HX-Request": "true"}):
            response = admin_client.generic(
                method,
                url,
                data="&".join(f"{k}={v}" for k, vs in data.items() for v in (vs if isinstance(vs, list) else [vs])),
                content_type="application/x-www-form-urlencoded",
                headers=headers,
            )
            assert response.status_code in (200, 302), (url, response.status_code)
            assert b.user.display_name not in response.content.decode(), url
    assert state() == before
    # The same dialogs' GET steps never show B's people as chosen or found.
    for params in (
        {"step": "who", "tier": "PRO", "users": [str(b.user.pk)], "q": "b-user"},
        {"step": "confirm", "tier": "PRO", "users": [str(b.user.pk)]},
        {"step": "who", "tier": "PRO", "kind": "groups", "groups": [str(b.group.pk)], "q": "Team"},
        {"step": "confirm", "tier": "PRO", "kind": "groups", "groups": [str(b.group.pk)]},
    ):
        body = admin_client.get(f"{base}/subscribe/", params).content.decode()
        assert b.user.display_name not in body and b.group.display_name not in body, params
    # The control: the same searches find A's.
    body = admin_client.get(f"{base}/subscribe/", {"step": "who", "tier": "PRO", "q": "a-user"}).content.decode()
    assert a.user.display_name in body
    params = {"step": "who", "tier": "PRO", "kind": "groups", "q": "Team"}
    assert a.group.display_name in admin_client.get(f"{base}/subscribe/", params).content.decode()
    for url in (f"{base}/users/change-plan/", f"{base}/users/unsubscribe/"):
        body = admin_client.get(url, {"users": [str(b.user.pk)]}).content.decode()
        assert b.user.display_name not in body


def test_type_aheads_of_one_organization_never_offer_the_others(admin_client, orgs):
    a, b = orgs.a, orgs.b
    body = admin_client.get(f"/profiles/{a.profile.profile_id}/groups/suggest/", {"group": "Team"}).content.decode()
    assert a.group.display_name in body and b.group.display_name not in body
    body = admin_client.get(
        f"/directory/groups/{a.group.pk}/members/search/", {"q": "user"}, headers={"HX-Request": "true"}
    ).content.decode()
    assert b.user.display_name not in body
    # (A's users are all members of A's group already, so the search finds none of them either.)
    assert "A User" not in body


def test_the_usage_explorer_refuses_another_organizations_user_or_group(admin_client, orgs):
    a, b = orgs.a, orgs.b
    base = f"/profiles/{a.profile.profile_id}"
    for params in ({"user": b.user.user_name}, {"user": str(b.user.pk)}, {"group": b.group.display_name}):
        response = admin_client.get(f"{base}/usage/", {"group_by": "user", **params})
        assert response.status_code == 200
        assert b.user.display_name not in response.content.decode()
        assert admin_client.get(f"{base}/usage.csv", params).status_code == 400
    for url in (f"{base}/usage.csv?group_by=user", f"{base}/chargeback.csv"):
        body = admin_client.get(url).content.decode()
        assert a.user.display_name in body or a.group.display_name in body
        assert b.user.display_name not in body and b.group.display_name not in body


# --- A deleted profile ----------------------------------------------------------------------------------------

PROFILE_PAGES = sorted((route, name) for route, name, _ in PAGES if route.startswith("profiles/<str:profile_id>"))


def test_the_walker_finds_the_profile_pages():
    assert len(PROFILE_PAGES) >= 20
    assert {"profile-detail", "profile-usage-csv", "profile-user-report", "profile-group-overage-cap"} <= {
        name for _, name in PROFILE_PAGES
    }


def delete(profile: Profile) -> None:
    """Deleted as `profile_delete` marks it, but with its subscriptions and assignments left in place, so only the
    deletion can be why a page answers 404."""
    Profile.objects.filter(pk=profile.pk).update(deleted_at=timezone.now())


@pytest.mark.parametrize(("route", "name"), PROFILE_PAGES, ids=[n for _, n in PROFILE_PAGES])
def test_a_deleted_profiles_pages_answer_404(admin_client, orgs, route, name):
    a = orgs.a
    url = fill(route, profile=a.profile, user=a.user, group=a.group)
    assert admin_client.get(url).status_code in (200, 400, 405), url  # the control: the live profile's page
    delete(a.profile)
    before = state()
    answers = set()
    for method in ("GET", "POST"):
        for headers in ({}, {"HX-Request": "true"}):
            response = admin_client.generic(method, url, headers=headers)
            # 405 only for the method the page does not take (it is no way in, whatever the profile).
            assert response.status_code in (404, 405), (method, url, response.status_code)
            answers.add(response.status_code)
    assert 404 in answers
    assert state() == before


PROFILE_OPERATIONS = [(m, p) for m, p, _ in OPERATIONS if p.startswith("/api/v1/profiles/{profile_id}")]


def api_url(path: str, *, profile, user, group) -> str:
    values = {"profile_id": profile.profile_id, "user_id": user.pk, "group_id": group.pk}
    return re.sub(r"\{(?:\w+:)?(\w+)\}", lambda m: str(values[m.group(1)]), path)


def api_body(method: str, path: str, a) -> str:
    """A valid body for the operation, so that only the profile decides the answer."""
    if method in ("GET", "DELETE"):
        return ""
    if path.endswith("/usage-events"):
        return json.dumps(event(a.users[1], Decimal(1)))
    if path.endswith("/subscriptions"):
        return json.dumps({"user_id": str(a.users[1].pk), "tier": "PRO_PLUS"})
    if path.endswith("/group-assignments"):
        return json.dumps({"group_id": str(a.group.pk), "tier": "PRO_PLUS"})
    if path.endswith(("{user_id}", "{group_id}")):
        return json.dumps({"tier": "PRO_PLUS"})
    if path.endswith("/settings"):
        return json.dumps({})
    return json.dumps({"description": "Changed"})


@pytest.mark.parametrize(("method", "path"), PROFILE_OPERATIONS, ids=[f"{m} {p}" for m, p in PROFILE_OPERATIONS])
def test_a_deleted_profile_is_404_in_the_api(admin_api, orgs, method, path):
    a = orgs.a
    url = api_url(path, profile=a.profile, user=a.user, group=a.group)
    delete(a.profile)
    before = state()
    response = admin_api.generic(method, url, data=api_body(method, path, a), content_type=JSON)
    assert response.status_code == 404, (method, url, response.status_code, response.content)
    assert "detail" in response.json()
    assert state() == before


def test_the_api_walker_finds_the_profile_operations():
    paths = {p for _, p in PROFILE_OPERATIONS}
    assert {
        "/api/v1/profiles/{profile_id}/usage-events",
        "/api/v1/profiles/{profile_id}/entitlements/{user_id}",
        "/api/v1/profiles/{profile_id}/subscriptions/{user_id}",
        "/api/v1/profiles/{profile_id}/group-assignments/{group_id}",
        "/api/v1/profiles/{profile_id}/usage",
        "/api/v1/profiles/{profile_id}/user-activity-report",
    } <= paths


# --- The API --------------------------------------------------------------------------------------------------

API_ID_OPERATIONS = [(m, p) for m, p in PROFILE_OPERATIONS if "{user_id}" in p or "{group_id}" in p]


@pytest.mark.parametrize(("method", "path"), API_ID_OPERATIONS, ids=[f"{m} {p}" for m, p in API_ID_OPERATIONS])
def test_the_api_answers_404_for_another_organizations_user_or_group(admin_api, orgs, method, path):
    a, b = orgs.a, orgs.b
    own = api_url(path, profile=a.profile, user=a.user, group=a.group)
    if method == "GET":
        assert admin_api.get(own).status_code == 200, own  # the control
    before = state()
    url = api_url(path, profile=a.profile, user=b.user, group=b.group)
    response = admin_api.generic(method, url, data=json.dumps({"tier": "PRO_PLUS"}), content_type=JSON)
    assert response.status_code == 404, (method, url, response.status_code, response.content)
    assert state() == before


def test_the_api_refuses_another_organizations_ids_in_a_body_or_query(admin_api, orgs):
    a, b = orgs.a, orgs.b
    base = f"/api/v1/profiles/{a.profile.profile_id}"
    before = state()
    refusals = [
        ("POST", f"{base}/subscriptions", {"user_id": str(b.user.pk), "tier": "PRO"}),
        ("POST", f"{base}/group-assignments", {"group_id": str(b.group.pk), "tier": "PRO"}),
        ("POST", f"/api/v1/groups/{a.group.pk}/members", {"user_id": str(b.user.pk)}),
    ]
    for method, url, body in refusals:
        response = admin_api.generic(method, url, data=json.dumps(body), content_type=JSON)
        assert response.status_code in (404, 422), (url, response.status_code, response.content)
    usage = event(b.user, Decimal(1))
    for payload in (usage, {"events": [event(b.user, Decimal(1)), event(b.user.user_name, Decimal(1))]}):
        response = admin_api.post(f"{base}/usage-events", payload, content_type=JSON)
        if "events" in payload:
            assert response.status_code == 200
            assert [r["status"] for r in response.json()["results"]] == ["rejected", "rejected"]
        else:
            assert response.status_code == 422, response.content
    assert admin_api.delete(f"/api/v1/groups/{a.group.pk}/members/{b.user.pk}").status_code == 404
    assert state() == before
    for params in ({"user": str(b.user.pk)}, {"user": b.user.user_name}, {"group": str(b.group.pk)}):
        response = admin_api.get(f"{base}/usage", {"group_by": "user", **params})
        assert response.status_code == 422, (params, response.status_code)
    response = admin_api.get(f"{base}/subscriptions", {"group_id": str(b.group.pk)})
    assert response.status_code in (200, 404, 422)
    if response.status_code == 200:
        assert response.json()["items"] == []
    report = admin_api.get(f"{base}/user-activity-report", {"date": f"{timezone.now():%Y-%m-%d}"})
    text = b"".join(report.streaming_content).decode() if report.streaming else report.content.decode()
    assert str(a.user.pk) in text and str(b.user.pk) not in text


# --- SCIM -----------------------------------------------------------------------------------------------------


def test_a_scim_token_never_reaches_another_directory(orgs):
    a, b = orgs.a, orgs.b
    before = state()
    for kind, obj in (("Users", b.user), ("Groups", b.group)):
        url = f"/scim/v2/{kind}/{obj.pk}"
        assert a.scim.get(f"/scim/v2/{kind}/{getattr(a, kind[:-1].lower()).pk}").status_code == 200  # the control
        patch = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Hijacked"}],
        }
        put = (
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "hijacked", "active": False}
            if kind == "Users"
            else {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Hijacked"}
        )
        for method, body in (("GET", None), ("PATCH", patch), ("PUT", put), ("DELETE", None)):
            response = a.scim.generic(method, url, data=json.dumps(body) if body else "", content_type=SCIM_JSON)
            assert response.status_code == 404, (method, url, response.status_code)
            assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    # Listing and filtering see only A's directory.
    listed = a.scim.get("/scim/v2/Users").json()
    assert {r["id"] for r in listed["Resources"]} == {str(u.pk) for u in a.users}
    found = a.scim.get("/scim/v2/Users", {"filter": f'userName eq "{b.user.user_name}"'}).json()
    assert found["totalResults"] == 0
    groups = a.scim.get("/scim/v2/Groups").json()
    assert {r["id"] for r in groups["Resources"]} == {str(a.group.pk)}
    # A's group can not take B's user as a member.
    add = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "add", "path": "members", "value": [{"value": str(b.user.pk)}]}],
    }
    response = a.scim.patch(f"/scim/v2/Groups/{a.group.pk}", json.dumps(add), content_type=SCIM_JSON)
    assert response.status_code in (400, 404), response.status_code
    assert state() == before
    # And B's token, the same way round.
    assert b.scim.get(f"/scim/v2/Users/{a.user.pk}").status_code == 404
    assert b.scim.get(f"/scim/v2/Users/{uuid.uuid4()}").status_code == 404

"""Bad input (the issue's list and more): each answers a SCIM error with the right status and scimType, and writes
nothing: no user, group, membership or audit event changes, and no signal is sent."""

from __future__ import annotations

import datetime
import json
import uuid

import pytest
from django.utils import timezone

from directory import services
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership, ScimToken
from kiroconsole.audit import Actor
from kiroconsole.models import AuditEvent
from tests.directory.scim.conftest import ScimClient, patch_body, user_body
from tests.directory.scim.test_endpoints import assert_error, make_user

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def state() -> tuple:
    """Everything a SCIM request could write."""
    return (
        sorted(DirectoryUser.objects.values_list(
            "pk", "user_name", "display_name", "given_name", "family_name", "email", "external_id", "active",
            "deleted_at", "updated_at")),
        sorted(DirectoryGroup.objects.values_list("pk", "display_name", "external_id", "deleted_at", "updated_at")),
        sorted(GroupMembership.objects.values_list("group_id", "user_id")),
        AuditEvent.objects.count(),
    )  # fmt: skip


@pytest.fixture
def nothing_written(received):
    """Assert, after the test's request, that nothing changed and no directory signal was sent."""
    captured = {}

    def check_before():
        captured["before"] = state()

    def check_after():
        assert state() == captured["before"]
        assert all(not sends for sends in received.values()), dict(received)

    return check_before, check_after


def members(ids) -> list[dict]:
    return [{"value": str(i)} for i in ids]


BAD_REQUESTS = {
    # name: (method, path template, body or raw text, content type, status, scimType)
    "malformed JSON": ("POST", "/Users", '{"userName": "x",', None, 400, "invalidSyntax"),
    "malformed JSON in a PATCH": ("PATCH", "/Users/{ada}", "{'Operations': []}", None, 400, "invalidSyntax"),
    "not UTF-8": ("POST", "/Users", b"\xff\xfe\x00garbage", None, 400, "invalidSyntax"),
    "a JSON array": ("POST", "/Groups", "[]", None, 400, "invalidSyntax"),
    "wrong content type": ("POST", "/Users", user_body("new.user"), "text/plain", 415, None),
    "form content type": ("PATCH", "/Users/{ada}", "active=false", "application/x-www-form-urlencoded", 415, None),
    "XML": ("POST", "/Groups", "<group/>", "application/xml", 415, None),
    "no schemas": ("POST", "/Users", {k: v for k, v in user_body("new.user").items() if k != "schemas"}, None,
                   400, "invalidSyntax"),
    "the group schema for a user": ("POST", "/Users", user_body("new.user", schemas=[GROUP]), None, 400,
                                    "invalidSyntax"),
    "missing userName": ("POST", "/Users", {k: v for k, v in user_body("new.user").items() if k != "userName"},
                         None, 400, "invalidValue"),
    "missing emails": ("POST", "/Users", {k: v for k, v in user_body("new.user").items() if k != "emails"}, None,
                       400, "invalidValue"),
    "missing familyName": ("POST", "/Users", user_body("new.user", name={"givenName": "New"}), None, 400,
                           "invalidValue"),
    "empty displayName": ("POST", "/Users", user_body("new.user", displayName="  "), None, 400, "invalidValue"),
    "missing group displayName": ("POST", "/Groups", {"schemas": [GROUP], "members": []}, None, 400, "invalidValue"),
    "a second email": ("POST", "/Users", user_body("new.user", emails=[
        {"value": "new.user@acme.example", "type": "work", "primary": True},
        {"value": "new.user@home.example", "type": "home"}]), None, 400, "invalidValue"),
    "a home email": ("POST", "/Users", user_body("new.user", emails=[{"value": "n@acme.example", "type": "home"}]),
                     None, 400, "invalidValue"),
    "a second email by PATCH add": ("PATCH", "/Users/{ada}", patch_body(
        {"op": "add", "path": "emails", "value": [{"value": "ada@home.example", "type": "work"}]}), None, 400,
        "invalidValue"),
    "a home email by PATCH": ("PATCH", "/Users/{ada}", patch_body(
        {"op": "add", "path": 'emails[type eq "home"].value', "value": "ada@home.example"}), None, 400,
        "invalidValue"),
    "an unknown attribute": ("POST", "/Users", user_body("new.user", title="Engineer"), None, 400, "invalidSyntax"),
    "an extension": ("POST", "/Users", user_body("new.user", **{
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}}), None, 400,
        "invalidSyntax"),
    "an unknown name part": ("POST", "/Users", user_body("new.user", name={
        "givenName": "N", "familyName": "U", "middleName": "X"}), None, 400, "invalidSyntax"),
    "an unknown group attribute": ("POST", "/Groups", {"schemas": [GROUP], "displayName": "Ops",
                                                       "description": "x"}, None, 400, "invalidSyntax"),
    "an unknown PATCH path": ("PATCH", "/Users/{ada}", patch_body({"op": "add", "path": "nickName", "value": "A"}),
                              None, 400, "invalidPath"),
    "an unknown attribute without path": ("PATCH", "/Users/{ada}", patch_body(
        {"op": "replace", "value": {"active": False, "title": "Boss"}}), None, 400, "invalidPath"),
    "an unknown op": ("PATCH", "/Users/{ada}", patch_body({"op": "merge", "path": "active", "value": False}), None,
                      400, "invalidSyntax"),
    "no Operations": ("PATCH", "/Users/{ada}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]},
                      None, 400, "invalidSyntax"),
    "remove without path": ("PATCH", "/Users/{ada}", patch_body({"op": "remove"}), None, 400, "noTarget"),
    "replace without value": ("PATCH", "/Users/{ada}", patch_body({"op": "replace", "path": "displayName"}), None,
                              400, "invalidValue"),
    "a boolean that is not one": ("PATCH", "/Users/{ada}", patch_body(
        {"op": "replace", "path": "active", "value": "maybe"}), None, 400, "invalidValue"),
    "a number for a name": ("PATCH", "/Users/{ada}", patch_body(
        {"op": "replace", "path": "userName", "value": 42}), None, 400, "invalidValue"),
    "a changed id": ("PATCH", "/Users/{ada}", patch_body(
        {"op": "replace", "value": {"id": str(uuid.UUID(int=7)), "displayName": "X"}}), None, 400, "mutability"),
    "removing the userName": ("PATCH", "/Users/{ada}", patch_body({"op": "remove", "path": "userName"}), None,
                              400, "mutability"),
    "removing the email": ("PATCH", "/Users/{ada}", patch_body({"op": "remove", "path": "emails"}), None, 400,
                           "mutability"),
    "replacing an email that is not there": ("PATCH", "/Users/{ada}", patch_body(
        {"op": "replace", "path": 'emails[value eq "nobody@acme.example"].value', "value": "x@acme.example"}),
        None, 400, "noTarget"),
    "an unsupported filter in a path": ("PATCH", "/Groups/{engineering}", patch_body(
        {"op": "remove", "path": 'members[value co "a"]'}), None, 400, "invalidFilter"),
    "valid operations then a bad one": ("PATCH", "/Users/{ada}", patch_body(
        {"op": "replace", "path": "displayName", "value": "Countess"},
        {"op": "replace", "path": "active", "value": False},
        {"op": "replace", "path": "userName", "value": "has space"}), None, 400, "invalidValue"),
    "a member that is no user": ("PATCH", "/Groups/{engineering}", patch_body(
        {"op": "add", "path": "members", "value": [{"value": str(uuid.UUID(int=9))}]}), None, 400, "invalidValue"),
    "a member id that is no id": ("POST", "/Groups", {"schemas": [GROUP], "displayName": "Ops",
                                                     "members": [{"value": "ada.lovelace"}]}, None, 400,
                                  "invalidValue"),
    "a group as a member": ("PATCH", "/Groups/{research}", patch_body(
        {"op": "add", "path": "members", "value": [{"value": "{engineering}", "type": "Group"}]}), None, 400,
        "invalidValue"),
    "a rename that clashes, with members": ("PATCH", "/Groups/{research}", patch_body(
        {"op": "add", "path": "members", "value": [{"value": "{alan}"}]},
        {"op": "replace", "path": "displayName", "value": "ENGINEERING"}), None, 409, "uniqueness"),
    "a clashing email": ("POST", "/Users", user_body("new.user", emails=[{"value": "Ada.Lovelace@acme.example"}]),
                         None, 409, "uniqueness"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_REQUESTS), ids=list(BAD_REQUESTS))
def test_bad_request_answers_an_error_and_writes_nothing(scim, world, nothing_written, case):
    method, path, body, content_type, status, scim_type = BAD_REQUESTS[case]
    ids = {name: str(getattr(value, "pk", "")) for name, value in world.items() if name != "spare"}
    path = path.format(**ids)
    if isinstance(body, dict):
        body = json.loads(json.dumps(body).replace("{engineering}", ids["engineering"]).replace("{alan}", ids["alan"]))
    before, after = nothing_written
    before()
    kwargs = {"content_type": content_type} if content_type else {}
    assert_error(scim.send(method, path, body, **kwargs), status, scim_type)
    after()


def test_a_patch_with_101_member_changes_is_refused(scim, world, nothing_written):
    before, after = nothing_written
    group = world["research"]
    spare = world["spare"]
    before()
    body = assert_error(
        scim.send(
            "PATCH",
            f"/Groups/{group.pk}",
            patch_body({"op": "add", "path": "members", "value": members(u.pk for u in spare)}),
        ),
        400,
        "invalidValue",
    )
    assert "at most 100 group members" in body["detail"] and "this one has 101" in body["detail"]
    # Added and removed count together.
    split = patch_body(
        {"op": "add", "path": "members", "value": members(u.pk for u in spare[:51])},
        {"op": "remove", "path": "members", "value": members(u.pk for u in spare[51:])},
    )
    assert_error(scim.send("PATCH", f"/Groups/{group.pk}", split), 400, "invalidValue")
    assert_error(
        scim.send(
            "POST", "/Groups", {"schemas": [GROUP], "displayName": "Big", "members": members(u.pk for u in spare)}
        ),
        400,
        "invalidValue",
    )
    after()


def test_replacing_members_counts_those_removed(scim, world, identity_center):
    group = world["research"]
    services.group_members_add(group=group, users=world["spare"][:60], actor=Actor.for_command("test"))
    replacement = patch_body({"op": "replace", "path": "members", "value": members(u.pk for u in world["spare"][60:])})
    before = state()
    # 41 named, but 60 removed + 41 added = 101 changes.
    assert_error(scim.send("PATCH", f"/Groups/{group.pk}", replacement), 400, "invalidValue")
    assert state() == before


def test_exactly_100_member_changes_are_accepted(scim, world):
    group = world["research"]
    body = patch_body({"op": "add", "path": "members", "value": members(u.pk for u in world["spare"][:100])})
    assert scim.send("PATCH", f"/Groups/{group.pk}", body).status_code == 204
    assert group.memberships.count() == 100


@pytest.mark.parametrize("how", ["revoked", "expired", "unknown", "missing", "api token"])
def test_an_invalid_token_gets_401_and_writes_nothing(scim_token, world, nothing_written, admin_api, how):
    token, raw = scim_token
    if how == "revoked":
        services.scim_token_revoke(token=token, actor=Actor.for_command("test"))
    elif how == "expired":
        ScimToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    client = {
        "revoked": ScimClient(raw),
        "expired": ScimClient(raw),
        "unknown": ScimClient(raw[:-4] + "AAAA"),
        "missing": ScimClient(None),
        "api token": admin_api,
    }[how]
    before, after = nothing_written
    before()
    for method, path, body in [
        ("POST", "/Users", user_body("new.user")),
        ("PATCH", f"/Users/{world['ada'].pk}", patch_body({"op": "replace", "value": {"active": False}})),
        ("DELETE", f"/Groups/{world['engineering'].pk}", None),
        ("GET", "/Users", None),
    ]:
        response = client.generic(method, "/scim/v2" + path, data=json_text(body), content_type="application/scim+json")
        assert_error(response, 401)
    after()


def json_text(body) -> str:
    return json.dumps(body) if body is not None else ""


def test_a_token_of_another_directory_cannot_reach_this_one(world, second_identity_center, nothing_written):
    _, raw = services.scim_token_create(identity_center=second_identity_center, actor=Actor.for_command("test"))
    other = ScimClient(raw)
    before, after = nothing_written
    before()
    ada, engineering = world["ada"], world["engineering"]
    assert_error(other.read(f"/Users/{ada.pk}"), 404)
    assert_error(other.read(f"/Groups/{engineering.pk}"), 404)
    assert_error(other.send("PUT", f"/Users/{ada.pk}", user_body("ada.lovelace")), 404)
    assert_error(
        other.send("PATCH", f"/Users/{ada.pk}", patch_body({"op": "replace", "value": {"active": False}})), 404
    )
    assert_error(other.send("DELETE", f"/Groups/{engineering.pk}"), 404)
    assert other.read("/Users", filter=f'id eq "{ada.pk}"').json()["totalResults"] == 0
    assert other.read("/Users").json()["totalResults"] == 0
    assert other.read("/Groups").json()["totalResults"] == 0
    after()


def test_a_user_of_another_directory_cannot_be_made_a_member(scim, world, second_identity_center):
    stranger = make_user(second_identity_center, "eve.stranger")
    body = patch_body({"op": "add", "path": "members", "value": [{"value": str(stranger.pk)}]})
    before = state()
    assert_error(scim.send("PATCH", f"/Groups/{world['research'].pk}", body), 400, "invalidValue")
    assert state() == before

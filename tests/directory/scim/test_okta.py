"""Okta's provisioning cycle, request by request, as Okta's SCIM 2.0 client sends it (its "AWS IAM Identity
Center" app): test connection, look-up by filter, create, update (PUT, and PATCH without a path), deactivate with
`{"active": false}` and no path, group push (create, members added, removed, both at once), rename with the group's
id in the value, delete. Each step checks the answer, the database, the audit trail (source scim, the token) and the
membership signals."""

from __future__ import annotations

from directory.models import DirectoryGroup, DirectoryUser
from kiroconsole.models import AuditEvent
from tests.directory.scim.conftest import patch_body

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def okta_user(login: str, given: str, family: str, okta_id: str) -> dict:
    return {
        "schemas": [USER],
        "userName": login,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": True, "value": login, "type": "work"}],
        "displayName": f"{given} {family}",
        "externalId": okta_id,
        "groups": [],
        "active": True,
    }


def test_okta_provisioning_cycle(scim, scim_token, identity_center, received):
    token = scim_token[0]

    # Test connection (Okta's "Test API Credentials").
    response = scim.read("/Users", startIndex=1, count=2)
    assert response.status_code == 200
    assert response.json() == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0,
        "itemsPerPage": 0,
        "startIndex": 1,
        "Resources": [],
    }

    # Look-up before create: Okta filters on userName.
    response = scim.get("/scim/v2/Users?filter=userName%20eq%20%22jane.doe%40acme.example%22&startIndex=1&count=100")
    assert (response.status_code, response.json()["totalResults"]) == (200, 0)

    # Create.
    response = scim.send("POST", "/Users", okta_user("jane.doe@acme.example", "Jane", "Doe", "00u1abcd2EFGH3ijk4x7"))
    assert response.status_code == 201, response.content
    jane = response.json()
    assert jane["userName"] == "jane.doe@acme.example" and jane["active"] is True
    response = scim.send("POST", "/Users", okta_user("john.roe@acme.example", "John", "Roe", "00u9zyxw8VUTS7rqp6o5"))
    assert response.status_code == 201, response.content
    john = response.json()

    # Look-up again: found, with the id Okta keeps.
    response = scim.get("/scim/v2/Users?filter=userName%20eq%20%22jane.doe%40acme.example%22&startIndex=1&count=100")
    assert [u["id"] for u in response.json()["Resources"]] == [jane["id"]]
    assert scim.read(f"/Users/{jane['id']}").json()["externalId"] == "00u1abcd2EFGH3ijk4x7"

    # Update: Okta sends the whole user with PUT (the id and meta it got back included)...
    updated = okta_user("jane.doe@acme.example", "Jane", "Smith", "00u1abcd2EFGH3ijk4x7")
    updated |= {"id": jane["id"], "meta": jane["meta"], "emails": [{"primary": True, "value": "jane.smith@acme.example",
                                                                    "type": "work"}]}  # fmt: skip
    response = scim.send("PUT", f"/Users/{jane['id']}", updated)
    assert response.status_code == 200, response.content
    assert (response.json()["name"]["familyName"], response.json()["emails"][0]["value"]) == (
        "Smith",
        "jane.smith@acme.example",
    )
    # ... or a PATCH replace without a path.
    response = scim.send(
        "PATCH",
        f"/Users/{jane['id']}",
        patch_body({"op": "replace", "value": {"displayName": "Jane Smith", "name": {"familyName": "Smith"}}}),
    )
    assert (response.status_code, response.json()["displayName"]) == (200, "Jane Smith")

    # Group push: look-up, create, then members.
    response = scim.get("/scim/v2/Groups?filter=displayName%20eq%20%22Engineering%22&startIndex=1&count=100")
    assert response.json()["totalResults"] == 0
    response = scim.send("POST", "/Groups", {"schemas": [GROUP], "displayName": "Engineering", "members": []})
    assert response.status_code == 201, response.content
    group = response.json()
    received.clear()
    add = patch_body(
        {
            "op": "add",
            "path": "members",
            "value": [
                {"value": jane["id"], "display": "jane.smith@acme.example"},
                {"value": john["id"], "display": "john.roe@acme.example"},
            ],
        }
    )
    response = scim.send("PATCH", f"/Groups/{group['id']}", add)
    assert (response.status_code, response.content) == (204, b"")
    assert member_ids(group["id"]) == {jane["id"], john["id"]}
    (sent,) = received["memberships_changed"]
    assert {(str(g), str(u)) for g, u in sent["added"]} == {(group["id"], jane["id"]), (group["id"], john["id"])}
    assert sent["actor"].source == "scim" and sent["actor"].token_id == str(token.pk)

    # Members removed one by one with a value filter...
    received.clear()
    remove = patch_body({"op": "remove", "path": f'members[value eq "{john["id"]}"]'})
    assert scim.send("PATCH", f"/Groups/{group['id']}", remove).status_code == 204
    assert member_ids(group["id"]) == {jane["id"]}
    assert [(str(g), str(u)) for g, u in received["memberships_changed"][0]["removed"]] == [(group["id"], john["id"])]
    # ... and added and removed in one request.
    received.clear()
    both = patch_body(
        {"op": "add", "path": "members", "value": [{"value": john["id"], "display": "john.roe@acme.example"}]},
        {"op": "remove", "path": f'members[value eq "{jane["id"]}"]'},
    )
    assert scim.send("PATCH", f"/Groups/{group['id']}", both).status_code == 204
    assert member_ids(group["id"]) == {john["id"]}
    assert len(received["memberships_changed"]) == 2  # one add, one remove

    # Rename: Okta repeats the group's id in the value.
    rename = patch_body({"op": "replace", "value": {"id": group["id"], "displayName": "Platform Engineering"}})
    assert scim.send("PATCH", f"/Groups/{group['id']}", rename).status_code == 204
    assert scim.read(f"/Groups/{group['id']}").json()["displayName"] == "Platform Engineering"

    # Deactivate: a PATCH without a path whose value is {"active": false}.
    received.clear()
    deactivate = patch_body({"op": "replace", "value": {"active": False}})
    response = scim.send("PATCH", f"/Users/{john['id']}", deactivate)
    assert (response.status_code, response.json()["active"]) == (200, False)
    assert DirectoryUser.objects.get(pk=john["id"]).active is False
    assert received["users_activation_changed"][0]["active"] is False
    # Reactivate.
    reactivate = patch_body({"op": "replace", "value": {"active": True}})
    assert scim.send("PATCH", f"/Users/{john['id']}", reactivate).json()["active"] is True

    # Delete the group (Okta's "unlink pushed group and delete it in the app").
    received.clear()
    assert scim.delete(f"/scim/v2/Groups/{group['id']}").status_code == 204
    assert scim.read(f"/Groups/{group['id']}").status_code == 404
    assert DirectoryGroup.objects.get(pk=group["id"]).deleted_at is not None
    assert [(str(g), str(u)) for g, u in received["memberships_changed"][0]["removed"]] == [(group["id"], john["id"])]

    # Everything was recorded as SCIM, with the token.
    events = AuditEvent.objects.filter(source="scim")
    assert set(events.values_list("actor_token_id", flat=True)) == {str(token.pk)}
    assert set(events.values_list("action", flat=True)) == {
        "directory_user.create",
        "directory_user.update",
        "directory_group.create",
        "directory_group.member_add",
        "directory_group.member_remove",
        "directory_group.update",
        "directory_group.delete",
    }


def member_ids(group_id: str) -> set[str]:
    return {str(pk) for pk in DirectoryGroup.objects.get(pk=group_id).members.values_list("pk", flat=True)}

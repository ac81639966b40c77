"""Microsoft Entra ID's provisioning cycle, request by request, in the forms its SCIM client sends: test
connection with a filter on a random userName, look-up, create (enterprise schema listed, `name.formatted`,
`"roles": []`), update with `Replace` paths such as `emails[type eq "work"].value`, deactivate with the string
`"False"`, group push (`excludedAttributes=members` look-ups, members added and removed with `"$ref": null`),
membership check by filter, rename, group delete, and the user's hard delete."""

from __future__ import annotations

import uuid

from directory.models import DirectoryGroup, DirectoryUser
from kiroconsole.models import AuditEvent
from tests.directory.scim.conftest import patch_body

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def entra_user(upn: str, given: str, family: str, object_id: str) -> dict:
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": object_id,
        "userName": upn,
        "active": True,
        "displayName": f"{given} {family}",
        "emails": [{"primary": True, "type": "work", "value": upn}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": f"{given} {family}", "familyName": family, "givenName": given},
        "roles": [],
    }


def test_entra_id_provisioning_cycle(scim, scim_token, identity_center, received):
    token = scim_token[0]

    # Test connection: a filter on a userName that cannot exist.
    probe = f"non-existent-user-{uuid.uuid4()}"
    response = scim.read("/Users", filter=f'userName eq "{probe}"')
    assert (response.status_code, response.json()["totalResults"], response.json()["Resources"]) == (200, 0, [])

    # Look-up, then create.
    response = scim.read("/Users", filter='userName eq "AdeleV@contoso.example"')
    assert response.json()["totalResults"] == 0
    object_id = "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef"
    response = scim.send("POST", "/Users", entra_user("AdeleV@contoso.example", "Adele", "Vance", object_id))
    assert response.status_code == 201, response.content
    adele = response.json()
    assert adele["externalId"] == object_id
    assert "formatted" not in adele["name"] and "roles" not in adele
    response = scim.send("POST", "/Users", entra_user("AlexW@contoso.example", "Alex", "Wilber", str(uuid.uuid4())))
    alex = response.json()
    # Entra ID matches on userName, case-insensitively, and may look up by the work email too.
    assert (
        scim.read("/Users", filter='userName eq "adelev@contoso.example"').json()["Resources"][0]["id"] == adele["id"]
    )
    found = scim.read("/Users", filter='emails[type eq "work"].value eq "AdeleV@contoso.example"').json()
    assert [u["id"] for u in found["Resources"]] == [adele["id"]]

    # Update: Replace (and Add) operations with paths, names in Entra ID's case.
    update = patch_body(
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "Adele.Vance@contoso.example"},
        {"op": "Replace", "path": "name.familyName", "value": "Vance-Wilber"},
        {"op": "Replace", "path": "name.formatted", "value": "Adele Vance-Wilber"},
        {"op": "Add", "path": "displayName", "value": "Adele Vance-Wilber"},
        {"op": "Replace", "path": "userName", "value": "Adele.Vance@contoso.example"},
    )
    response = scim.send("PATCH", f"/Users/{adele['id']}", update)
    assert response.status_code == 200, response.content
    user = DirectoryUser.objects.get(pk=adele["id"])
    assert (user.user_name, user.email, user.family_name, user.display_name) == (
        "Adele.Vance@contoso.example",
        "Adele.Vance@contoso.example",
        "Vance-Wilber",
        "Adele Vance-Wilber",
    )

    # Deactivate: Entra ID sends the boolean as a string.
    received.clear()
    response = scim.send(
        "PATCH", f"/Users/{alex['id']}", patch_body({"op": "Replace", "path": "active", "value": "False"})
    )
    assert (response.status_code, response.json()["active"]) == (200, False)
    assert received["users_activation_changed"][0]["user_ids"] == [uuid.UUID(alex["id"])]
    response = scim.send(
        "PATCH", f"/Users/{alex['id']}", patch_body({"op": "Replace", "path": "active", "value": "True"})
    )
    assert response.json()["active"] is True

    # Group push.
    response = scim.read("/Groups", excludedAttributes="members", filter='displayName eq "Sales and Marketing"')
    assert response.json()["totalResults"] == 0
    response = scim.send(
        "POST",
        "/Groups",
        {
            "schemas": [GROUP, MS_GROUP],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Sales and Marketing",
            "meta": {"resourceType": "Group"},
            "members": [],
        },
    )
    assert response.status_code == 201, response.content
    group = response.json()
    response = scim.read(f"/Groups/{group['id']}", excludedAttributes="members")
    assert response.status_code == 200 and "members" not in response.json()

    is_member = f'id eq "{group["id"]}" and members eq "{adele["id"]}"'
    assert scim.read("/Groups", filter=is_member, excludedAttributes="members").json()["totalResults"] == 0
    received.clear()
    add = patch_body(
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": adele["id"]}]},
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": alex["id"]}]},
    )
    assert scim.send("PATCH", f"/Groups/{group['id']}", add).status_code == 204
    assert scim.read("/Groups", filter=is_member, excludedAttributes="members").json()["totalResults"] == 1
    assert len(received["memberships_changed"]) == 1  # both members, one signal
    assert len(received["memberships_changed"][0]["added"]) == 2

    received.clear()
    remove = patch_body({"op": "Remove", "path": "members", "value": [{"$ref": None, "value": adele["id"]}]})
    assert scim.send("PATCH", f"/Groups/{group['id']}", remove).status_code == 204
    assert scim.read("/Groups", filter=is_member, excludedAttributes="members").json()["totalResults"] == 0
    assert [str(u) for _, u in received["memberships_changed"][0]["removed"]] == [adele["id"]]

    # Rename.
    rename = patch_body({"op": "Replace", "path": "displayName", "value": "Sales"})
    assert scim.send("PATCH", f"/Groups/{group['id']}", rename).status_code == 204
    assert scim.read(f"/Groups/{group['id']}").json()["displayName"] == "Sales"
    assert [m["value"] for m in scim.read(f"/Groups/{group['id']}").json()["members"]] == [alex["id"]]

    # Delete the group; a user deleted for good in Entra ID is deleted too (an unassigned one is only disabled).
    assert scim.delete(f"/scim/v2/Groups/{group['id']}").status_code == 204
    assert scim.read(f"/Groups/{group['id']}").status_code == 404
    assert DirectoryGroup.objects.filter(pk=group["id"], deleted_at__isnull=False).exists()
    received.clear()
    assert scim.delete(f"/scim/v2/Users/{alex['id']}").status_code == 204
    assert scim.read(f"/Users/{alex['id']}").status_code == 404
    assert received["users_deleted"][0]["user_ids"] == [uuid.UUID(alex["id"])]

    events = AuditEvent.objects.filter(source="scim")
    assert set(events.values_list("actor_token_id", flat=True)) == {str(token.pk)}
    assert events.filter(action="directory_user.delete", target_id=alex["id"]).exists()

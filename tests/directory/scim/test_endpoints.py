"""The SCIM endpoints one by one: discovery, lists (filters, pages, attributes), one resource, writes, errors."""

from __future__ import annotations

import pytest

from directory import services
from directory.models import DirectoryGroup, DirectoryUser
from kiroconsole.audit import Actor
from kiroconsole.models import AuditEvent
from tests.directory.scim.conftest import ScimClient, patch_body, user_body

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def make_user(identity_center, user_name: str, **fields) -> DirectoryUser:
    given, _, family = user_name.partition(".")
    data = {
        "user_name": user_name,
        "display_name": f"{given.title()} {family.title()}",
        "given_name": given.title(),
        "family_name": family.title() or "Tester",
        "email": f"{user_name}@acme.example",
    } | fields
    return services.directory_user_create(identity_center=identity_center, actor=Actor.for_command("test"), **data)


def make_group(identity_center, name: str, members=()) -> DirectoryGroup:
    group = services.directory_group_create(
        identity_center=identity_center, display_name=name, actor=Actor.for_command("test")
    )
    if members:
        services.group_members_add(group=group, users=members, actor=Actor.for_command("test"))
    return group


def assert_error(response, status: int, scim_type: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/scim+json"
    body = response.json()
    assert body["schemas"] == [ERROR]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert body["detail"]
    return body


# --- Discovery -----------------------------------------------------------------------------------------------


def test_service_provider_config_says_what_is_supported(scim):
    response = scim.read("/ServiceProviderConfig")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/scim+json"
    config = response.json()
    assert config["patch"] == {"supported": True}
    assert config["bulk"]["supported"] is False
    assert config["filter"] == {"supported": True, "maxResults": 100}
    assert config["changePassword"]["supported"] is False
    assert config["sort"]["supported"] is False
    assert config["etag"]["supported"] is False
    assert config["authenticationSchemes"][0]["type"] == "oauthbearertoken"


def test_schemas_list_exactly_the_attributes_kept(scim):
    response = scim.read("/Schemas")
    assert response.status_code == 200
    schemas = {s["id"]: s for s in response.json()["Resources"]}
    assert set(schemas) == {USER, GROUP}
    user_attributes = {a["name"]: a for a in schemas[USER]["attributes"]}
    assert set(user_attributes) == {"userName", "name", "displayName", "emails", "active", "externalId"}
    assert {a["name"] for a in user_attributes["emails"]["subAttributes"]} == {"value", "type", "primary"}
    assert {a["name"] for a in schemas[GROUP]["attributes"]} == {"displayName", "members", "externalId"}
    one = scim.read(f"/Schemas/{USER}")
    assert one.status_code == 200 and one.json()["name"] == "User"
    assert_error(scim.read("/Schemas/urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"), 404)


def test_resource_types_are_users_and_groups(scim):
    response = scim.read("/ResourceTypes")
    assert response.status_code == 200
    types = {t["id"]: t for t in response.json()["Resources"]}
    assert {name: (t["endpoint"], t["schema"]) for name, t in types.items()} == {
        "User": ("/Users", USER),
        "Group": ("/Groups", GROUP),
    }
    assert scim.read("/ResourceTypes/Group").json()["endpoint"] == "/Groups"
    assert_error(scim.read("/ResourceTypes/Device"), 404)


@pytest.mark.parametrize("path", ["/ServiceProviderConfig", "/Schemas", "/ResourceTypes"])
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_discovery_endpoints_answer_only_get(scim, path, method):
    response = scim.send(method, path, {})
    assert_error(response, 405)
    assert response["Allow"] == "GET"


@pytest.mark.parametrize("path", ["/Bulk", "/Me", "/.search", "/Users/.search", "/Groups/.search"])
def test_what_identity_center_lacks_answers_501(scim, path):
    assert_error(scim.send("POST", path, {}), 501)


def test_an_unknown_path_is_a_scim_404(scim):
    assert_error(scim.read("/Devices"), 404)
    assert_error(scim.get("/scim/v1/Users"), 404)


# --- Lists -----------------------------------------------------------------------------------------------------


def test_users_list_pages_with_start_index_and_count(scim, identity_center):
    for name in ["ada.a", "bob.b", "cy.c", "di.d", "ed.e"]:
        make_user(identity_center, name)
    page = scim.read("/Users", startIndex=2, count=2).json()
    assert page["schemas"] == [LIST]
    assert (page["totalResults"], page["itemsPerPage"], page["startIndex"]) == (5, 2, 2)
    assert [u["userName"] for u in page["Resources"]] == ["bob.b", "cy.c"]
    assert scim.read("/Users", startIndex=5, count=10).json()["itemsPerPage"] == 1
    assert scim.read("/Users", startIndex=6).json()["Resources"] == []
    counted = scim.read("/Users", count=0).json()
    assert (counted["totalResults"], counted["Resources"]) == (5, [])
    clamped = scim.read("/Users", startIndex=0, count=-3).json()
    assert (clamped["startIndex"], clamped["itemsPerPage"]) == (1, 0)


def test_a_page_holds_at_most_100(scim, identity_center):
    DirectoryUser.objects.bulk_create(
        DirectoryUser(
            identity_center=identity_center,
            user_name=f"user{i:03d}",
            display_name=f"User {i}",
            given_name="User",
            family_name=f"{i}",
            email=f"user{i:03d}@acme.example",
        )
        for i in range(105)
    )
    page = scim.read("/Users", count=500).json()
    assert (page["totalResults"], page["itemsPerPage"]) == (105, 100)
    assert scim.read("/Users").json()["itemsPerPage"] == 100


def test_users_filter_on_each_supported_attribute(scim, identity_center):
    ada = make_user(identity_center, "ada.lovelace", external_id="okta-1")
    make_user(identity_center, "alan.turing", external_id="okta-2")

    def found(expression: str) -> list[str]:
        response = scim.read("/Users", filter=expression)
        assert response.status_code == 200, response.content
        return [u["userName"] for u in response.json()["Resources"]]

    assert found('userName eq "ADA.LOVELACE"') == ["ada.lovelace"]  # userName is case-insensitive
    assert found('externalId eq "okta-2"') == ["alan.turing"]
    assert found('externalId eq "OKTA-2"') == []  # externalId is case-exact
    assert found(f'id eq "{ada.pk}"') == ["ada.lovelace"]
    assert found('id eq "not-a-uuid"') == []
    assert found('displayName eq "alan turing"') == ["alan.turing"]
    assert found('emails[type eq "work"].value eq "ada.lovelace@acme.example"') == ["ada.lovelace"]
    assert found('emails[type eq "work" and value eq "alan.turing@acme.example"]') == ["alan.turing"]
    assert found('emails[type eq "home"].value eq "ada.lovelace@acme.example"') == []
    assert found('userName eq "ada.lovelace" and externalId eq "okta-2"') == []
    assert found('userName eq "ada.lovelace" and externalId eq "okta-1"') == ["ada.lovelace"]


def test_filtering_on_other_attributes_is_an_invalid_filter(scim):
    body = assert_error(scim.read("/Users", filter='name.givenName eq "Ada"'), 400, "invalidFilter")
    assert "userName, externalId, id, displayName" in body["detail"]
    assert_error(scim.read("/Users", filter='userName sw "a"'), 400, "invalidFilter")
    assert_error(scim.read("/Groups", filter='displayName co "eng"'), 400, "invalidFilter")
    assert_error(scim.read("/Users", filter="userName eq 3"), 400, "invalidFilter")


def test_groups_filter_on_name_id_external_id_and_member(scim, identity_center):
    ada = make_user(identity_center, "ada.lovelace")
    alan = make_user(identity_center, "alan.turing")
    engineering = make_group(identity_center, "Engineering", [ada])
    make_group(identity_center, "Research", [alan])

    def found(expression: str) -> list[str]:
        response = scim.read("/Groups", filter=expression, excludedAttributes="members")
        assert response.status_code == 200, response.content
        return [g["displayName"] for g in response.json()["Resources"]]

    assert found('displayName eq "engineering"') == ["Engineering"]
    assert found(f'id eq "{engineering.pk}"') == ["Engineering"]
    assert found(f'members eq "{alan.pk}"') == ["Research"]
    assert found(f'id eq "{engineering.pk}" and members eq "{ada.pk}"') == ["Engineering"]
    assert found(f'id eq "{engineering.pk}" and members eq "{alan.pk}"') == []
    assert found(f'members[value eq "{ada.pk}"]') == ["Engineering"]


def test_excluded_members_are_left_out_and_members_are_listed_otherwise(scim, identity_center):
    ada = make_user(identity_center, "ada.lovelace")
    group = make_group(identity_center, "Engineering", [ada])
    listed = scim.read("/Groups").json()["Resources"][0]
    assert listed["members"] == [
        {"value": str(ada.pk), "$ref": f"http://testserver/scim/v2/Users/{ada.pk}", "type": "User"}
    ]
    assert "members" not in scim.read("/Groups", excludedAttributes="members").json()["Resources"][0]
    one = scim.read(f"/Groups/{group.pk}", excludedAttributes="members").json()
    assert "members" not in one and one["displayName"] == "Engineering"


def test_attributes_returns_only_those_with_id_and_schemas(scim, identity_center):
    user = make_user(identity_center, "ada.lovelace", external_id="x-1")
    body = scim.read(f"/Users/{user.pk}", attributes="userName,name.givenName").json()
    assert body == {"schemas": [USER], "id": str(user.pk), "userName": "ada.lovelace", "name": {"givenName": "Ada"}}
    body = scim.read(f"/Users/{user.pk}", excludedAttributes="emails,meta").json()
    assert "emails" not in body and "meta" not in body and body["externalId"] == "x-1"
    assert_error(
        scim.read(f"/Users/{user.pk}", attributes="userName", excludedAttributes="emails"), 400, "invalidSyntax"
    )


# --- One resource --------------------------------------------------------------------------------------------


def test_a_user_reads_as_a_scim_resource(scim, identity_center):
    user = make_user(identity_center, "ada.lovelace", external_id="00u1")
    response = scim.read(f"/Users/{user.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "schemas": [USER],
        "id": str(user.pk),
        "externalId": "00u1",
        "userName": "ada.lovelace",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "displayName": "Ada Lovelace",
        "emails": [{"value": "ada.lovelace@acme.example", "type": "work"}],
        "active": True,
        "meta": {
            "resourceType": "User",
            "created": body["meta"]["created"],
            "lastModified": body["meta"]["lastModified"],
            "location": f"http://testserver/scim/v2/Users/{user.pk}",
        },
    }
    assert body["meta"]["created"].endswith("Z")


def test_create_answers_201_with_location_and_audits_with_the_token(scim, scim_token, identity_center):
    response = scim.send("POST", "/Users", user_body("ada.lovelace", externalId="00u1"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"] == body["meta"]["location"]
    user = DirectoryUser.objects.get(pk=body["id"])
    assert (user.identity_center, user.user_name, user.email, user.external_id) == (
        identity_center,
        "ada.lovelace",
        "ada.lovelace@example.com",
        "00u1",
    )
    event = AuditEvent.objects.get(action="directory_user.create", target_id=str(user.pk))
    token = scim_token[0]
    assert (event.source, event.actor_type, event.actor_token_id) == ("scim", "scim_token", str(token.pk))
    assert event.actor_label == f"SCIM token {token.prefix}…"


def test_put_replaces_the_user_and_clears_what_is_left_out(scim, identity_center):
    user = make_user(identity_center, "ada.lovelace", external_id="00u1")
    body = user_body("ada.king", name={"givenName": "Ada", "familyName": "King"}, displayName="Ada King")
    response = scim.send("PUT", f"/Users/{user.pk}", body)
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert (user.user_name, user.family_name, user.display_name, user.external_id, user.active) == (
        "ada.king",
        "King",
        "Ada King",
        "",
        True,
    )
    assert response.json()["userName"] == "ada.king"


def test_put_replaces_a_group_and_its_members(scim, identity_center):
    ada, alan = make_user(identity_center, "ada.lovelace"), make_user(identity_center, "alan.turing")
    group = make_group(identity_center, "Engineering", [ada])
    response = scim.send(
        "PUT",
        f"/Groups/{group.pk}",
        {"schemas": [GROUP], "displayName": "Research", "members": [{"value": str(alan.pk)}]},
    )
    assert response.status_code == 200, response.content
    assert [m["value"] for m in response.json()["members"]] == [str(alan.pk)]
    group.refresh_from_db()
    assert group.display_name == "Research"
    assert list(group.members.values_list("pk", flat=True)) == [alan.pk]


def test_delete_marks_deleted_and_then_answers_404(scim, identity_center):
    user = make_user(identity_center, "ada.lovelace")
    group = make_group(identity_center, "Engineering", [user])
    assert scim.delete(f"/scim/v2/Groups/{group.pk}").status_code == 204
    assert scim.delete(f"/scim/v2/Users/{user.pk}").status_code == 204
    assert_error(scim.read(f"/Users/{user.pk}"), 404)
    assert_error(scim.read(f"/Groups/{group.pk}"), 404)
    assert_error(scim.delete(f"/scim/v2/Users/{user.pk}"), 404)
    assert DirectoryUser.objects.filter(pk=user.pk, deleted_at__isnull=False).exists()
    # The user name is free again: an identity provider may create the same user anew.
    assert scim.send("POST", "/Users", user_body("ada.lovelace")).status_code == 201


def test_unknown_ids_answer_404(scim):
    assert_error(scim.read("/Users/2819c223-7f76-453a-919d-413861904646"), 404)
    assert_error(scim.read("/Users/not-a-uuid"), 404)
    assert_error(scim.send("PATCH", "/Groups/not-a-uuid", patch_body({"op": "remove", "path": "members"})), 404)
    assert_error(scim.delete("/scim/v2/Groups/2819c223-7f76-453a-919d-413861904646"), 404)


def test_application_json_is_accepted_too(scim):
    response = scim.send("POST", "/Users", user_body("ada.lovelace"), content_type="application/json")
    assert response.status_code == 201
    assert response["Content-Type"] == "application/scim+json"


def test_user_patch_answers_200_with_the_user_and_group_patch_204(scim, identity_center):
    user = make_user(identity_center, "ada.lovelace")
    group = make_group(identity_center, "Engineering")
    response = scim.send(
        "PATCH", f"/Users/{user.pk}", patch_body({"op": "replace", "path": "displayName", "value": "A"})
    )
    assert (response.status_code, response.json()["displayName"]) == (200, "A")
    response = scim.send(
        "PATCH", f"/Groups/{group.pk}", patch_body({"op": "replace", "path": "displayName", "value": "B"})
    )
    assert (response.status_code, response.content) == (204, b"")


def test_patch_that_changes_nothing_writes_nothing(scim, identity_center):
    user = make_user(identity_center, "ada.lovelace")
    before = AuditEvent.objects.count()
    body = patch_body({"op": "replace", "value": {"displayName": "Ada Lovelace", "active": "True"}})
    assert scim.send("PATCH", f"/Users/{user.pk}", body).status_code == 200
    assert AuditEvent.objects.count() == before


def test_patch_operations_apply_in_order(scim, identity_center):
    ada, alan = make_user(identity_center, "ada.lovelace"), make_user(identity_center, "alan.turing")
    group = make_group(identity_center, "Engineering", [ada])
    body = patch_body(
        {"op": "remove", "path": "members"},  # everybody out
        {"op": "add", "path": "members", "value": [{"value": str(alan.pk)}, {"value": str(ada.pk)}]},
        {"op": "remove", "path": f'members[value eq "{alan.pk}"]'},
        {"op": "replace", "path": "externalId", "value": "grp-1"},
        {"op": "remove", "path": "externalId"},
    )
    assert scim.send("PATCH", f"/Groups/{group.pk}", body).status_code == 204
    group.refresh_from_db()
    assert list(group.members.values_list("pk", flat=True)) == [ada.pk]
    assert group.external_id == ""


def test_user_patch_paths_in_every_form(scim, identity_center):
    user = make_user(identity_center, "ada.lovelace")
    body = patch_body(
        {"op": "Replace", "path": "name.givenName", "value": "Augusta"},
        {"op": "REPLACE", "path": "urn:ietf:params:scim:schemas:core:2.0:User:displayName", "value": "Augusta Ada"},
        {"op": "add", "path": 'emails[type eq "work"].value', "value": "augusta@acme.example"},
        {"op": "replace", "path": "name", "value": {"familyName": "King"}},
        {"op": "add", "path": "externalId", "value": "e-1"},
        {
            "op": "replace",
            "path": "emails",
            "value": [{"value": "Augusta@acme.example", "type": "work", "primary": True}],
        },
    )
    response = scim.send("PATCH", f"/Users/{user.pk}", body)
    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert (user.given_name, user.family_name, user.display_name, user.email, user.external_id) == (
        "Augusta",
        "King",
        "Augusta Ada",
        "Augusta@acme.example",
        "e-1",
    )


def test_uniqueness_clashes_answer_409(scim, identity_center):
    make_user(identity_center, "ada.lovelace")
    alan = make_user(identity_center, "alan.turing")
    make_group(identity_center, "Engineering")
    research = make_group(identity_center, "Research")
    body = assert_error(scim.send("POST", "/Users", user_body("ADA.lovelace")), 409, "uniqueness")
    assert body["detail"].startswith("userName:")
    assert_error(
        scim.send("PATCH", f"/Users/{alan.pk}", patch_body({"op": "replace", "path": "emails[type eq \"work\"].value",
                                                            "value": "ada.lovelace@acme.example"})),
        409,
        "uniqueness",
    )  # fmt: skip
    assert_error(scim.send("POST", "/Groups", {"schemas": [GROUP], "displayName": "engineering"}), 409, "uniqueness")
    assert_error(
        scim.send(
            "PATCH", f"/Groups/{research.pk}", patch_body({"op": "replace", "value": {"displayName": "Engineering"}})
        ),
        409,
        "uniqueness",
    )


def test_service_validation_is_the_pages_validation(scim):
    spaced = user_body("ada lovelace", emails=[{"value": "ada@acme.example"}])
    body = assert_error(scim.send("POST", "/Users", spaced), 400, "invalidValue")
    assert body["detail"] == "userName: A user name has no spaces."
    body = assert_error(
        scim.send("POST", "/Users", user_body("ada", emails=[{"value": "not-an-email", "type": "work"}])),
        400,
        "invalidValue",
    )
    assert body["detail"] == "emails.value: 'not-an-email' is not a valid email address."


def test_an_unexpected_failure_is_a_scim_500_and_is_logged(scim_token, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("the database is on fire")

    monkeypatch.setattr(services, "directory_user_create", broken)
    client = ScimClient(scim_token[1], raise_request_exception=False)
    assert_error(client.send("POST", "/Users", user_body("ada.lovelace")), 500)
    assert "the database is on fire" in caplog.text


def test_a_body_over_the_upload_limit_is_a_scim_413(scim, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    assert_error(scim.send("POST", "/Users", user_body("ada.lovelace", displayName="x" * 2000)), 413)
    assert not DirectoryUser.objects.exists()

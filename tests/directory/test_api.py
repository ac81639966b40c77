"""The directory JSON API (CONTRACTS.md: /users, /groups, /groups/{id}/members): thin doors onto the services, with
the contract's statuses (201, 200, 204, 404, 409, 422) and `{"detail": ...}` bodies."""

from __future__ import annotations

import uuid

import pytest

from directory import services
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from kiroconsole.audit import Actor
from kiroconsole.models import AuditEvent
from tests.factories import DirectoryGroupFactory, DirectoryUserFactory

JSON = "application/json"
ACTOR = Actor.for_command("test")


def ada(**changes) -> dict:
    return {
        "user_name": "ada",
        "display_name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email": "ada@example.com",
    } | changes


def post(client, url, data):
    return client.post(url, data, content_type=JSON)


def patch(client, url, data):
    return client.patch(url, data, content_type=JSON)


def user_names(body) -> list[str]:
    return [item["user_name"] for item in body["items"]]


def member_of(group, *users) -> None:
    GroupMembership.objects.bulk_create([GroupMembership(group=group, user=user) for user in users])


@pytest.fixture
def api(admin_api, identity_center):
    """An administrator's API client, with the organization's directory registered."""
    return admin_api


@pytest.fixture
def group(identity_center):
    return DirectoryGroupFactory(identity_center=identity_center, display_name="Engineers")


# --- Users ----------------------------------------------------------------------------------------------------------


def test_creating_a_user_answers_201_with_the_user(api, identity_center):
    response = post(api, "/api/v1/users", ada(identity_store_id="d-1234567890", external_id="00u1"))
    assert response.status_code == 201
    body = response.json()
    user = DirectoryUser.objects.get()
    assert body["id"] == str(user.pk)
    assert {k: body[k] for k in ("identity_store_id", "user_name", "email", "external_id", "active")} == {
        "identity_store_id": "d-1234567890",
        "user_name": "ada",
        "email": "ada@example.com",
        "external_id": "00u1",
        "active": True,
    }


def test_the_directory_may_be_left_out_when_there_is_only_one(api, identity_center):
    assert post(api, "/api/v1/users", ada()).status_code == 201
    assert DirectoryUser.objects.get().identity_center == identity_center


def test_the_directory_must_be_named_when_there_are_several(api, second_identity_center):
    response = post(api, "/api/v1/users", ada())
    assert response.status_code == 422
    assert response.json() == {
        "detail": {"identity_store_id": ["Name the directory: there is more than one (or none)."]}
    }
    response = post(api, "/api/v1/users", ada(identity_store_id="d-0000000000"))
    assert response.status_code == 422
    assert response.json() == {"detail": {"identity_store_id": ["No Identity Center instance 'd-0000000000'."]}}
    assert post(api, "/api/v1/users", ada(identity_store_id="d-abcdef0123")).status_code == 201
    assert DirectoryUser.objects.get().identity_center == second_identity_center


def test_a_duplicate_user_name_in_another_case_answers_409(api, identity_center):
    post(api, "/api/v1/users", ada())
    response = post(api, "/api/v1/users", ada(user_name="ADA", email="other@example.com"))
    assert response.status_code == 409
    assert response.json() == {"detail": {"user_name": ["The user name 'ADA' is already taken in this directory."]}}
    assert DirectoryUser.objects.count() == 1


def test_a_duplicate_email_answers_409(api, identity_center):
    post(api, "/api/v1/users", ada())
    response = post(api, "/api/v1/users", ada(user_name="ada2", email="Ada@Example.com"))
    assert response.status_code == 409
    assert response.json() == {
        "detail": {"email": ["The email 'Ada@Example.com' is already used by another user in this directory."]}
    }


def test_bad_values_answer_422_with_the_services_messages(api, identity_center):
    response = post(api, "/api/v1/users", ada(user_name="ada lovelace", email="nope", given_name=" "))
    assert response.status_code == 422
    assert response.json() == {
        "detail": {
            "user_name": ["A user name has no spaces."],
            "given_name": ["Enter a given name."],
            "email": ["'nope' is not a valid email address."],
        }
    }
    assert not DirectoryUser.objects.exists()


def test_a_missing_attribute_answers_422(api, identity_center):
    data = ada()
    del data["family_name"]
    response = post(api, "/api/v1/users", data)
    assert response.status_code == 422
    assert "family_name" in str(response.json()["detail"])


def test_users_are_listed_and_filtered_by_directory_search_and_active(api, identity_center, second_identity_center):
    DirectoryUserFactory(identity_center=identity_center, user_name="ann", email="ann@acme.example")
    DirectoryUserFactory(identity_center=identity_center, user_name="bob", display_name="Bob Builder", active=False)
    DirectoryUserFactory(identity_center=second_identity_center, user_name="cem", email="cem@acme.example")
    gone = DirectoryUserFactory(identity_center=identity_center, user_name="dia", email="dia@acme.example")
    services.directory_user_delete(user=gone, actor=ACTOR)

    assert user_names(api.get("/api/v1/users").json()) == ["ann", "bob", "cem"]
    assert user_names(api.get("/api/v1/users?identity_store_id=d-abcdef0123").json()) == ["cem"]
    assert user_names(api.get("/api/v1/users?q=ACME.example").json()) == ["ann", "cem"]
    assert user_names(api.get("/api/v1/users?q=builder").json()) == ["bob"]
    assert user_names(api.get("/api/v1/users?active=false").json()) == ["bob"]
    assert user_names(api.get("/api/v1/users?active=true&identity_store_id=d-1234567890").json()) == ["ann"]


def test_users_are_paginated_with_limit_and_offset(api, identity_center):
    for n in range(7):
        DirectoryUserFactory(identity_center=identity_center, user_name=f"user{n}")
    body = api.get("/api/v1/users?limit=3&offset=3").json()
    assert body["count"] == 7
    assert user_names(body) == ["user3", "user4", "user5"]
    assert user_names(api.get("/api/v1/users?limit=3&offset=6").json()) == ["user6"]


def test_a_user_is_read_by_its_id(api, identity_center):
    user = DirectoryUserFactory(identity_center=identity_center, user_name="ann")
    body = api.get(f"/api/v1/users/{user.pk}").json()
    assert (body["id"], body["user_name"]) == (str(user.pk), "ann")
    response = api.get(f"/api/v1/users/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_patch_changes_only_the_given_attributes_and_is_audited_from_the_api(api, identity_center):
    user = DirectoryUserFactory(identity_center=identity_center, user_name="ann", display_name="Ann")
    response = patch(api, f"/api/v1/users/{user.pk}", {"display_name": "Ann Other"})
    assert response.status_code == 200
    assert response.json()["display_name"] == "Ann Other"
    user.refresh_from_db()
    assert (user.user_name, user.display_name) == ("ann", "Ann Other")
    event = AuditEvent.objects.get(action="directory_user.update")
    assert event.source == "api"
    assert event.actor_label.startswith("alice.admin (API token kiro_")
    assert event.changes == [("display_name", "Ann", "Ann Other")]


def test_patch_active_false_deactivates_and_announces_it(api, identity_center, received):
    user = DirectoryUserFactory(identity_center=identity_center)
    assert patch(api, f"/api/v1/users/{user.pk}", {"active": False}).json()["active"] is False
    assert [(s["user_ids"], s["active"]) for s in received["users_activation_changed"]] == [([user.pk], False)]


def test_patch_answers_409_on_a_clash_and_422_on_bad_values(api, identity_center):
    DirectoryUserFactory(identity_center=identity_center, user_name="ann", email="ann@example.com")
    bob = DirectoryUserFactory(identity_center=identity_center, user_name="bob", email="bob@example.com")
    response = patch(api, f"/api/v1/users/{bob.pk}", {"email": "ANN@example.com"})
    assert response.status_code == 409
    assert response.json() == {
        "detail": {"email": ["The email 'ANN@example.com' is already used by another user in this directory."]}
    }
    response = patch(api, f"/api/v1/users/{bob.pk}", {"user_name": None, "display_name": "x" * 257})
    assert response.status_code == 422
    assert response.json() == {
        "detail": {"user_name": ["Use text."], "display_name": ["Use at most 256 characters (it has 257)."]}
    }
    bob.refresh_from_db()
    assert (bob.user_name, bob.email) == ("bob", "bob@example.com")


def test_delete_answers_204_then_the_user_is_gone_from_the_api(api, identity_center, group):
    user = DirectoryUserFactory(identity_center=identity_center, user_name="ann")
    member_of(group, user)
    response = api.delete(f"/api/v1/users/{user.pk}")
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(f"/api/v1/users/{user.pk}").status_code == 404
    assert patch(api, f"/api/v1/users/{user.pk}", {"display_name": "Back"}).status_code == 404
    assert api.delete(f"/api/v1/users/{user.pk}").status_code == 404
    assert api.get("/api/v1/users").json()["count"] == 0
    assert api.get(f"/api/v1/groups/{group.pk}/members").json()["count"] == 0
    assert DirectoryUser.objects.filter(pk=user.pk).exists()  # kept, marked deleted
    assert AuditEvent.objects.get(action="directory_user.delete").source == "api"


# --- Groups --------------------------------------------------------------------------------------------------------


def test_creating_a_group_answers_201_and_a_duplicate_name_409(api, identity_center):
    response = post(api, "/api/v1/groups", {"display_name": "Engineers", "description": "All of us"})
    assert response.status_code == 201
    body = response.json()
    assert body["id"] == str(DirectoryGroup.objects.get().pk)
    assert (body["display_name"], body["description"], body["member_count"]) == ("Engineers", "All of us", 0)
    assert body["identity_store_id"] == "d-1234567890"
    response = post(api, "/api/v1/groups", {"display_name": "ENGINEERS"})
    assert response.status_code == 409
    assert response.json() == {
        "detail": {"display_name": ["A group named 'ENGINEERS' already exists in this directory."]}
    }
    response = post(api, "/api/v1/groups", {"display_name": " "})
    assert response.status_code == 422
    assert response.json() == {"detail": {"display_name": ["Enter a display name."]}}


def test_groups_are_listed_with_member_counts_and_filtered(api, identity_center, second_identity_center, group):
    member_of(group, *DirectoryUserFactory.create_batch(3, identity_center=identity_center))
    DirectoryGroupFactory(identity_center=identity_center, display_name="Designers")
    DirectoryGroupFactory(identity_center=second_identity_center, display_name="Research engineers")
    gone = DirectoryGroupFactory(identity_center=identity_center, display_name="Old engineers")
    services.directory_group_delete(group=gone, actor=ACTOR)

    body = api.get("/api/v1/groups").json()
    assert [(g["display_name"], g["member_count"]) for g in body["items"]] == [
        ("Designers", 0),
        ("Engineers", 3),
        ("Research engineers", 0),
    ]
    body = api.get("/api/v1/groups?q=ENGINEERS&identity_store_id=d-1234567890").json()
    assert [g["display_name"] for g in body["items"]] == ["Engineers"]


def test_patch_renames_a_group_and_refuses_a_taken_name(api, identity_center, group):
    DirectoryGroupFactory(identity_center=identity_center, display_name="Designers")
    response = patch(api, f"/api/v1/groups/{group.pk}", {"display_name": "Platform", "description": "Infra"})
    assert response.status_code == 200
    assert (response.json()["display_name"], response.json()["description"]) == ("Platform", "Infra")
    response = patch(api, f"/api/v1/groups/{group.pk}", {"display_name": "designers"})
    assert response.status_code == 409
    assert AuditEvent.objects.get(action="directory_group.update").source == "api"


def test_deleting_a_group_answers_204_then_404(api, identity_center, group):
    member_of(group, DirectoryUserFactory(identity_center=identity_center))
    assert api.delete(f"/api/v1/groups/{group.pk}").status_code == 204
    assert api.get(f"/api/v1/groups/{group.pk}").status_code == 404
    assert api.get(f"/api/v1/groups/{group.pk}/members").status_code == 404
    assert api.delete(f"/api/v1/groups/{group.pk}").status_code == 404
    assert api.get("/api/v1/groups").json()["count"] == 0
    assert not GroupMembership.objects.exists()


# --- Members -------------------------------------------------------------------------------------------------------


def test_adding_a_member_answers_201_then_200_when_already_a_member(api, identity_center, group, received):
    user = DirectoryUserFactory(identity_center=identity_center, user_name="ann")
    response = post(api, f"/api/v1/groups/{group.pk}/members", {"user_id": str(user.pk)})
    assert response.status_code == 201
    assert response.json() == {
        "user_id": str(user.pk),
        "user_name": "ann",
        "display_name": user.display_name,
        "email": user.email,
        "active": True,
    }
    response = post(api, f"/api/v1/groups/{group.pk}/members", {"user_id": str(user.pk)})
    assert response.status_code == 200
    assert GroupMembership.objects.filter(group=group, user=user).count() == 1
    assert [s["added"] for s in received["memberships_changed"]] == [[(group.pk, user.pk)]]
    assert AuditEvent.objects.get(action="directory_group.member_add").source == "api"


def test_members_are_listed(api, identity_center, group):
    ann, _, cem = (DirectoryUserFactory(identity_center=identity_center, user_name=n) for n in ("ann", "bob", "cem"))
    member_of(group, cem, ann)
    body = api.get(f"/api/v1/groups/{group.pk}/members").json()
    assert body["count"] == 2
    assert [(m["user_id"], m["user_name"]) for m in body["items"]] == [(str(ann.pk), "ann"), (str(cem.pk), "cem")]


def test_removing_a_member_answers_204_and_404_when_not_a_member(api, identity_center, group, received):
    ann, bob = DirectoryUserFactory.create_batch(2, identity_center=identity_center)
    member_of(group, ann)
    assert api.delete(f"/api/v1/groups/{group.pk}/members/{ann.pk}").status_code == 204
    assert not GroupMembership.objects.exists()
    assert [s["removed"] for s in received["memberships_changed"]] == [[(group.pk, ann.pk)]]
    response = api.delete(f"/api/v1/groups/{group.pk}/members/{bob.pk}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
    assert api.delete(f"/api/v1/groups/{group.pk}/members/{ann.pk}").status_code == 404
    assert len(received["memberships_changed"]) == 1


def test_a_user_of_another_directory_can_not_be_added(api, second_identity_center, group, received):
    stranger = DirectoryUserFactory(identity_center=second_identity_center)
    response = post(api, f"/api/v1/groups/{group.pk}/members", {"user_id": str(stranger.pk)})
    assert response.status_code == 422
    assert response.json() == {"detail": {"user_id": ["No such user in this group's directory."]}}
    assert not GroupMembership.objects.exists()
    assert received["memberships_changed"] == []


def test_a_deleted_or_unknown_user_can_not_be_added(api, identity_center, group):
    gone = DirectoryUserFactory(identity_center=identity_center)
    services.directory_user_delete(user=gone, actor=ACTOR)
    for user_id in (gone.pk, uuid.uuid4()):
        response = post(api, f"/api/v1/groups/{group.pk}/members", {"user_id": str(user_id)})
        assert response.status_code == 422
    assert not GroupMembership.objects.exists()


def test_members_of_an_unknown_group_answer_404(api, identity_center):
    user = DirectoryUserFactory(identity_center=identity_center)
    response = post(api, f"/api/v1/groups/{uuid.uuid4()}/members", {"user_id": str(user.pk)})
    assert response.status_code == 404


# --- Roles ---------------------------------------------------------------------------------------------------------


def test_support_may_change_directory_records_through_the_api(api_client_for, support_user, identity_center, group):
    support = api_client_for(support_user)
    response = post(support, "/api/v1/users", ada())
    assert response.status_code == 201
    user_id = response.json()["id"]
    assert patch(support, f"/api/v1/users/{user_id}", {"active": False}).status_code == 200
    assert post(support, f"/api/v1/groups/{group.pk}/members", {"user_id": user_id}).status_code == 201
    assert support.delete(f"/api/v1/groups/{group.pk}/members/{user_id}").status_code == 204
    assert support.delete(f"/api/v1/users/{user_id}").status_code == 204
    assert set(AuditEvent.objects.filter(action__startswith="directory_").values_list("actor_label", flat=True)) == {
        f"sam.support (API token {support_user.api_tokens.get().prefix}…)"
    }


def test_viewer_may_read_but_not_change_directory_records_through_the_api(
    api_client_for, viewer_user, identity_center, group
):
    viewer = api_client_for(viewer_user)
    user = DirectoryUserFactory(identity_center=identity_center, user_name="ann")
    assert viewer.get("/api/v1/users").json()["count"] == 1
    attempts = [
        post(viewer, "/api/v1/users", ada()),
        patch(viewer, f"/api/v1/users/{user.pk}", {"active": False}),
        viewer.delete(f"/api/v1/users/{user.pk}"),
        post(viewer, "/api/v1/groups", {"display_name": "Mine"}),
        post(viewer, f"/api/v1/groups/{group.pk}/members", {"user_id": str(user.pk)}),
        viewer.delete(f"/api/v1/groups/{group.pk}"),
    ]
    assert [r.status_code for r in attempts] == [403] * len(attempts)
    assert all("Your role (Viewer) may not do this" in r.json()["detail"] for r in attempts)
    user.refresh_from_db()
    assert (user.active, user.deleted_at) == (True, None)
    assert DirectoryUser.objects.count() == 1
    assert DirectoryGroup.objects.live().count() == 1
    assert not GroupMembership.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="directory_").exists()

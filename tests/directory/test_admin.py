"""The Django admin for the directory: support staff fix records, always through the directory services (audited
with the source `admin`), and see the services' messages at the fields."""

from __future__ import annotations

import html
import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from directory.models import DirectoryUser, GroupMembership
from kiroconsole.models import AuditEvent
from tests.factories import DirectoryGroupFactory, DirectoryUserFactory

USERS = "/admin/directory/directoryuser/"
GROUPS = "/admin/directory/directorygroup/"
# session, console user, its role, its permissions (own and groups'), the directory filter choices, count, total count,
# one page of groups with their member counts
GROUPS_CHANGELIST_QUERIES = 9


def change_form(user, **changes) -> dict:
    data = {
        "user_name": user.user_name,
        "display_name": user.display_name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "email": user.email,
        "external_id": user.external_id,
    }
    if user.active:
        data["active"] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def field_errors(response, field: str) -> list[str]:
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', response.content.decode(), re.S)
    return [html.unescape(e) for e in re.findall(r"<li>(.*?)</li>", match.group(1))] if match else []


def directory_events():
    return AuditEvent.objects.filter(action__startswith="directory_")


def test_support_edits_a_user_in_the_admin_through_the_service(support_client, identity_center):
    user = DirectoryUserFactory(identity_center=identity_center, user_name="ann", display_name="Ann")
    response = support_client.post(f"{USERS}{user.pk}/change/", change_form(user, display_name="Ann Archer"))
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.display_name == "Ann Archer"
    [event] = directory_events()  # the validation's dry run left nothing behind
    assert (event.action, event.source, event.actor_label) == ("directory_user.update", "admin", "sam.support")
    assert event.changes == [("display_name", "Ann", "Ann Archer")]


def test_a_duplicate_user_name_in_the_admin_shows_the_service_message_at_the_field_and_writes_nothing(
    support_client, identity_center
):
    DirectoryUserFactory(identity_center=identity_center, user_name="ann")
    bob = DirectoryUserFactory(identity_center=identity_center, user_name="bob", display_name="Bob")
    response = support_client.post(f"{USERS}{bob.pk}/change/", change_form(bob, user_name="ANN", display_name="B"))
    assert response.status_code == 200
    assert field_errors(response, "user_name") == ["The user name 'ANN' is already taken in this directory."]
    bob.refresh_from_db()
    assert (bob.user_name, bob.display_name) == ("bob", "Bob")
    assert not directory_events().exists()


def test_bad_values_in_the_admin_show_the_services_messages(support_client, identity_center):
    user = DirectoryUserFactory(identity_center=identity_center, user_name="ann")
    response = support_client.post(f"{USERS}{user.pk}/change/", change_form(user, user_name="ann archer"))
    assert field_errors(response, "user_name") == ["A user name has no spaces."]
    assert not directory_events().exists()


def test_support_adds_a_user_in_the_admin_and_the_confirmation_names_it(support_client, identity_center):
    data = {
        "identity_center": str(identity_center.pk),
        "user_name": "ada",
        "display_name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email": "ada@example.com",
        "external_id": "",
        "active": "on",
    }
    response = support_client.post(f"{USERS}add/", data, follow=True)
    assert response.redirect_chain == [(USERS, 302)]
    user = DirectoryUser.objects.get()
    assert "“Ada Lovelace (ada)” was added successfully." in re.sub(r"<[^>]+>", "", html.unescape(response.text))
    [event] = directory_events()
    assert (event.action, event.source, event.target_id) == ("directory_user.create", "admin", str(user.pk))


def test_deactivate_action_deactivates_the_selected_active_users_through_the_service(
    support_client, identity_center, received
):
    ann, bob = DirectoryUserFactory.create_batch(2, identity_center=identity_center)
    gone = DirectoryUserFactory(identity_center=identity_center, active=False)
    untouched = DirectoryUserFactory(identity_center=identity_center)
    response = support_client.post(
        USERS, {"action": "deactivate", "_selected_action": [str(ann.pk), str(bob.pk), str(gone.pk)]}, follow=True
    )
    assert "Deactivated 2 user(s)." in response.content.decode()
    assert set(DirectoryUser.objects.filter(active=False).values_list("pk", flat=True)) == {ann.pk, bob.pk, gone.pk}
    untouched.refresh_from_db()
    assert untouched.active
    events = directory_events()
    assert sorted(e.target_id for e in events) == sorted([str(ann.pk), str(bob.pk)])
    assert {(e.source, e.before["active"], e.after["active"]) for e in events} == {("admin", True, False)}
    announced = [(s["user_ids"], s["active"]) for s in received["users_activation_changed"]]
    assert sorted(announced, key=str) == sorted([([ann.pk], False), ([bob.pk], False)], key=str)


def test_reactivate_action(support_client, identity_center):
    user = DirectoryUserFactory(identity_center=identity_center, active=False)
    response = support_client.post(USERS, {"action": "reactivate", "_selected_action": [str(user.pk)]}, follow=True)
    assert "Reactivated 1 user(s)." in response.content.decode()
    user.refresh_from_db()
    assert user.active


def test_deleting_a_user_in_the_admin_marks_it_deleted_through_the_service(support_client, identity_center):
    user = DirectoryUserFactory(identity_center=identity_center)
    group = DirectoryGroupFactory(identity_center=identity_center)
    GroupMembership.objects.create(group=group, user=user)
    response = support_client.post(f"{USERS}{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.deleted_at is not None
    assert not GroupMembership.objects.exists()
    assert directory_events().get(action="directory_user.delete").source == "admin"


def test_there_is_no_bulk_delete_action_that_would_bypass_the_service(support_client, identity_center):
    DirectoryUserFactory(identity_center=identity_center)
    page = support_client.get(USERS).content.decode()
    assert 'value="deactivate"' in page
    assert 'value="delete_selected"' not in page


def test_groups_changelist_shows_member_counts_with_a_constant_number_of_queries(
    support_client, identity_center, django_assert_max_num_queries
):
    users = DirectoryUserFactory.create_batch(4, identity_center=identity_center)
    first = DirectoryGroupFactory(identity_center=identity_center, display_name="Aardvarks")
    GroupMembership.objects.bulk_create([GroupMembership(group=first, user=u) for u in users])
    with CaptureQueriesContext(connection) as few:
        support_client.get(GROUPS)
    for group in DirectoryGroupFactory.create_batch(59, identity_center=identity_center):
        GroupMembership.objects.bulk_create([GroupMembership(group=group, user=u) for u in users[:2]])
    with django_assert_max_num_queries(GROUPS_CHANGELIST_QUERIES):
        response = support_client.get(GROUPS)
    assert response.status_code == 200
    counts = re.findall(r'<td class="field-member_count">(\d+)</td>', response.content.decode())
    assert sorted(counts) == ["2"] * 59 + ["4"]
    with CaptureQueriesContext(connection) as many:
        support_client.get(GROUPS)
    assert len(many.captured_queries) == len(few.captured_queries)


def test_support_adds_a_membership_in_the_admin_through_the_service(support_client, identity_center, received):
    user = DirectoryUserFactory(identity_center=identity_center)
    group = DirectoryGroupFactory(identity_center=identity_center)
    response = support_client.post(
        "/admin/directory/groupmembership/add/", {"group": str(group.pk), "user": str(user.pk)}
    )
    assert response.status_code == 302
    assert GroupMembership.objects.filter(group=group, user=user).exists()
    [event] = directory_events()
    assert (event.action, event.source) == ("directory_group.member_add", "admin")


def test_a_membership_across_directories_is_refused_in_the_admin(
    support_client, identity_center, second_identity_center
):
    stranger = DirectoryUserFactory(identity_center=second_identity_center, user_name="zed")
    group = DirectoryGroupFactory(identity_center=identity_center)
    response = support_client.post(
        "/admin/directory/groupmembership/add/", {"group": str(group.pk), "user": str(stranger.pk)}
    )
    assert response.status_code == 200
    assert "zed is not a user of this group&#x27;s directory." in response.content.decode()
    assert not GroupMembership.objects.exists()
    assert not directory_events().exists()


def test_an_admin_change_sends_its_signal_once(support_client, identity_center, received):
    user = DirectoryUserFactory(identity_center=identity_center)
    group = DirectoryGroupFactory(identity_center=identity_center)
    support_client.post("/admin/directory/groupmembership/add/", {"group": str(group.pk), "user": str(user.pk)})
    assert len(received["memberships_changed"]) == 1

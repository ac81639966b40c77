"""The Users & Groups pages: the Users tab (search as you type, filters, htmx fragment), the Groups tab, the user
and group pages, the member type-ahead, adding and removing members, create / deactivate / delete, and query
budgets that do not grow with the number of rows."""

from __future__ import annotations

import html
import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from directory import services
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from kiroconsole.audit import Actor
from kiroconsole.models import AuditEvent
from tests.factories import DirectoryGroupFactory, DirectoryUserFactory

ACTOR = Actor.for_command("test")
HTMX = {"HX-Request": "true"}
USERS = "/directory/users/"
GROUPS = "/directory/groups/"
# session, console user, its roles, the group and directory filter choices, count, one page of rows
USERS_TAB_QUERIES = 7
# session, console user, its roles, the directory filter choices, count, one page of rows with their member counts
GROUPS_TAB_QUERIES = 6
# session, console user, its roles, the group with its member count, count, one page of members
GROUP_PAGE_QUERIES = 6


def member_of(group, *users) -> None:
    GroupMembership.objects.bulk_create([GroupMembership(group=group, user=user) for user in users])


def text(response) -> str:
    return html.unescape(response.content.decode())


def user_rows(response) -> list[str]:
    """The user names in the table's first column, in order."""
    return re.findall(r'<td\s*><a href="/directory/users/[0-9a-f-]+/">([^<]+)</a></td>', text(response))


def group_rows(response) -> list[tuple[str, str]]:
    """(group name, member count) of each row of the Groups tab, in order."""
    pattern = r'<td\s*><a href="/directory/groups/[0-9a-f-]+/">([^<]+)</a></td>.*?<td class="numeric">(\d+)</td>'
    return re.findall(pattern, text(response), re.S)


def field_error(response, field: str) -> str | None:
    match = re.search(rf'<p class="error" id="id_{field}_error"[^>]*>(.*?)</p>', response.content.decode(), re.S)
    return html.unescape(match.group(1)) if match else None


def queries(client, url, **kwargs) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, **kwargs).status_code == 200
    return len(ctx.captured_queries)


@pytest.fixture
def group(identity_center):
    return DirectoryGroupFactory(identity_center=identity_center, display_name="Engineers")


@pytest.fixture
def people(identity_center):
    """Four users: ann (Ann Archer), bob (deactivated), cem, dia."""
    return [
        DirectoryUserFactory(identity_center=identity_center, user_name="ann", display_name="Ann Archer"),
        DirectoryUserFactory(identity_center=identity_center, user_name="bob", active=False),
        DirectoryUserFactory(identity_center=identity_center, user_name="cem", email="cem@research.example"),
        DirectoryUserFactory(identity_center=identity_center, user_name="dia"),
    ]


# --- Users tab -----------------------------------------------------------------------------------------------------


def test_users_tab_lists_live_users_by_user_name(viewer_client, people):
    services.directory_user_delete(user=people[3], actor=ACTOR)
    response = viewer_client.get(USERS)
    assert response.status_code == 200
    assert user_rows(response) == ["ann", "bob", "cem"]
    assert '<span class="badge badge-expired">Deactivated</span>' in text(response)
    assert "3 results" in text(response)


def test_users_tab_searches_user_name_names_and_email(viewer_client, people):
    assert user_rows(viewer_client.get(USERS + "?q=ARCHER")) == ["ann"]
    assert user_rows(viewer_client.get(USERS + "?q=research.example")) == ["cem"]
    assert user_rows(viewer_client.get(USERS + "?q=b")) == ["bob"]
    response = viewer_client.get(USERS + "?q=nobody")
    assert user_rows(response) == []
    assert "No users match." in text(response)


def test_users_tab_filters_by_active_group_and_directory(viewer_client, people, group, second_identity_center):
    ann, bob = people[:2]
    member_of(group, ann, bob)
    DirectoryUserFactory(identity_center=second_identity_center, user_name="zed")
    assert user_rows(viewer_client.get(USERS + "?active=false")) == ["bob"]
    assert user_rows(viewer_client.get(USERS + "?active=true")) == ["ann", "cem", "dia", "zed"]
    assert user_rows(viewer_client.get(f"{USERS}?group={group.pk}")) == ["ann", "bob"]
    assert user_rows(viewer_client.get(f"{USERS}?group={group.pk}&active=true")) == ["ann"]
    assert user_rows(viewer_client.get(f"{USERS}?directory={second_identity_center.pk}")) == ["zed"]


def test_users_tab_status_filter_says_what_its_choices_mean(viewer_client, people):
    page = text(viewer_client.get(USERS + "?active=false"))
    choices = re.search(r'<select name="active" id="id_active">(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'<option value="([a-z]*)"( selected)?>([^<]+)</option>', choices) == [
        ("", "", "Any status"),
        ("true", "", "Active"),
        ("false", " selected", "Deactivated"),
    ]


def test_users_tab_answers_htmx_with_the_table_fragment_only(viewer_client, people):
    fragment = viewer_client.get(USERS + "?q=ann", headers=HTMX)
    assert fragment.status_code == 200
    assert "<html" not in text(fragment)
    assert 'id="table-main"' in text(fragment)
    assert user_rows(fragment) == ["ann"]
    assert "HX-Request" in fragment["Vary"]
    full = viewer_client.get(USERS + "?q=ann")
    assert "<html" in text(full) and "HX-Request" in full["Vary"]
    assert 'hx-trigger="input changed delay:300ms from:input[type=search], change, submit"' in text(full)


def test_users_tab_has_a_query_budget_that_does_not_grow_with_rows(
    viewer_client, identity_center, django_assert_max_num_queries
):
    groups = DirectoryGroupFactory.create_batch(3, identity_center=identity_center)
    member_of(groups[0], *DirectoryUserFactory.create_batch(3, identity_center=identity_center))
    few = queries(viewer_client, USERS)
    few_search = queries(viewer_client, USERS + "?q=user&active=true")
    more = DirectoryUserFactory.create_batch(62, identity_center=identity_center)
    member_of(groups[1], *more)
    DirectoryGroupFactory.create_batch(30, identity_center=identity_center)
    with django_assert_max_num_queries(USERS_TAB_QUERIES):
        response = viewer_client.get(USERS)
    assert len(user_rows(response)) == 50
    assert queries(viewer_client, USERS) == few
    with django_assert_max_num_queries(USERS_TAB_QUERIES + 1):  # + the chosen group, looked up by the filter
        response = viewer_client.get(f"{USERS}?q=user&active=true&group={groups[1].pk}")
    assert len(user_rows(response)) == 50
    assert queries(viewer_client, USERS + "?q=user&active=true") == few_search
    assert queries(viewer_client, USERS + "?q=user&page=2") == few


# --- Groups tab ----------------------------------------------------------------------------------------------------


def test_groups_tab_lists_live_groups_with_member_counts(viewer_client, identity_center, people, group):
    member_of(group, *people[:3])
    DirectoryGroupFactory(identity_center=identity_center, display_name="Designers")
    gone = DirectoryGroupFactory(identity_center=identity_center, display_name="Old team")
    services.directory_group_delete(group=gone, actor=ACTOR)
    response = viewer_client.get(GROUPS)
    assert group_rows(response) == [("Designers", "0"), ("Engineers", "3")]
    assert "Old team" not in text(response)
    assert group_rows(viewer_client.get(GROUPS + "?q=ENG")) == [("Engineers", "3")]


def test_groups_tab_has_a_query_budget_that_does_not_grow_with_rows(
    viewer_client, identity_center, django_assert_max_num_queries
):
    users = DirectoryUserFactory.create_batch(5, identity_center=identity_center)
    for group in DirectoryGroupFactory.create_batch(3, identity_center=identity_center):
        member_of(group, *users)
    few = queries(viewer_client, GROUPS)
    few_search = queries(viewer_client, GROUPS + "?q=group")
    for group in DirectoryGroupFactory.create_batch(60, identity_center=identity_center):
        member_of(group, *users[:2])
    with django_assert_max_num_queries(GROUPS_TAB_QUERIES):
        response = viewer_client.get(GROUPS)
    assert text(response).count('<td class="numeric">') == 50
    assert queries(viewer_client, GROUPS) == few
    with django_assert_max_num_queries(GROUPS_TAB_QUERIES):
        viewer_client.get(GROUPS + "?q=group")
    assert queries(viewer_client, GROUPS + "?q=group") == few_search


# --- User and group pages --------------------------------------------------------------------------------------------


def test_user_page_shows_its_groups_and_its_history(viewer_client, support_client, identity_center, group):
    user = services.directory_user_create(
        identity_center=identity_center,
        user_name="ada",
        display_name="Ada Lovelace",
        given_name="Ada",
        family_name="Lovelace",
        email="ada@example.com",
        actor=ACTOR,
    )
    services.group_members_add(group=group, users=[user], actor=ACTOR)
    services.directory_user_update(user=user, display_name="Countess Lovelace", actor=ACTOR)
    page = text(support_client.get(f"{USERS}{user.pk}/"))
    assert "<h1>Countess Lovelace" in page
    assert f'<a href="/directory/groups/{group.pk}/">Engineers</a>' in page
    assert re.findall(r"<code>(directory_user\.\w+)</code>", page) == ["directory_user.update", "directory_user.create"]
    assert "History" not in text(viewer_client.get(f"{USERS}{user.pk}/"))  # the audit trail is not for viewers


def test_group_page_lists_members_with_remove_links_for_those_who_may_change(
    admin_client, viewer_client, identity_center, people, group
):
    member_of(group, *people[:2])
    page = text(admin_client.get(f"{GROUPS}{group.pk}/"))
    assert user_rows(admin_client.get(f"{GROUPS}{group.pk}/")) == ["ann", "bob"]
    assert "2 members" in page
    assert f'href="/directory/groups/{group.pk}/members/{people[0].pk}/remove/"' in page
    assert "Find users of this directory" in page
    viewer_page = text(viewer_client.get(f"{GROUPS}{group.pk}/"))
    assert user_rows(viewer_client.get(f"{GROUPS}{group.pk}/")) == ["ann", "bob"]
    assert "/remove/" not in viewer_page
    assert "Find users of this directory" not in viewer_page


def test_group_page_has_a_query_budget_that_does_not_grow_with_members(
    support_client, identity_center, group, django_assert_max_num_queries
):
    member_of(group, *DirectoryUserFactory.create_batch(3, identity_center=identity_center))
    few = queries(support_client, f"{GROUPS}{group.pk}/")
    member_of(group, *DirectoryUserFactory.create_batch(57, identity_center=identity_center))
    with django_assert_max_num_queries(GROUP_PAGE_QUERIES):
        response = support_client.get(f"{GROUPS}{group.pk}/")
    assert len(user_rows(response)) == 50
    assert "60 members" in text(response)
    assert queries(support_client, f"{GROUPS}{group.pk}/") == few


def test_deleted_users_and_groups_are_gone_from_the_pages(admin_client, identity_center, people, group):
    ann = people[0]
    member_of(group, ann, people[1])
    services.directory_user_delete(user=ann, actor=ACTOR)
    assert admin_client.get(f"{USERS}{ann.pk}/").status_code == 404
    assert admin_client.get(f"{USERS}{ann.pk}/edit/").status_code == 404
    assert "ann" not in user_rows(admin_client.get(USERS))
    assert user_rows(admin_client.get(f"{GROUPS}{group.pk}/")) == ["bob"]
    services.directory_group_delete(group=group, actor=ACTOR)
    assert admin_client.get(f"{GROUPS}{group.pk}/").status_code == 404
    assert admin_client.get(f"{GROUPS}{group.pk}/members/search/?q=b").status_code == 404
    assert "Engineers" not in text(admin_client.get(GROUPS))
    assert "Engineers" not in text(admin_client.get(USERS))  # nor among the group filter's choices


# --- Member type-ahead, add and remove -------------------------------------------------------------------------------


def test_member_search_offers_only_users_of_the_directory_who_are_not_members(
    admin_client, identity_center, second_identity_center, group
):
    ann = DirectoryUserFactory(identity_center=identity_center, user_name="ann.a")
    DirectoryUserFactory(identity_center=identity_center, user_name="ann.b")
    DirectoryUserFactory(identity_center=identity_center, user_name="bob")
    DirectoryUserFactory(identity_center=second_identity_center, user_name="ann.c")
    gone = DirectoryUserFactory(identity_center=identity_center, user_name="ann.d")
    services.directory_user_delete(user=gone, actor=ACTOR)
    member_of(group, ann)
    response = admin_client.get(f"{GROUPS}{group.pk}/members/search/?q=ANN", headers=HTMX)
    assert response.status_code == 200
    assert "<html" not in text(response)
    assert re.findall(r"<code>([^<]+)</code>", text(response)) == ["ann.b"]
    assert 'name="user_id"' in text(response)


def test_member_search_shows_nothing_for_an_empty_query_and_says_when_nobody_matches(admin_client, people, group):
    empty = admin_client.get(f"{GROUPS}{group.pk}/members/search/?q=", headers=HTMX)
    assert "<li>" not in text(empty) and "No user" not in text(empty)
    member_of(group, people[0])
    none = admin_client.get(f"{GROUPS}{group.pk}/members/search/?q=ann", headers=HTMX)
    assert "No user outside the group matches “ann”." in text(none)


def test_member_search_without_javascript_is_a_page(admin_client, people, group):
    response = admin_client.get(f"{GROUPS}{group.pk}/members/search/?q=cem")
    assert "<html" in text(response)
    assert "<h1>Add members</h1>" in text(response)
    assert re.findall(r"<code>([^<]+)</code>", text(response)) == ["cem"]


def test_adding_a_member_through_the_page(support_client, people, group, received):
    ann = people[0]
    response = support_client.post(f"{GROUPS}{group.pk}/members/add/", {"user_id": str(ann.pk)}, follow=True)
    assert response.redirect_chain == [(f"{GROUPS}{group.pk}/", 302)]
    assert "Added ann to Engineers." in text(response)
    assert user_rows(response) == ["ann"]
    assert [s["added"] for s in received["memberships_changed"]] == [[(group.pk, ann.pk)]]
    event = AuditEvent.objects.get(action="directory_group.member_add")
    assert (event.source, event.actor_label) == ("web", "sam.support")
    response = support_client.post(f"{GROUPS}{group.pk}/members/add/", {"user_id": str(ann.pk)}, follow=True)
    assert "ann already in Engineers." in text(response)
    assert len(received["memberships_changed"]) == 1


def test_adding_a_user_of_another_directory_through_the_page_is_refused(support_client, second_identity_center, group):
    stranger = DirectoryUserFactory(identity_center=second_identity_center, user_name="zed")
    response = support_client.post(f"{GROUPS}{group.pk}/members/add/", {"user_id": str(stranger.pk)}, follow=True)
    assert "zed is not a user of this group&#x27;s directory." in response.content.decode()
    assert not GroupMembership.objects.exists()
    response = support_client.post(f"{GROUPS}{group.pk}/members/add/", {"user_id": "not-a-uuid"}, follow=True)
    assert "Choose a user to add." in text(response)


def test_removing_a_member_asks_for_confirmation_first(support_client, people, group, received):
    ann = people[0]
    member_of(group, ann, people[1])
    url = f"{GROUPS}{group.pk}/members/{ann.pk}/remove/"
    confirm = support_client.get(url)
    assert confirm.status_code == 200
    assert "<h1>Remove Ann Archer from Engineers?</h1>" in text(confirm)
    assert "Remove member</button>" in text(confirm)
    assert GroupMembership.objects.filter(group=group, user=ann).exists()  # nothing removed by looking
    response = support_client.post(url, follow=True)
    assert response.redirect_chain == [(f"{GROUPS}{group.pk}/", 302)]
    assert "Removed ann from Engineers." in text(response)
    assert user_rows(response) == ["bob"]
    assert [s["removed"] for s in received["memberships_changed"]] == [[(group.pk, ann.pk)]]
    assert AuditEvent.objects.get(action="directory_group.member_remove").source == "web"


# --- Create, edit, deactivate, delete ------------------------------------------------------------------------------


def new_user_form(identity_center, **changes) -> dict:
    return {
        "identity_center": str(identity_center.pk),
        "user_name": "ada",
        "display_name": "Ada Lovelace",
        "given_name": "Ada",
        "family_name": "Lovelace",
        "email": "ada@example.com",
        "active": "on",
    } | changes


def test_creating_a_user_through_the_page(admin_client, identity_center):
    response = admin_client.post(f"{USERS}new/", new_user_form(identity_center), follow=True)
    user = DirectoryUser.objects.get()
    assert response.redirect_chain == [(f"{USERS}{user.pk}/", 302)]
    assert "Added Ada Lovelace (ada)." in text(response)
    assert AuditEvent.objects.get(action="directory_user.create").source == "web"


def test_creating_a_user_with_a_taken_email_shows_the_message_at_the_email_field(admin_client, identity_center):
    DirectoryUserFactory(identity_center=identity_center, user_name="ada.l", email="ada@example.com")
    response = admin_client.post(f"{USERS}new/", new_user_form(identity_center, email="ADA@example.com"))
    assert response.status_code == 200
    assert field_error(response, "email") == (
        "The email 'ADA@example.com' is already used by another user in this directory."
    )
    assert field_error(response, "user_name") is None
    assert DirectoryUser.objects.count() == 1
    assert not AuditEvent.objects.filter(action__startswith="directory_").exists()


def test_the_user_form_shows_the_services_messages_at_their_fields(admin_client, identity_center):
    response = admin_client.post(f"{USERS}new/", new_user_form(identity_center, user_name="ada lovelace"))
    assert field_error(response, "user_name") == "A user name has no spaces."
    user = DirectoryUserFactory(identity_center=identity_center, user_name="bob")
    response = admin_client.post(f"{USERS}{user.pk}/edit/", new_user_form(identity_center, user_name="ADA\x07"))
    assert field_error(response, "user_name") == "Remove the control characters."


def test_editing_a_user_through_the_page(admin_client, identity_center):
    user = DirectoryUserFactory(identity_center=identity_center, user_name="ada")
    old_name = user.display_name
    response = admin_client.post(
        f"{USERS}{user.pk}/edit/", new_user_form(identity_center, display_name="Countess Lovelace"), follow=True
    )
    assert response.redirect_chain == [(f"{USERS}{user.pk}/", 302)]
    user.refresh_from_db()
    assert user.display_name == "Countess Lovelace"
    event = AuditEvent.objects.get(action="directory_user.update")
    assert event.source == "web"
    assert ("display_name", old_name, "Countess Lovelace") in event.changes


def test_deactivating_and_reactivating_a_user_through_the_confirmation_page(admin_client, people, received):
    ann = people[0]
    url = f"{USERS}{ann.pk}/activation/"
    confirm = text(admin_client.get(url))
    assert "<h1>Deactivate Ann Archer?</h1>" in confirm
    assert "A deactivated user may not use Kiro or spend credits." in confirm
    ann.refresh_from_db()
    assert ann.active
    response = admin_client.post(url, follow=True)
    assert response.redirect_chain == [(f"{USERS}{ann.pk}/", 302)]
    assert "Ann Archer (ann) is now deactivated." in text(response)
    ann.refresh_from_db()
    assert not ann.active
    assert "<h1>Reactivate Ann Archer?</h1>" in text(admin_client.get(url))
    assert "is now active." in text(admin_client.post(url, follow=True))
    assert [s["active"] for s in received["users_activation_changed"]] == [False, True]
    sources = AuditEvent.objects.filter(action="directory_user.update").values_list("source", flat=True)
    assert list(sources) == ["web", "web"]


def test_deleting_a_user_through_the_confirmation_page(admin_client, people, group, received):
    ann = people[0]
    other = DirectoryGroupFactory(identity_center=ann.identity_center, display_name="Designers")
    member_of(group, ann)
    member_of(other, ann)
    url = f"{USERS}{ann.pk}/delete/"
    confirm = text(admin_client.get(url))
    assert "<h1>Delete Ann Archer?</h1>" in confirm
    assert "The user leaves 2 groups and its subscriptions are canceled." in confirm
    assert DirectoryUser.objects.live().filter(pk=ann.pk).exists()
    response = admin_client.post(url, follow=True)
    assert response.redirect_chain == [(USERS, 302)]
    assert "Deleted Ann Archer (ann). Its history is kept." in text(response)
    assert "ann" not in user_rows(response)
    assert len(received["memberships_changed"]) == 1
    assert [s["user_ids"] for s in received["users_deleted"]] == [[ann.pk]]
    assert AuditEvent.objects.get(action="directory_user.delete").source == "web"


def test_deleting_a_group_through_the_confirmation_page(admin_client, people, group):
    member_of(group, *people[:3])
    url = f"{GROUPS}{group.pk}/delete/"
    assert "Its 3 members leave the group (the users themselves stay)." in text(admin_client.get(url))
    response = admin_client.post(url, follow=True)
    assert response.redirect_chain == [(GROUPS, 302)]
    assert "Deleted the group Engineers." in text(response)
    assert DirectoryGroup.objects.get(pk=group.pk).deleted_at is not None
    assert DirectoryUser.objects.live().count() == 4


def test_creating_a_group_with_a_taken_name_shows_the_message_at_the_field(admin_client, identity_center, group):
    response = admin_client.post(
        f"{GROUPS}new/", {"identity_center": str(identity_center.pk), "display_name": "engineers"}
    )
    assert response.status_code == 200
    assert field_error(response, "display_name") == "A group named 'engineers' already exists in this directory."
    assert DirectoryGroup.objects.count() == 1


def test_pages_of_unknown_ids_answer_404(admin_client, group):
    unknown = uuid.uuid4()
    assert admin_client.get(f"{USERS}{unknown}/").status_code == 404
    assert admin_client.get(f"{GROUPS}{unknown}/").status_code == 404
    assert admin_client.get(f"{GROUPS}{group.pk}/members/{unknown}/remove/").status_code == 404

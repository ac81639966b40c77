"""The Users & Groups pages: the Users tab (search as you type, filters, htmx fragment), the Groups tab, the user
and group pages, the member type-ahead, adding and removing members, create / deactivate / delete, and query
budgets that do not grow with the number of rows."""

from __future__ import annotations

import html
import re
import uuid
from urllib.parse import urlencode

import factory
import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext

from directory import selectors, services
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from kiroconsole.audit import Actor
from kiroconsole.models import AuditEvent
from tests.factories import DirectoryGroupFactory, DirectoryUserFactory

ACTOR = Actor.for_command("test")
HTMX = {"HX-Request": "true"}
USERS = "/directory/users/"
GROUPS = "/directory/groups/"
# session, console user, its roles, the directory filter choices, count, one page of rows (no group choices: the
# group filter is a type-ahead, issue 4)
USERS_TAB_QUERIES = 7
# session, console user, its roles, the directory filter choices, count, one page of rows with their member counts
GROUPS_TAB_QUERIES = 7
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


def sql_of(client, url) -> str:
    """Every query of one request, as one text."""
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return "\n".join(query["sql"] for query in ctx.captured_queries)


def group_input(response) -> str:
    """The group filter's <input> tag."""
    return re.search(r'<input type="text" name="group"[^>]*>', text(response)).group(0)


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
    # + the chosen group with its member count, + on SQLite the search's question to its trigram index
    with django_assert_max_num_queries(USERS_TAB_QUERIES + 2):
        response = viewer_client.get(f"{USERS}?q=user&active=true&group={groups[1].pk}")
    assert len(user_rows(response)) == 50
    assert queries(viewer_client, USERS + "?q=user&active=true") == few_search
    assert queries(viewer_client, USERS + "?q=user&page=2") == few_search


# --- The Users tab's group filter: a type-ahead, not a <select> of every group (issue 4) ----------------------------


def test_the_group_filter_is_a_labelled_type_ahead_rather_than_a_list_of_every_group(
    viewer_client, identity_center, people
):
    names = [g.display_name for g in DirectoryGroupFactory.create_batch(30, identity_center=identity_center)]
    response = viewer_client.get(USERS)
    page = text(response)
    assert '<label for="id_group">Group</label>' in page
    field = group_input(response)
    assert 'id="id_group"' in field and 'list="id_group_suggestions"' in field
    assert 'hx-get="/directory/groups/suggest/"' in field and 'hx-target="#id_group_suggestions"' in field
    assert '<datalist id="id_group_suggestions"></datalist>' in page
    assert '<select name="group"' not in page
    assert not [name for name in names if name in page]


def test_users_tab_filters_by_a_group_given_by_its_id_or_its_name(viewer_client, people, group):
    member_of(group, *people[:2])
    for value in (str(group.pk), "Engineers", "engineers", "  ENGINEERS "):
        response = viewer_client.get(USERS, {"group": value})
        assert user_rows(response) == ["ann", "bob"], value
        assert "2 results" in text(response)
        assert 'value="Engineers"' in group_input(response), value  # shown by its name, however it was named
    assert user_rows(viewer_client.get(USERS, {"group": "Engineers", "active": "true"})) == ["ann"]
    assert user_rows(viewer_client.get(USERS, {"group": "Engineers", "q": "bo"})) == ["bob"]


def test_an_unknown_or_deleted_group_matches_nobody(viewer_client, people, group):
    member_of(group, people[0])
    response = viewer_client.get(USERS, {"group": "Engineer"})  # not a group's whole name
    assert user_rows(response) == []
    assert "0 results" in text(response) and "No users match." in text(response)
    assert 'value="Engineer"' in group_input(response)
    services.directory_group_delete(group=group, actor=ACTOR)
    assert user_rows(viewer_client.get(USERS, {"group": str(group.pk)})) == []
    assert user_rows(viewer_client.get(USERS, {"group": "Engineers"})) == []


def test_a_group_name_of_two_directories_filters_by_both_groups(
    viewer_client, identity_center, second_identity_center, people
):
    here = DirectoryGroupFactory(identity_center=identity_center, display_name="Admins")
    there = DirectoryGroupFactory(identity_center=second_identity_center, display_name="Admins")
    member_of(here, people[2])
    member_of(there, DirectoryUserFactory(identity_center=second_identity_center, user_name="zed"))
    response = viewer_client.get(USERS, {"group": "admins"})
    assert user_rows(response) == ["cem", "zed"]
    assert "2 results" in text(response)
    assert user_rows(viewer_client.get(USERS, {"group": "Admins", "directory": str(second_identity_center.pk)})) == [
        "zed"
    ]


@pytest.mark.parametrize("big_group", [1_000, 2], ids=["reads-the-members", "walks-the-users"])
def test_users_of_a_group_are_the_same_however_they_are_found(
    viewer_client, identity_center, group, monkeypatch, big_group
):
    monkeypatch.setattr(selectors, "BIG_GROUP", big_group)
    members = DirectoryUserFactory.create_batch(60, identity_center=identity_center)
    DirectoryUserFactory.create_batch(5, identity_center=identity_center)  # not members
    member_of(group, *members)
    member_of(DirectoryGroupFactory(identity_center=identity_center), *members[:3])  # another group of theirs
    services.directory_user_update(user=members[7], active=False, actor=ACTOR)
    services.directory_user_delete(user=members[8], actor=ACTOR)
    names = sorted(m.user_name for i, m in enumerate(members) if i != 8)
    walks = "EXISTS" in sql_of(viewer_client, f"{USERS}?group={group.pk}")
    assert walks == (big_group == 2)
    first = viewer_client.get(f"{USERS}?group={group.pk}")
    assert user_rows(first) == names[:50]
    assert "59 results · page 1 of 2" in text(first)  # the group's own count of members
    assert user_rows(viewer_client.get(f"{USERS}?group={group.pk}&page=2")) == names[50:]
    active = viewer_client.get(f"{USERS}?group={group.pk}&active=true")
    assert "58 results" in text(active)  # counted with the other filters
    assert members[7].user_name not in user_rows(viewer_client.get(f"{USERS}?group={group.pk}&active=true&page=2"))


def test_group_suggestions_are_live_groups_whose_name_contains_what_was_typed(
    viewer_client, anonymous, identity_center, second_identity_center
):
    for name in ["Platform", "Data platform", "Research"]:
        DirectoryGroupFactory(identity_center=identity_center, display_name=name)
    DirectoryGroupFactory(identity_center=second_identity_center, display_name="Platform")
    gone = DirectoryGroupFactory(identity_center=identity_center, display_name="Platform (old)")
    services.directory_group_delete(group=gone, actor=ACTOR)
    response = viewer_client.get(f"{GROUPS}suggest/?group=PLAT", headers=HTMX)
    assert response.status_code == 200
    assert re.findall(r'<option value="([^"]+)">([^<]+)</option>', text(response)) == [
        ("Data platform", "Acme"),
        ("Platform", "Acme"),
        ("Platform", "Research"),
    ]
    assert "<option" not in text(viewer_client.get(f"{GROUPS}suggest/?group=+", headers=HTMX))
    DirectoryGroupFactory.create_batch(25, identity_center=identity_center)  # "Group N"
    assert text(viewer_client.get(f"{GROUPS}suggest/?group=group", headers=HTMX)).count("<option") == 20
    assert anonymous.get(f"{GROUPS}suggest/?group=plat").status_code == 302


def test_group_page_links_to_its_members_in_the_users_tab(viewer_client, group):
    page = text(viewer_client.get(f"{GROUPS}{group.pk}/"))
    assert f'<a href="/directory/users/?group={group.pk}">View members in the Users tab' in page


# --- Searching users: icontains, narrowed by a trigram index (issue 4) -------------------------------------------

SEARCH_TERMS = [
    "a", "J", "ü", "jo", "Jo", "é", "ía", "%", "_", "'", '"',  # shorter than a trigram: LIKE alone on SQLite
    "jos", "JOS", "josé", "JOSÉ", "müll", "MÜLL", "Müller", "garc", "maría", "MARIA.G", "o'b", "O'BRIEN", "o_b",
    "100%", '"the', "The Rock", "example", "corp.example", "eu.example.org", "zzz", "  liam  ", "k.ma", "a a",
]  # fmt: skip


@pytest.fixture
def searchable(identity_center):
    """People whose names have accents, mixed case, quotes and LIKE's wildcards, and 30 others."""
    rows = [
        ("jose.muller", "José Müller", "José", "Müller", "jose.muller@example.com"),
        ("MARIA.Garcia", "García, María", "María", "García", "maria@corp.example.com"),
        ("o_brien", "Liam O'Brien", "Liam", "O'Brien", "liam.obrien@eu.example.org"),
        ("percy", "100% Percy", "Percy", "Hundred", "percy@example.com"),
        ("dwayne", 'Dwayne "The Rock" Johnson', "Dwayne", "Johnson", "rock@example.com"),
        ("erik.ma", "Erik Ma", "Erik", "Ma", "erik@example.com"),
        ("ana.a", "Ana A", "Ana", "A", "ana@example.com"),
    ]
    rows += [(f"x{n}", f"X {n}", "X", "Filler", f"x{n}@filler.test") for n in range(30)]  # so few have each term
    for user_name, display_name, given, family, email in rows:
        DirectoryUserFactory(
            identity_center=identity_center,
            user_name=user_name,
            display_name=display_name,
            given_name=given,
            family_name=family,
            email=email,
        )


def factory_email(domain: str):
    return factory.LazyAttribute(lambda o: f"{o.user_name}@{domain}")


def icontains(term: str) -> list[str]:
    """What the search has always meant: icontains on user name, display name, email, given and family name."""
    term = term.strip()
    match = (
        Q(user_name__icontains=term)
        | Q(display_name__icontains=term)
        | Q(email__icontains=term)
        | Q(given_name__icontains=term)
        | Q(family_name__icontains=term)
    )
    return list(
        DirectoryUser.objects.live().filter(match).order_by("user_name", "pk").values_list("user_name", flat=True)
    )


def test_search_finds_exactly_what_icontains_finds(viewer_client, searchable):
    found_any = 0
    for term in SEARCH_TERMS:
        expected = icontains(term)
        assert user_rows(viewer_client.get(USERS, {"q": term})) == expected, term
        assert list(selectors.search_users(selectors.users(), term).values_list("user_name", flat=True)) == expected
        found_any += bool(expected)
        if connection.vendor == "sqlite":  # both ways of searching are checked: trigram index, then LIKE alone
            narrowed = "SELECT k.user_id FROM directory_user_fts" in sql_of(
                viewer_client, f"{USERS}?{urlencode({'q': term})}"
            )
            assert narrowed == (len(term.strip()) >= selectors.FTS_MIN_LENGTH), term
    assert found_any >= len(SEARCH_TERMS) - 3  # the terms do find people (not all of them nothing)
    assert user_rows(viewer_client.get(USERS, {"q": "müll"})) == ["jose.muller"]
    assert user_rows(viewer_client.get(USERS, {"q": "100%"})) == ["percy"]  # % is a character, not a wildcard
    assert user_rows(viewer_client.get(USERS, {"q": "o_b"})) == ["o_brien"]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 trigram index")
def test_on_sqlite_terms_of_three_characters_or_more_few_users_have_are_looked_up_in_the_trigram_index(
    viewer_client, identity_center, searchable
):
    DirectoryUserFactory.create_batch(20, identity_center=identity_center, email=factory_email("staff.example.net"))
    narrowed = "SELECT k.user_id FROM directory_user_fts"  # the candidates of the index, in the page's queries
    for term in ["jos", "Müller", '"the', "100%", "@example.com"]:  # at most a fifth of the 27 users
        assert narrowed in sql_of(viewer_client, f"{USERS}?q={term}"), term
    for term in ["jo", "é", "  a  "]:  # too short for a trigram
        assert "directory_user_fts" not in sql_of(viewer_client, f"{USERS}?q={term}"), term
    # Most users have it: reading the table is cheaper than looking up each candidate (the result is the same).
    sql = sql_of(viewer_client, f"{USERS}?q=staff.example")
    assert "directory_user_fts MATCH" in sql and narrowed not in sql
    assert len(user_rows(viewer_client.get(USERS, {"q": "staff.example"}))) == 20


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's FTS5 trigram index")
def test_on_sqlite_the_trigram_index_follows_every_write(identity_center):
    def indexed(term: str) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(selectors.FTS_CANDIDATES, [f'"{term}"'])
            ids = [row[0] for row in cursor.fetchall()]
        return sorted(DirectoryUser.objects.filter(pk__in=ids).values_list("user_name", flat=True))

    ada = services.directory_user_create(
        identity_center=identity_center,
        user_name="ada",
        display_name="Ada Lovelace",
        given_name="Ada",
        family_name="Lovelace",
        email="ada@example.com",
        actor=ACTOR,
    )
    DirectoryUserFactory(identity_center=identity_center, user_name="bob", display_name="Bob Lovelace")
    assert indexed("lovelace") == ["ada", "bob"]
    services.directory_user_update(user=ada, display_name="Countess Byron", family_name="Byron", actor=ACTOR)
    assert indexed("lovelace") == ["bob"]
    assert indexed("byron") == ["ada"]
    services.directory_user_update(user=ada, active=False, actor=ACTOR)  # no searched column changes
    assert indexed("byron") == ["ada"]
    DirectoryUser.objects.filter(user_name="bob").delete()  # rows removed for good go too
    assert indexed("lovelace") == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM directory_user_fts_key")
        assert cursor.fetchone()[0] == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's trigram indexes")
def test_on_postgresql_trigram_indexes_serve_the_search_condition(searchable):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # seven rows: the planner would rather read the table
    plan = selectors.search_users(DirectoryUser.objects.order_by(), "muller").explain()
    for column in ["user_name", "display_name", "email", "given_name", "family_name"]:
        assert f"directory_user_{column}_trgm" in plan, plan


# --- Query budgets: as many queries for 20 users as for 2 -----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        USERS,
        USERS + "?q=user",  # the trigram index on SQLite
        USERS + "?q=us",  # too short for it
        USERS + "?q=example.com&active=true",
        USERS + "?group=Engineers",  # by name; 2 members: read, 20: walked (BIG_GROUP is 10 here)
        USERS + "?group={group}",
        USERS + "?group={group}&q=user&active=true&directory={directory}",
        GROUPS,
        GROUPS + "{group}/",
    ],
)
def test_directory_pages_make_as_many_queries_for_20_users_as_for_2(
    viewer_client, identity_center, group, monkeypatch, django_assert_num_queries, url
):
    monkeypatch.setattr(selectors, "BIG_GROUP", 10)
    url = url.format(group=group.pk, directory=identity_center.pk)

    def add(count: int) -> None:
        """`count` users in the group, each also in a group of their own."""
        users = DirectoryUserFactory.create_batch(count, identity_center=identity_center)
        member_of(group, *users)
        for user in users:
            member_of(DirectoryGroupFactory(identity_center=identity_center), user)

    add(2)
    few = queries(viewer_client, url)
    add(18)
    with django_assert_num_queries(few):
        response = viewer_client.get(url)
    if url == GROUPS:
        assert len(group_rows(response)) == 21
    else:
        assert len(user_rows(response)) == 20, url


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


def test_member_counts_follow_removed_members_and_deleted_users(viewer_client, identity_center, people, group):
    member_of(group, *people)
    member_of(DirectoryGroupFactory(identity_center=identity_center, display_name="Designers"), people[0])
    services.group_members_remove(group=group, users=[people[1]], actor=ACTOR)
    services.directory_user_delete(user=people[2], actor=ACTOR)
    assert group_rows(viewer_client.get(GROUPS)) == [("Designers", "1"), ("Engineers", "2")]
    page = viewer_client.get(f"{GROUPS}{group.pk}/")
    assert "2 members" in text(page) and "2 results" in text(page)
    assert user_rows(page) == ["ann", "dia"]
    assert "2 results" in text(viewer_client.get(f"{USERS}?group={group.pk}"))


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
    assert "60 results · page 1 of 2" in text(response)
    assert len(user_rows(support_client.get(f"{GROUPS}{group.pk}/?members-page=2"))) == 10
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
    assert "Engineers" not in text(admin_client.get(f"{GROUPS}suggest/?group=eng"))  # nor among the suggestions
    assert user_rows(admin_client.get(f"{USERS}?group={group.pk}")) == []


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

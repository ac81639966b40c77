"""Speed: a PATCH adding 100 members and a list page of 100 users (or groups) each run a constant number of
queries, the same for 10 as for 100."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from directory.models import DirectoryUser
from tests.directory.scim.conftest import patch_body
from tests.directory.scim.test_endpoints import make_group

# Token look-up, the group (and its lock), the users named, the members already there, the insert, the audit rows,
# the savepoints around them, the users' lock (PostgreSQL), and what the receivers of memberships_changed read and
# write (subscriptions; credits' usage per group: the members' groups, the profiles, one INSERT ... SELECT): 15 on
# PostgreSQL today, with a little room.
PATCH_BUDGET = 17
LIST_BUDGET = 4  # token, count, page (+ one for the members of a page of groups)


def many_users(identity_center, count: int, prefix: str = "user") -> list[DirectoryUser]:
    return DirectoryUser.objects.bulk_create(
        DirectoryUser(
            identity_center=identity_center,
            user_name=f"{prefix}{i:04d}",
            display_name=f"User {i}",
            given_name="User",
            family_name=str(i),
            email=f"{prefix}{i:04d}@acme.example",
        )
        for i in range(count)
    )


def add_members(scim, group, users) -> int:
    body = patch_body({"op": "add", "path": "members", "value": [{"value": str(u.pk)} for u in users]})
    with CaptureQueriesContext(connection) as captured:
        assert scim.send("PATCH", f"/Groups/{group.pk}", body).status_code == 204
    assert group.memberships.count() == len(users)
    return len(captured)


def test_a_patch_adding_100_members_runs_a_constant_number_of_queries(
    scim, identity_center, django_assert_max_num_queries
):
    users = many_users(identity_center, 110)
    scim.read("/ServiceProviderConfig")  # the token's last-used mark, so both PATCHes find it fresh
    ten = add_members(scim, make_group(identity_center, "Ten"), users[:10])
    hundred_group = make_group(identity_center, "Hundred")
    body = patch_body({"op": "add", "path": "members", "value": [{"value": str(u.pk)} for u in users[10:110]]})
    with django_assert_max_num_queries(PATCH_BUDGET) as captured:
        assert scim.send("PATCH", f"/Groups/{hundred_group.pk}", body).status_code == 204
    assert hundred_group.memberships.count() == 100
    assert len(captured) == ten


def test_a_patch_adding_and_removing_members_runs_a_constant_number_of_queries(scim, identity_center):
    users = many_users(identity_center, 200)
    scim.read("/ServiceProviderConfig")
    small, big = make_group(identity_center, "Small"), make_group(identity_center, "Big")
    add_members(scim, small, users[:10])
    add_members(scim, big, users[100:150])

    def swap(group, out, into) -> int:
        body = patch_body(
            {"op": "remove", "path": "members", "value": [{"value": str(u.pk)} for u in out]},
            {"op": "add", "path": "members", "value": [{"value": str(u.pk)} for u in into]},
        )
        with CaptureQueriesContext(connection) as captured:
            assert scim.send("PATCH", f"/Groups/{group.pk}", body).status_code == 204
        return len(captured)

    assert swap(small, users[:5], users[10:15]) == swap(big, users[100:150], users[150:200])


def list_queries(scim, path: str, count: int, expected: int, **params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = scim.read(path, count=count, **params)
    assert response.status_code == 200
    assert response.json()["itemsPerPage"] == expected
    return len(captured)


def test_a_list_page_of_100_users_runs_a_constant_number_of_queries(
    scim, identity_center, django_assert_max_num_queries
):
    many_users(identity_center, 150)
    scim.read("/ServiceProviderConfig")
    ten = list_queries(scim, "/Users", 10, 10)
    with django_assert_max_num_queries(LIST_BUDGET) as captured:
        assert scim.read("/Users", count=100).json()["itemsPerPage"] == 100
    assert len(captured) == ten


def test_a_list_page_of_groups_with_their_members_runs_a_constant_number_of_queries(scim, identity_center):
    users = many_users(identity_center, 30)
    for i in range(120):
        make_group(identity_center, f"Group {i:03d}", users[i % 30 : i % 30 + 3])
    scim.read("/ServiceProviderConfig")
    ten = list_queries(scim, "/Groups", 10, 10)
    hundred = list_queries(scim, "/Groups", 100, 100)
    assert ten == hundred <= LIST_BUDGET
    assert list_queries(scim, "/Groups", 100, 100, excludedAttributes="members") == hundred - 1

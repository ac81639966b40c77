"""The filter and PATCH path parser: IAM Identity Center's subset (`eq` joined by `and`), value filters in the RFC's
and Entra ID's forms, and 400 `invalidFilter` / `invalidPath` for everything else."""

from __future__ import annotations

import pytest

from directory.scim.filters import Comparison, PatchPath, parse_filter, parse_path
from directory.scim.protocol import GROUP_SCHEMA, USER_SCHEMA, ScimError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('userName eq "jane@example.com"', [Comparison("username", None, "jane@example.com")]),
        (
            'USERNAME EQ "a" AND externalId eq "b"',
            [Comparison("username", None, "a"), Comparison("externalid", None, "b")],
        ),
        (
            'emails[type eq "work"].value eq "a@b.c"',
            [Comparison("emails", "type", "work"), Comparison("emails", "value", "a@b.c")],
        ),
        (
            'emails[type eq "work" and value eq "a@b.c"]',
            [Comparison("emails", "type", "work"), Comparison("emails", "value", "a@b.c")],
        ),
        ('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"', [Comparison("username", None, "x")]),
        ('displayName eq "say \\"hi\\" [now]"', [Comparison("displayname", None, 'say "hi" [now]')]),
        ("active eq true", [Comparison("active", None, True)]),
        ('name.givenName eq "Jane"', [Comparison("name", "givenname", "Jane")]),
    ],
)
def test_eq_comparisons_joined_by_and_are_read(text, expected):
    assert parse_filter(text, USER_SCHEMA) == expected


def test_group_member_filters_are_read():
    assert parse_filter('id eq "g" and members eq "u"', GROUP_SCHEMA) == [
        Comparison("id", None, "g"),
        Comparison("members", None, "u"),
    ]
    assert parse_filter('members[value eq "u"]', GROUP_SCHEMA) == [Comparison("members", "value", "u")]


@pytest.mark.parametrize(
    "text",
    [
        'userName ne "a"',
        'userName co "a"',
        'userName sw "a"',
        'userName ew "a"',
        "userName pr",
        'meta.lastModified gt "2011-05-13T04:42:34Z"',
        'userName eq "a" or userName eq "b"',
        'not (userName eq "a")',
        '(userName eq "a")',
        'emails[type eq "work" or type eq "home"]',
        'emails[not (type eq "work")]',
    ],
)
def test_other_operators_are_an_invalid_filter(text):
    with pytest.raises(ScimError) as caught:
        parse_filter(text, USER_SCHEMA)
    assert (caught.value.status, caught.value.scim_type) == (400, "invalidFilter")
    assert "only `eq` comparisons joined by `and`" in caught.value.detail


@pytest.mark.parametrize(
    "text",
    [
        "userName eq",
        'userName eq "unterminated',
        "userName eq jane",
        'userName "a"',
        'eq "a"',
        'userName eq "a" and',
        'userName eq "a" userName eq "b"',
        'emails[type eq "work"',
        'urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "x"',
        'user.name.given eq "x"',
    ],
)
def test_malformed_filters_are_invalid(text):
    with pytest.raises(ScimError) as caught:
        parse_filter(text, USER_SCHEMA)
    assert (caught.value.status, caught.value.scim_type) == (400, "invalidFilter")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("active", PatchPath("active", None, None, "active")),
        ("name.givenName", PatchPath("name", "givenname", None, "name.givenName")),
        (
            'emails[type eq "work"].value',
            PatchPath("emails", "value", (Comparison("type", None, "work"),), 'emails[type eq "work"].value'),
        ),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
            PatchPath("username", None, None, "urn:ietf:params:scim:schemas:core:2.0:User:userName"),
        ),
    ],
)
def test_patch_paths_are_read(text, expected):
    assert parse_path(text, USER_SCHEMA) == expected


def test_a_member_path_with_a_value_filter_is_read():
    path = parse_path('members[value eq "2819c223-7f76-453a-919d-413861904646"]', GROUP_SCHEMA)
    assert (path.attr, path.sub, path.value_filter) == (
        "members",
        None,
        (Comparison("value", None, "2819c223-7f76-453a-919d-413861904646"),),
    )


@pytest.mark.parametrize("text", ["", "  ", "name.givenName[x eq 1]", "members[value eq 1", "a b", "emails[]"])
def test_malformed_paths_are_invalid(text):
    with pytest.raises(ScimError) as caught:
        parse_path(text, USER_SCHEMA)
    assert (caught.value.status, caught.value.scim_type) == (400, "invalidPath")

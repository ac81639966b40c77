"""Fuzzing SCIM (issue 9; DOMAIN.md §8): the filter parser and the PATCH parser through the real endpoints, with a
real SCIM token. Random strings and structured hostile input: deep nesting, unknown ops, wrong types, 'True' and
'False' as strings, paths with brackets, more than 100 members. Every answer is a SCIM error body (4xx) or a
success, never a 500; a refused PATCH (or POST, PUT) changes nothing.

Each example runs inside a savepoint that is rolled back, so a successful PATCH doesn't leak into the next one.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import transaction
from hypothesis import event, given, settings
from hypothesis import strategies as st

from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from kiroconsole.models import AuditEvent
from tests.directory.conftest import identity_center  # noqa: F401  (a fixture)
from tests.directory.scim.conftest import SCIM, ScimClient, patch_body, scim_token, scim_world, user_body  # noqa: F401
from tests.fuzz.conftest import examples

pytestmark = pytest.mark.django_db

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
FUZZ = settings.get_profile("fuzz")


@pytest.fixture
def world(identity_center):  # noqa: F811  (the fixture imported above)
    """ada (a member of Engineering, external id 00u-ada), alan, Research without members, 101 spare users."""
    return scim_world(identity_center)


@pytest.fixture
def scim(scim_token) -> ScimClient:  # noqa: F811
    return ScimClient(scim_token[1])


def state() -> tuple:
    """Everything a SCIM request could write."""
    return (
        sorted(map(str, DirectoryUser.objects.values_list())),
        sorted(map(str, DirectoryGroup.objects.values_list())),
        sorted(GroupMembership.objects.values_list("group_id", "user_id")),
        AuditEvent.objects.count(),
    )


def assert_scim_answer(response) -> bool:
    """A success, or a SCIM error body with a 4xx status: never a 500. True for a success."""
    status = response.status_code
    assert status < 500, response.content
    if status >= 400:
        assert response["Content-Type"] == "application/scim+json", response.content
        body = response.json()
        assert body["schemas"] == [ERROR]
        assert body["status"] == str(status)
        assert isinstance(body["detail"], str) and body["detail"]
        return False
    assert status in (200, 201, 204), status
    if status != 204:
        json.loads(response.content)  # valid JSON
    return True


# --- Strategies -------------------------------------------------------------------------------------------------

ATTRIBUTES = (
    "userName",
    "USERNAME",
    "externalId",
    "id",
    "displayName",
    "members",
    "members.value",
    "members.display",
    "emails",
    "emails.value",
    'emails[type eq "work"].value',
    'emails[type eq "work"]',
    "name.givenName",
    "name.familyName",
    "name",
    "active",
    "meta.lastModified",
    "meta",
    "schemas",
    f"{USER}:userName",
    f"{GROUP}:displayName",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "urn:",
    "nickName",
    "title",
    "x[",
    "]",
    "members[value eq",
    "members[",
    "members[]",
    'members[value eq "1"]].value',
    "a.b.c.d",
    ".",
    "",
)
OPERATORS = ("eq", "EQ", "Eq", "ne", "co", "sw", "ew", "pr", "gt", "ge", "lt", "le", "and", "or", "not", "", "==")
VALUES = (
    '"ada.lovelace"',
    '"ADA.LOVELACE"',
    '"00u-ada"',
    '"Engineering"',
    '"x"',
    '""',
    '"\\""',
    '"\\u0000"',
    '"\\ud800"',
    '"unterminated',
    "'single'",
    "true",
    "True",
    "false",
    "null",
    "1",
    "-1",
    "1e999",
    "NaN",
    '"' + "x" * 3000 + '"',
    '"00000000-0000-0000-0000-000000000000"',
    "(",
    ")",
    "[",
    "]",
)
JOINERS = (" and ", " AND ", " or ", " ", "", " and not ", "and")
FREE_TEXT = st.text(max_size=30)


@st.composite
def filters(draw: st.DrawFn, ids: list[str]) -> str:
    """A filter: comparisons from the grammar's pieces (most of them wrong somewhere), or random text."""
    if draw(st.integers(0, 4)) == 0:
        return draw(FREE_TEXT)
    values = st.one_of(st.sampled_from(VALUES), st.sampled_from([f'"{i}"' for i in ids]), FREE_TEXT)
    attributes, operators, joiners = st.sampled_from(ATTRIBUTES), st.sampled_from(OPERATORS), st.sampled_from(JOINERS)
    if draw(st.booleans()):  # the supported forms, so that some filters match
        attributes = st.sampled_from(("userName", "externalId", "id", "displayName", "members", "members.value"))
        operators, joiners = st.just("eq"), st.just(" and ")
        values = st.sampled_from(('"ada.lovelace"', '"00u-ada"', '"Engineering"', *[f'"{i}"' for i in ids]))
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        comparison = f"{draw(attributes)} {draw(operators)} {draw(values)}"
        if draw(st.integers(0, 6)) == 0:
            comparison = f"({comparison})"
        parts.append(comparison)
    text = parts[0]
    for part in parts[1:]:
        text += draw(joiners) + part
    return text


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(("True", "False", "true", "false", "", " ", "null", "x" * 3000, "\x00", "ada.lovelace")),
    FREE_TEXT,
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(FREE_TEXT, inner, max_size=3),
    max_leaves=8,
)


def deep(depth: int) -> Any:
    value: Any = {"active": False}
    for _ in range(depth):
        value = {USER: value}
    return value


@st.composite
def patch_bodies(draw: st.DrawFn, ids: list[str], member_ids: list[str]) -> Any:
    """A PATCH body: a PatchOp with operations built from SCIM's pieces (mostly wrong somewhere), random JSON, or
    a raw text that is no JSON or nests too deep."""
    kind = draw(st.sampled_from(("ops",) * 4 + ("valid",) * 3 + ("json", "raw", "deep", "many")))
    if kind == "valid":  # operations as identity providers send them, so that some succeed
        good_paths = st.sampled_from(
            (
                "active",
                "displayName",
                "externalId",
                "name.givenName",
                'emails[type eq "work"].value',
                "members",
                *[f'members[value eq "{i}"]' for i in ids[:3]],
            )
        )
        good_values = st.one_of(
            st.sampled_from((True, False, "True", "False", "Renamed", "renamed@acme.example", "ext-9")),
            st.lists(st.sampled_from(member_ids[:5]).map(lambda i: {"value": i}), min_size=1, max_size=3),
        )
        return patch_body(
            *draw(
                st.lists(
                    st.one_of(
                        st.fixed_dictionaries(
                            {
                                "op": st.sampled_from(("add", "replace", "Replace")),
                                "path": good_paths,
                                "value": good_values,
                            }
                        ),
                        st.fixed_dictionaries({"op": st.just("remove"), "path": good_paths}),
                        st.fixed_dictionaries(
                            {
                                "op": st.just("replace"),
                                "value": st.dictionaries(
                                    st.sampled_from(("active", "displayName", "externalId")), good_values, max_size=2
                                ),
                            }
                        ),
                    ),
                    min_size=1,
                    max_size=3,
                )
            )
        )
    if kind == "json":
        return draw(JSON_VALUES)
    if kind == "raw":
        return draw(
            st.sampled_from(
                (
                    "[" * 100_000,
                    "{" + '"a":{' * 5000 + "}" * 5001,
                    '{"Operations": [' + "[" * 3000 + "]" * 3000 + "]}",
                    "{'Operations': []}",
                    "",
                    "\xff",
                    '{"Operations": NaN}',
                    '{"schemas": ["' + PATCH_OP + '"], "Operations": [{"op": "replace", "value": {"active": 1e999}}]}',
                )
            )
        )
    if kind == "deep":
        return patch_body({"op": "replace", "value": deep(draw(st.sampled_from((3, 50, 900))))})
    if kind == "many":  # 101 members at once, or 1,001 operations
        if draw(st.booleans()):
            return patch_body({"op": "add", "path": "members", "value": [{"value": i} for i in member_ids[:101]]})
        return patch_body(*[{"op": "replace", "path": "displayName", "value": f"n{i}"} for i in range(1001)])
    paths = st.one_of(
        st.sampled_from(ATTRIBUTES),
        st.sampled_from([f'members[value eq "{i}"]' for i in ids[:3]]),
        st.sampled_from(('members[value eq "nobody"]', 'members[display eq "x"]', 'emails[value eq "a"].value')),
        FREE_TEXT,
    )
    values = st.one_of(
        JSON_VALUES,
        st.sampled_from(
            (
                {"active": False},
                {"active": "False"},
                {"active": "True"},
                {"displayName": "Renamed"},
                {"userName": "renamed"},
                {"id": "other"},
                {"name": {"givenName": "G"}},
                {"emails": [{"value": "x@acme.example", "type": "work", "primary": True}]},
                {"members": [{"value": "nobody"}]},
                [{"value": "x@acme.example", "type": "work"}],
            )
        ),
        st.lists(st.sampled_from([*member_ids[:5], "nobody", ""]).map(lambda i: {"value": i}), max_size=4),
    )
    operations = []
    for _ in range(draw(st.integers(0, 3))):
        operation: dict[str, Any] = {
            "op": draw(st.sampled_from(("add", "replace", "remove", "Add", "REPLACE", "copy", "", None, 1)))
        }
        if draw(st.integers(0, 3)):
            operation["path"] = draw(st.one_of(paths, JSON_SCALARS))
        if draw(st.integers(0, 3)):
            operation["value"] = draw(values)
        if draw(st.integers(0, 8)) == 0:
            operation[draw(st.sampled_from(("from", "Path", "VALUE", "extra")))] = draw(JSON_SCALARS)
        operations.append(operation)
    body: dict[str, Any] = {
        "schemas": draw(st.sampled_from(([PATCH_OP], [PATCH_OP], [PATCH_OP], [], [USER], PATCH_OP, None)))
    }
    operations_key = draw(st.sampled_from(("Operations", "Operations", "operations", "OPERATIONS", "ops")))
    body[operations_key] = draw(st.sampled_from((operations, operations, operations, {}, None, "x")))
    return body


def send(client: ScimClient, method: str, path: str, body: Any):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.generic(method, SCIM + path, data=data, content_type="application/scim+json")


def refused_changes_nothing(client: ScimClient, method: str, path: str, body: Any) -> bool:
    """Send the request inside a savepoint; a refusal must change nothing. True when it succeeded."""
    with transaction.atomic():
        before = state()
        succeeded = assert_scim_answer(send(client, method, path, body))
        if not succeeded:
            assert state() == before, "a refused request changed the directory"
        transaction.set_rollback(True)
    return succeeded


# --- The tests --------------------------------------------------------------------------------------------------


@settings(FUZZ, max_examples=examples(40))
@given(data=st.data())
def test_list_filters_answer_results_or_a_scim_error(world, scim, data):
    ids = [str(world["ada"].pk), str(world["engineering"].pk)]
    resource = data.draw(st.sampled_from(("/Users", "/Groups")), label="resource")
    params = {"filter": data.draw(filters(ids), label="filter")}
    for name in data.draw(st.lists(st.sampled_from(("startIndex", "count", "attributes", "excludedAttributes"))), "p"):
        params[name] = data.draw(st.one_of(st.sampled_from(("0", "-1", "1", "101", "1e3", "x", "9" * 30)), FREE_TEXT))
    event("succeeded" if assert_scim_answer(scim.get(SCIM + resource, params)) else "refused")


@settings(FUZZ, max_examples=examples(40))
@given(data=st.data())
def test_a_user_patch_answers_a_result_or_a_scim_error_and_a_refusal_changes_nothing(world, scim, data):
    ada = world["ada"]
    ids = [str(ada.pk), str(world["alan"].pk)]
    body = data.draw(patch_bodies(ids, [str(u.pk) for u in world["spare"]]), label="body")
    target = data.draw(
        st.sampled_from((str(ada.pk), str(ada.pk), "not-a-uuid", "00000000-0000-0000-0000-000000000000"))
    )
    event("succeeded" if refused_changes_nothing(scim, "PATCH", f"/Users/{target}", body) else "refused")


@settings(FUZZ, max_examples=examples(40))
@given(data=st.data())
def test_a_group_patch_answers_a_result_or_a_scim_error_and_a_refusal_changes_nothing(world, scim, data):
    group = data.draw(st.sampled_from((world["engineering"], world["research"])), label="group")
    members = [str(world["ada"].pk), str(world["alan"].pk), *(str(u.pk) for u in world["spare"])]
    body = data.draw(patch_bodies(members[:3], members), label="body")
    event("succeeded" if refused_changes_nothing(scim, "PATCH", f"/Groups/{group.pk}", body) else "refused")


@settings(FUZZ, max_examples=examples(20))
@given(data=st.data())
def test_a_created_or_replaced_resource_answers_a_result_or_a_scim_error(world, scim, data):
    """POST and PUT with a body that is a real user or group with one attribute damaged, or random JSON."""
    kind = data.draw(st.sampled_from(("Users", "Groups")), label="kind")
    if kind == "Users":
        body: Any = user_body("new.user")
    else:
        body = {"schemas": [GROUP], "displayName": "New group", "members": [{"value": str(world["alan"].pk)}]}
    if data.draw(st.booleans(), label="damaged"):
        key = data.draw(st.sampled_from([*body, "members", "emails", "active", "externalId", "id", "extra"]))
        body[key] = data.draw(JSON_VALUES, label="value")
    if data.draw(st.integers(0, 5), label="whole") == 0:
        body = data.draw(JSON_VALUES)
    if data.draw(st.booleans(), label="put"):
        target = world["ada"].pk if kind == "Users" else world["research"].pk
        refused_changes_nothing(scim, "PUT", f"/{kind}/{target}", body)
    else:
        refused_changes_nothing(scim, "POST", f"/{kind}", body)


def test_the_fuzz_reaches_the_success_paths(world, scim):
    """Entra's and Okta's deactivations and a member add are among the generated forms, and they succeed."""
    ada, group = world["ada"], world["research"]
    assert refused_changes_nothing(
        scim, "PATCH", f"/Users/{ada.pk}", patch_body({"op": "replace", "path": "active", "value": "False"})
    )
    assert refused_changes_nothing(
        scim, "PATCH", f"/Users/{ada.pk}", patch_body({"op": "replace", "value": {"active": False}})
    )
    assert refused_changes_nothing(
        scim,
        "PATCH",
        f"/Groups/{group.pk}",
        patch_body({"op": "add", "path": "members", "value": [{"value": str(ada.pk)}]}),
    )
    assert not refused_changes_nothing(
        scim,
        "PATCH",
        f"/Groups/{group.pk}",
        patch_body({"op": "add", "path": "members", "value": [{"value": str(u.pk)} for u in world["spare"]]}),
    )

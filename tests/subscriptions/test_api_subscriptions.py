"""The subscriptions API (CONTRACTS.md: /profiles/{id}/subscriptions, /group-assignments, /bill): thin doors onto the
subscription services, with the contract's statuses (200, 201, 204, 403, 404, 409, 422), `{"detail": ...}` bodies
and nothing written when a request is refused. The rules themselves are tested in test_subscribing.py."""

from __future__ import annotations

import uuid
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from directory import services as directory
from kiroconsole.models import AuditEvent
from subscriptions.models import GroupAssignment, Subscription, SubscriptionPeriod
from subscriptions.services import (
    group_assign,
    profile_delete,
    subscription_change_plan,
    subscription_record_activity,
    subscription_subscribe,
    subscription_unsubscribe,
)
from tests.factories import DirectoryGroupFactory, DirectoryUserFactory, IdentityCenterFactory
from tests.subscriptions.conftest import ACTOR

JSON = "application/json"
LIST_QUERIES = 6  # the token, the user's role, the profile, the count, the page, the group sources of the page


@pytest.fixture
def api(admin_api, org):
    return admin_api


def url(org, path: str = "") -> str:
    return f"/api/v1/profiles/{org.profile.profile_id}/{path}"


def post(client, path, data):
    return client.post(path, data, content_type=JSON)


def patch(client, path, data):
    return client.patch(path, data, content_type=JSON)


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["user_name"] for item in response.json()["items"]]


def rows() -> tuple:
    """Everything the subscription endpoints may write: compare before and after a refused request."""
    return (
        sorted(map(str, Subscription.objects.values_list())),
        sorted(map(str, SubscriptionPeriod.objects.values_list())),
        sorted(map(str, GroupAssignment.objects.values_list())),
        AuditEvent.objects.count(),
    )


@contextmanager
def nothing_changed():
    before = rows()
    yield
    assert rows() == before


def activate(org, name):
    subscription = Subscription.objects.get(profile=org.profile, user=org.users[name])
    subscription_record_activity(subscription_id=subscription.pk, at=subscription.subscribed_at)


# --- Subscriptions: list ------------------------------------------------------------------------------------------


def test_the_list_shows_each_subscription_with_its_tier_sources_and_dates(api, org, clock):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO_PLUS", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=org.users["bob"], tier="POWER", actor=ACTOR)
    response = api.get(url(org, "subscriptions"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [item["user_name"] for item in body["items"]] == ["ann", "bob", "cat"]
    bob = body["items"][1]
    assert bob == {
        "user_id": str(org.users["bob"].pk),
        "user_name": "bob",
        "display_name": "Bob",
        "email": "bob@example.com",
        "user_active": True,
        "status": "PENDING",
        "tier": "POWER",
        "next_tier": None,
        "next_tier_from": None,
        "sources": [
            {"type": "direct", "tier": "POWER"},
            {"type": "group", "group_id": str(org.groups["Engineering"].pk), "name": "Engineering", "tier": "PRO"},
            {"type": "group", "group_id": str(org.groups["Research"].pk), "name": "Research", "tier": "PRO_PLUS"},
        ],
        "subscribed_at": "2026-11-15T12:00:00Z",
        "activated_at": None,
        "canceled_at": None,
        "access_until": None,
        "last_active_at": None,
        "has_access": True,
    }
    # The other profile's subscriptions are not this profile's.
    assert api.get(f"/api/v1/profiles/{org.other.profile_id}/subscriptions").json() == {"items": [], "count": 0}


def test_the_list_filters_by_status_tier_group_and_search(api, org, clock):
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO_PLUS", actor=ACTOR)  # bob, cat
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    activate(org, "cat")
    assert names(api.get(url(org, "subscriptions?status=ACTIVE"))) == ["cat"]
    assert names(api.get(url(org, "subscriptions?status=pending"))) == ["ann", "bob"]
    assert names(api.get(url(org, "subscriptions?tier=PRO_PLUS"))) == ["bob", "cat"]
    assert names(api.get(url(org, f"subscriptions?group_id={org.groups['Engineering'].pk}"))) == ["ann", "bob"]
    assert names(api.get(url(org, "subscriptions?q=CAT"))) == ["cat"]
    assert names(api.get(url(org, "subscriptions?q=example.com&tier=PRO&status=PENDING"))) == ["ann"]
    assert names(api.get(url(org, "subscriptions?limit=1&offset=1"))) == ["bob"]


def test_the_tier_filter_and_the_tier_shown_follow_a_downgrade_from_its_1st(api, org, clock):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="POWER", actor=ACTOR)
    subscription_change_plan(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    ann = api.get(url(org, f"subscriptions/{org.users['ann'].pk}")).json()
    assert (ann["tier"], ann["next_tier"], ann["next_tier_from"]) == ("POWER", "PRO", "2026-12-01T00:00:00Z")
    assert names(api.get(url(org, "subscriptions?tier=POWER"))) == ["ann"]
    assert names(api.get(url(org, "subscriptions?tier=PRO"))) == []
    clock.set(2026, 12, 1)
    ann = api.get(url(org, f"subscriptions/{org.users['ann'].pk}")).json()
    assert (ann["tier"], ann["next_tier"], ann["next_tier_from"]) == ("PRO", None, None)
    assert names(api.get(url(org, "subscriptions?tier=PRO"))) == ["ann"]
    assert names(api.get(url(org, "subscriptions?tier=POWER"))) == []


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("status=GONE", {"status": ["Unknown status 'GONE': choose one of PENDING, ACTIVE or CANCELED."]}),
        ("tier=GOLD", {"tier": ["Unknown tier 'GOLD': choose one of PRO, PRO_PLUS, PRO_MAX, POWER."]}),
        (f"group_id={uuid.UUID(int=7)}", {"group_id": ["No such group."]}),
    ],
)
def test_bad_list_filters_are_422_with_the_reason(api, org, query, detail):
    response = api.get(url(org, f"subscriptions?{query}"))
    assert response.status_code == 422
    assert response.json() == {"detail": detail}


def test_a_group_id_that_is_not_an_id_is_422(api, org):
    assert api.get(url(org, "subscriptions?group_id=Engineering")).status_code == 422


def test_an_unknown_or_deleted_profile_is_404(api, org):
    assert api.get("/api/v1/profiles/NOSUCHPROFIL/subscriptions").status_code == 404
    profile_delete(profile=org.other, actor=ACTOR)
    assert api.get(f"/api/v1/profiles/{org.other.profile_id}/subscriptions").status_code == 404
    assert api.get(f"/api/v1/profiles/{org.other.profile_id}/group-assignments").status_code == 404
    assert api.get(f"/api/v1/profiles/{org.other.profile_id}/bill").status_code == 404


def test_the_list_has_a_query_budget_that_does_not_grow_with_rows(api, org, django_assert_max_num_queries):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    path = url(org, "subscriptions?limit=100")
    api.get(path)  # the token's first use records it
    with CaptureQueriesContext(connection) as few:
        assert api.get(path).status_code == 200
    people = [DirectoryUserFactory(identity_center=org.ic) for _ in range(60)]
    directory.group_members_add(group=org.groups["Research"], users=people, actor=ACTOR)
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO_MAX", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=people[:30], tier="POWER", actor=ACTOR)
    with django_assert_max_num_queries(LIST_QUERIES):
        response = api.get(path)
    assert response.json()["count"] == 63
    assert all(item["sources"] for item in response.json()["items"])
    with CaptureQueriesContext(connection) as many:
        api.get(path)
    assert len(many) == len(few)


# --- Subscriptions: subscribe, read, change plan, unsubscribe -------------------------------------------------


def test_subscribing_a_user_answers_201_then_200_for_the_same_user(api, org):
    ann = org.users["ann"]
    response = post(api, url(org, "subscriptions"), {"user_id": str(ann.pk), "tier": "pro_plus"})
    assert response.status_code == 201
    assert {k: response.json()[k] for k in ("user_name", "status", "tier", "sources")} == {
        "user_name": "ann",
        "status": "PENDING",
        "tier": "PRO_PLUS",
        "sources": [{"type": "direct", "tier": "PRO_PLUS"}],
    }
    event = AuditEvent.objects.get(action="subscription.subscribe")
    assert (event.source, event.after["users"], event.after["subscribed"]["users"]) == ("api", ["ann"], ["ann"])
    again = post(api, url(org, "subscriptions"), {"user_id": str(ann.pk), "tier": "POWER"})
    assert again.status_code == 200
    assert again.json()["tier"] == "POWER"
    assert Subscription.objects.filter(user=ann).count() == 1


def test_resubscribing_a_canceled_user_reactivates_its_subscription(api, org):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    activate(org, "ann")
    subscription_unsubscribe(profile=org.profile, users=org.users["ann"], actor=ACTOR)
    response = post(api, url(org, "subscriptions"), {"user_id": str(org.users["ann"].pk), "tier": "PRO"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["access_until"]) == ("ACTIVE", None)


@pytest.mark.parametrize(
    ("user", "payload", "detail"),
    [
        (None, {"user_id": "ann", "tier": "PRO"}, None),  # not an id: ninja's own 422
        ("ann", {"tier": "PRO", "note": "x"}, None),  # an unknown field
        ("ann", {"tier": "GOLD"}, {"tier": ["Unknown tier 'GOLD': choose one of PRO, PRO_PLUS, PRO_MAX, POWER."]}),
        ("dan", {"tier": "PRO"}, {"user_id": ["dan is deactivated: reactivate the user before subscribing it."]}),
        (None, {"user_id": str(uuid.UUID(int=1)), "tier": "PRO"}, {"user_id": ["No such user."]}),
    ],
)
def test_a_refused_subscribe_is_422_with_the_reason_and_writes_nothing(api, org, user, payload, detail):
    if user is not None:
        payload = {"user_id": str(org.users[user].pk), **payload}
    with nothing_changed():
        response = post(api, url(org, "subscriptions"), payload)
    assert response.status_code == 422
    if detail is not None:
        assert response.json() == {"detail": detail}


def test_a_user_of_another_directory_cannot_be_subscribed(api, org):
    stranger = DirectoryUserFactory(identity_center=IdentityCenterFactory(), user_name="stranger")
    with nothing_changed():
        response = post(api, url(org, "subscriptions"), {"user_id": str(stranger.pk), "tier": "PRO"})
    assert response.status_code == 422
    assert response.json() == {
        "detail": {"user_id": [f"stranger is in another directory than this profile's ({org.ic.identity_store_id})."]}
    }


def test_reading_one_subscription_and_404_for_a_user_without_one(api, org):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    response = api.get(url(org, f"subscriptions/{org.users['ann'].pk}"))
    assert (response.status_code, response.json()["user_name"]) == (200, "ann")
    missing = api.get(url(org, f"subscriptions/{org.users['bob'].pk}"))
    assert (missing.status_code, missing.json()) == (404, {"detail": "This user has no subscription in this profile."})
    assert api.get(url(org, f"subscriptions/{uuid.UUID(int=3)}")).status_code == 404
    assert api.get(url(org, "subscriptions/ann")).status_code == 422


def test_changing_a_plan_up_applies_now_and_down_from_the_1st(api, org):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO_PLUS", actor=ACTOR)
    path = url(org, f"subscriptions/{org.users['ann'].pk}")
    up = patch(api, path, {"tier": "PRO_MAX"})
    assert up.status_code == 200
    assert (up.json()["tier"], up.json()["next_tier"]) == ("PRO_MAX", None)
    down = patch(api, path, {"tier": "PRO"})
    assert (down.json()["tier"], down.json()["next_tier"], down.json()["next_tier_from"]) == (
        "PRO_MAX",
        "PRO",
        "2026-12-01T00:00:00Z",
    )
    assert AuditEvent.objects.filter(action="subscription.change_plan", source="api").count() == 2


def test_changing_the_plan_of_what_is_not_subscribed_is_404_and_a_bad_tier_422(api, org):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    subscription_unsubscribe(profile=org.profile, users=org.users["ann"], actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=org.users["cat"], tier="PRO", actor=ACTOR)
    with nothing_changed():
        assert patch(api, url(org, f"subscriptions/{org.users['bob'].pk}"), {"tier": "POWER"}).status_code == 404
        canceled = patch(api, url(org, f"subscriptions/{org.users['ann'].pk}"), {"tier": "POWER"})
        assert canceled.status_code == 404
        assert canceled.json()["detail"].startswith("ann is not subscribed in this profile")
        bad = patch(api, url(org, f"subscriptions/{org.users['cat'].pk}"), {"tier": "GOLD"})
        assert bad.status_code == 422
        assert patch(api, url(org, f"subscriptions/{org.users['cat'].pk}"), {}).status_code == 422


def test_unsubscribing_answers_204_and_access_lasts_until_the_1st(api, org):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    path = url(org, f"subscriptions/{org.users['ann'].pk}")
    response = api.delete(path)
    assert response.status_code == 204
    ann = api.get(path).json()
    assert (ann["status"], ann["canceled_at"], ann["access_until"], ann["has_access"]) == (
        "CANCELED",
        "2026-11-15T12:00:00Z",
        "2026-12-01T00:00:00Z",
        True,
    )
    assert ann["sources"] == []  # the group no longer counts for ann until ann is subscribed directly again
    assert AuditEvent.objects.filter(action="subscription.unsubscribe", source="api").count() == 1


def test_unsubscribing_what_is_not_subscribed_is_404(api, org):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    subscription_unsubscribe(profile=org.profile, users=org.users["ann"], actor=ACTOR)
    with nothing_changed():
        never = api.delete(url(org, f"subscriptions/{org.users['bob'].pk}"))
        assert never.status_code == 404
        again = api.delete(url(org, f"subscriptions/{org.users['ann'].pk}"))
        assert again.status_code == 404
    assert again.json() == {
        "detail": "ann is not subscribed in this profile: the subscription was canceled on 2026-11-15 "
        "(access until 2026-12-01 00:00 UTC). Subscribe the user again with POST."
    }


def test_a_deactivated_user_is_flagged_and_may_still_be_unsubscribed(api, org):
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    directory.directory_user_update(user=org.users["ann"], actor=ACTOR, active=False)
    path = url(org, f"subscriptions/{org.users['ann'].pk}")
    assert api.get(path).json()["user_active"] is False
    assert api.delete(path).status_code == 204


# --- Group assignments ----------------------------------------------------------------------------------------


def test_assigning_a_group_answers_201_and_subscribes_its_members(api, org):
    group = org.groups["Research"]
    response = post(api, url(org, "group-assignments"), {"group_id": str(group.pk), "tier": "PRO_PLUS"})
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("group_id", "name", "tier", "member_count", "assigned_at", "note")} == {
        "group_id": str(group.pk),
        "name": "Research",
        "tier": "PRO_PLUS",
        "member_count": 2,
        "assigned_at": "2026-11-15T12:00:00Z",
        "note": None,
    }
    assert names(api.get(url(org, "subscriptions"))) == ["bob", "cat"]
    assert AuditEvent.objects.get(action="group_assignment.create").source == "api"


def test_a_group_without_members_may_be_assigned_with_a_note(api, org):
    empty = directory.directory_group_create(identity_center=org.ic, actor=ACTOR, display_name="Empty")
    response = post(api, url(org, "group-assignments"), {"group_id": str(empty.pk), "tier": "PRO"})
    assert response.status_code == 201
    assert (response.json()["member_count"], response.json()["note"]) == (
        0,
        "The group has no members yet: each member it gains is subscribed at once.",
    )


def test_assigning_an_assigned_group_is_409_and_bad_input_422(api, org):
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)
    elsewhere = DirectoryGroupFactory(identity_center=IdentityCenterFactory(), display_name="Elsewhere")
    with nothing_changed():
        twice = post(api, url(org, "group-assignments"), {"group_id": str(org.groups["Research"].pk), "tier": "POWER"})
        assert twice.status_code == 409
        assert twice.json() == {"detail": {"group_id": ["The group Research is already assigned in this profile."]}}
        unknown = post(api, url(org, "group-assignments"), {"group_id": str(uuid.UUID(int=5)), "tier": "PRO"})
        assert (unknown.status_code, unknown.json()) == (422, {"detail": {"group_id": ["No such group."]}})
        other = post(api, url(org, "group-assignments"), {"group_id": str(elsewhere.pk), "tier": "PRO"})
        assert other.status_code == 422
        assert other.json() == {
            "detail": {"group_id": ["The group Elsewhere is in another directory than this profile's."]}
        }
        bad_tier = post(api, url(org, "group-assignments"), {"group_id": str(org.groups["Engineering"].pk), "tier": ""})
        assert bad_tier.status_code == 422


def test_the_assignments_list_one_assignment_and_404(api, org):
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="POWER", actor=ACTOR)
    body = api.get(url(org, "group-assignments")).json()
    assert body["count"] == 2
    assert [(a["name"], a["tier"], a["member_count"]) for a in body["items"]] == [
        ("Engineering", "POWER", 2),
        ("Research", "PRO", 2),
    ]
    assert [a["name"] for a in api.get(url(org, "group-assignments?tier=pro")).json()["items"]] == ["Research"]
    assert [a["name"] for a in api.get(url(org, "group-assignments?q=engin")).json()["items"]] == ["Engineering"]
    one = api.get(url(org, f"group-assignments/{org.groups['Research'].pk}"))
    assert (one.status_code, one.json()["tier"]) == (200, "PRO")
    assert (
        api.get(f"/api/v1/profiles/{org.other.profile_id}/group-assignments/{org.groups['Research'].pk}").status_code
        == 404
    )


def test_the_assignments_list_has_a_query_budget(api, org, django_assert_max_num_queries):
    for n in range(55):
        group = directory.directory_group_create(identity_center=org.ic, actor=ACTOR, display_name=f"Team {n:02d}")
        group_assign(profile=org.profile, group=group, tier="PRO", actor=ACTOR)
    api.get(url(org, "group-assignments"))  # the token's first use records it
    with django_assert_max_num_queries(LIST_QUERIES - 1):  # no group sources to read
        response = api.get(url(org, "group-assignments?limit=100"))
    assert response.json()["count"] == 55


def test_changing_a_groups_plan_and_unassigning_it(api, org):
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)
    path = url(org, f"group-assignments/{org.groups['Research'].pk}")
    response = patch(api, path, {"tier": "PRO_MAX"})
    assert (response.status_code, response.json()["tier"]) == (200, "PRO_MAX")
    assert Subscription.objects.get(profile=org.profile, user=org.users["cat"]).tier_id == "PRO_MAX"
    assert api.delete(path).status_code == 204
    assert not GroupAssignment.objects.exists()
    cat = api.get(url(org, f"subscriptions/{org.users['cat'].pk}")).json()
    assert (cat["status"], cat["access_until"]) == ("CANCELED", "2026-12-01T00:00:00Z")
    assert list(AuditEvent.objects.filter(source="api").values_list("action", flat=True).order_by("pk")) == [
        "group_assignment.update",
        "group_assignment.delete",
    ]


def test_changing_or_unassigning_a_group_that_is_not_assigned_is_404(api, org):
    path = url(org, f"group-assignments/{org.groups['Research'].pk}")
    with nothing_changed():
        assert patch(api, path, {"tier": "PRO"}).status_code == 404
        response = api.delete(path)
        assert (response.status_code, response.json()) == (
            404,
            {"detail": "This group is not assigned in this profile."},
        )
        assert api.delete(url(org, "group-assignments/not-an-id")).status_code == 422


# --- The bill -------------------------------------------------------------------------------------------------


def test_the_bill_of_this_month_has_lines_per_tier_and_decimal_strings(api, org):
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO_PLUS", actor=ACTOR)  # bob, cat
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    for name in ("ann", "bob", "cat"):
        activate(org, name)
    response = api.get(url(org, "bill"))
    assert response.status_code == 200
    assert response.json() == {
        "profile_id": org.profile.profile_id,
        "month": "2026-11",
        "currency": "USD",
        "price_multiplier": "1.00",
        "lines": [
            {"tier": "PRO", "name": "Pro", "seats": 1, "unit_price": "20.00", "amount": "20.00"},
            {"tier": "PRO_PLUS", "name": "Pro+", "seats": 2, "unit_price": "40.00", "amount": "80.00"},
        ],
        "seats": 3,
        "overage_credits": "0.00",
        "overage_amount": "0.00",
        "total": "100.00",
    }
    assert api.get(url(org, "bill?month=2026-10")).json()["lines"] == []
    assert api.get(url(org, "bill?month=2026-12")).json()["total"] == "100.00"


@pytest.mark.parametrize("month", ["2026-13", "11-2026", "", "last"])
def test_a_bad_month_is_422_saying_how_to_write_it(api, org, month):
    response = api.get(url(org, f"bill?month={month}"))
    assert response.status_code == 422
    assert response.json() == {"detail": {"month": [f"{month!r} is not a month: write it as YYYY-MM, like 2026-11."]}}


# --- Roles ----------------------------------------------------------------------------------------------------


def test_a_viewer_reads_everything_and_changes_nothing(api_client_for, viewer_user, org):
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)
    viewer = api_client_for(viewer_user)
    bob = url(org, f"subscriptions/{org.users['bob'].pk}")
    research = url(org, f"group-assignments/{org.groups['Research'].pk}")
    for path in (url(org, "subscriptions"), bob, url(org, "group-assignments"), research, url(org, "bill")):
        assert viewer.get(path).status_code == 200, path
    with nothing_changed():
        ann = {"user_id": str(org.users["ann"].pk), "tier": "PRO"}
        assert post(viewer, url(org, "subscriptions"), ann).status_code == 403
        assert patch(viewer, bob, {"tier": "POWER"}).status_code == 403
        assert viewer.delete(bob).status_code == 403
        engineering = {"group_id": str(org.groups["Engineering"].pk), "tier": "PRO"}
        assert post(viewer, url(org, "group-assignments"), engineering).status_code == 403
        assert patch(viewer, research, {"tier": "POWER"}).status_code == 403
        response = viewer.delete(research)
        assert response.status_code == 403
    assert "Your role (Viewer) may not do this" in response.json()["detail"]


def test_the_metering_role_reads_none_of_it(metering_client, org):
    for path in (url(org, "subscriptions"), url(org, "group-assignments"), url(org, "bill")):
        assert metering_client.get(path).status_code == 403


def test_support_subscribes_and_unsubscribes(api_client_for, support_user, org):
    support = api_client_for(support_user)
    ann = str(org.users["ann"].pk)
    assert post(support, url(org, "subscriptions"), {"user_id": ann, "tier": "PRO"}).status_code == 201
    assert support.delete(url(org, f"subscriptions/{ann}")).status_code == 204


def test_the_openapi_document_lists_the_endpoints(api, org):
    paths = api.get("/api/v1/openapi.json").json()["paths"]
    for path, methods in {
        "/api/v1/profiles/{profile_id}/subscriptions": {"get", "post"},
        "/api/v1/profiles/{profile_id}/subscriptions/{user_id}": {"get", "patch", "delete"},
        "/api/v1/profiles/{profile_id}/group-assignments": {"get", "post"},
        "/api/v1/profiles/{profile_id}/group-assignments/{group_id}": {"get", "patch", "delete"},
        "/api/v1/profiles/{profile_id}/bill": {"get"},
    }.items():
        assert set(paths[path]) == methods, path

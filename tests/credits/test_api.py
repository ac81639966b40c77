"""The metering API (CONTRACTS.md): statuses of single events, batches, bad input, entitlements, roles."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.utils import timezone

from credits.models import Balance, UsageEvent
from directory.models import DirectoryUser
from subscriptions.models import Profile
from subscriptions.services import profile_settings_update, subscription_subscribe
from tests.credits.conftest import ACTOR, event
from tests.factories import IdentityCenterFactory

pytestmark = pytest.mark.django_db


def url(profile) -> str:
    return f"/api/v1/profiles/{profile.profile_id}/usage-events"


def post(client, profile, body, raw=False):
    return client.post(url(profile), body if raw else json.dumps(body), content_type="application/json")


def test_a_single_event_is_201_accepted_then_200_on_replay(metering_client, metered):
    body = event(metered.users["ann"], "12.5", key="one")
    first = post(metering_client, metered.profile, body)
    assert first.status_code == 201, first.content
    assert first.json() | {} == {
        "idempotency_key": "one",
        "status": "accepted",
        "reason": None,
        "detail": None,
        "field": None,
        "plan_credits": "12.50",
        "overage_credits": "0.00",
        "remaining_credits": "987.50",
        "replayed": False,
    }
    again = post(metering_client, metered.profile, body)
    assert (again.status_code, again.json()["replayed"], again.json()["plan_credits"]) == (200, True, "12.50")
    assert UsageEvent.objects.count() == 1


def test_a_single_event_gets_402_403_and_409_as_the_contract_says(metering_client, metered):
    ann, cat = metered.users["ann"], metered.users["cat"]
    post(metering_client, metered.profile, event(ann, "1000"))
    over = post(metering_client, metered.profile, event(ann, "1"))
    assert (over.status_code, over.json()["reason"]) == (402, "allowance_exhausted")
    denied = post(metering_client, metered.profile, event(cat, "1"))
    assert (denied.status_code, denied.json()["reason"]) == (403, "not_subscribed")
    post(metering_client, metered.profile, event(ann, "1", key="k"))
    conflict = post(metering_client, metered.profile, event(ann, "2", key="k"))
    assert (conflict.status_code, conflict.json()["reason"]) == (409, "idempotency_conflict")


def test_users_may_be_named_by_user_name(metering_client, metered):
    response = post(metering_client, metered.profile, event("ANN", "3"))
    assert response.status_code == 201
    assert Balance.objects.get(subscription__user=metered.users["ann"]).plan_hundredths == 300


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"credits": 0}, "credits"),
        ({"credits": -1}, "credits"),
        ({"credits": "1.001"}, "credits"),
        ({"credits": "99999999999"}, "credits"),
        ({"idempotency_key": None}, "idempotency_key"),
        ({"idempotency_key": "x" * 129}, "idempotency_key"),
        ({"client_type": "EMACS"}, "client_type"),
        ({"occurred_at": "2026-11-15T12:00:00"}, "occurred_at"),
        ({"occurred_at": "2030-01-01T00:00:00Z"}, "occurred_at"),
        ({"user_id": "00000000-0000-0000-0000-000000000000"}, "user_id"),
    ],
)
def test_bad_single_events_are_422_naming_the_field_and_count_nothing(metering_client, metered, body, field):
    raw = event(metered.users["ann"], "1") | body
    response = post(metering_client, metered.profile, {k: v for k, v in raw.items() if v is not None})
    assert response.status_code == 422, response.content
    assert field in response.json()["detail"]
    assert UsageEvent.objects.count() == 0


def test_a_float_that_is_not_exact_is_refused_and_an_exact_one_accepted(metering_client, metered):
    ann = metered.users["ann"]
    text = '{"idempotency_key": "f1", "user_id": "%s", "credits": %s, "client_type": "KIRO_CLI", "model": "auto"}'
    assert post(metering_client, metered.profile, text % (ann.pk, "0.30000000000000004"), raw=True).status_code == 422
    accepted = post(metering_client, metered.profile, text % (ann.pk, "0.1"), raw=True)
    assert (accepted.status_code, accepted.json()["plan_credits"]) == (201, "0.10")


def test_a_user_of_another_directory_is_422(metering_client, metered):
    stranger = DirectoryUser.objects.create(
        identity_center=IdentityCenterFactory(),
        user_name="zed",
        display_name="Zed",
        given_name="Zed",
        family_name="Other",
        email="zed@example.com",
    )
    response = post(metering_client, metered.profile, event(stranger, "1"))
    assert response.status_code == 422
    assert "another directory" in response.json()["detail"]["user_id"][0]


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"text"', ""])
def test_malformed_bodies_are_422(metering_client, metered, body):
    response = post(metering_client, metered.profile, body, raw=True)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_a_batch_answers_each_event_in_order(metering_client, metered):
    ann, cat = metered.users["ann"], metered.users["cat"]
    body = {
        "events": [
            event(ann, "400"),
            event(ann, "700"),  # past the allowance: overage is off
            event(cat, "1"),  # not subscribed
            event(ann, "0"),  # bad input: only this event
            event(ann, "600"),
        ]
    }
    response = post(metering_client, metered.profile, body)
    assert response.status_code == 200
    data = response.json()
    assert (data["accepted"], data["rejected"]) == (2, 3)
    assert [(r["status"], r["reason"]) for r in data["results"]] == [
        ("accepted", None),
        ("rejected", "allowance_exhausted"),
        ("rejected", "not_subscribed"),
        ("rejected", "invalid"),
        ("accepted", None),
    ]
    assert data["results"][3]["field"] == "credits"
    assert data["results"][4]["remaining_credits"] == "0.00"
    assert UsageEvent.objects.count() == 4  # the invalid one is not kept


def test_a_batch_of_1001_is_refused_whole(metering_client, metered):
    body = {"events": [event(metered.users["ann"], "0.01") for _ in range(1001)]}
    response = post(metering_client, metered.profile, body)
    assert response.status_code == 422
    assert "at most 1,000" in response.json()["detail"]["events"][0]
    assert UsageEvent.objects.count() == 0


def test_only_metering_and_administrators_may_post(api_client_for, viewer_user, support_user, admin_api, metered):
    body = event(metered.users["ann"], "1")
    for user in (viewer_user, support_user):
        assert post(api_client_for(user), metered.profile, body).status_code == 403
    assert post(admin_api, metered.profile, body).status_code == 201
    assert post(admin_api, metered.profile, body).status_code == 200  # the replay


def test_an_unknown_profile_is_404(metering_client, metered):
    response = metering_client.post(
        "/api/v1/profiles/NOPE/usage-events", json.dumps(event("ann", "1")), content_type="application/json"
    )
    assert response.status_code == 404


def test_a_profile_deleted_after_this_process_saw_it_is_404_and_counts_nothing(metering_client, metered):
    """The API remembers live profiles (`metering_profile`) and reads their settings with the events: a deletion
    since is found there."""
    ann = metered.users["ann"]
    assert post(metering_client, metered.profile, event(ann, "1", key="before")).status_code == 201
    Profile.objects.filter(pk=metered.profile.pk).update(deleted_at=timezone.now())
    assert post(metering_client, metered.profile, event(ann, "1", key="after")).status_code == 404
    assert post(metering_client, metered.profile, {"events": [event(ann, "1", key="batch")]}).status_code == 404
    assert list(UsageEvent.objects.values_list("idempotency_key", flat=True)) == ["before"]
    assert Balance.objects.get(subscription__user=ann).plan_used == Decimal("1.00")


def test_the_entitlement_endpoint(metering_client, viewer_user, api_client_for, metered):
    ann = metered.users["ann"]
    profile_settings_update(profile=metered.profile, changes={"overage_enabled": True}, actor=ACTOR)
    post(metering_client, metered.profile, event(ann, "1000"))
    post(metering_client, metered.profile, event(ann, "5"))
    path = f"/api/v1/profiles/{metered.profile.profile_id}/entitlements/{ann.pk}"
    data = metering_client.get(path).json()
    assert {k: data[k] for k in ("entitled", "status", "tier", "allowance", "used", "overage_used", "remaining")} == {
        "entitled": True,
        "status": "ACTIVE",
        "tier": "PRO",
        "allowance": "1000.00",
        "used": "1005.00",
        "overage_used": "5.00",
        "remaining": "0.00",
    }
    assert set(data["settings"]) == {"mcp", "web_tools", "models", "user_api_keys", "code_references"}
    assert api_client_for(viewer_user).get(path).status_code == 200
    other = metered.other
    subscription_subscribe(profile=other, users=ann, tier="PRO", actor=ACTOR)
    assert (
        metering_client.get(f"/api/v1/profiles/{other.profile_id}/entitlements/{metered.users['cat'].pk}").json()[
            "reason"
        ]
        == "not_subscribed"
    )
    missing = metering_client.get(f"/api/v1/profiles/{metered.profile.profile_id}/entitlements/{other.pk}")
    assert missing.status_code in (404, 422)


def test_the_openapi_document_describes_the_metering_body(admin_api):
    document = admin_api.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/profiles/{profile_id}/usage-events"]["post"]
    assert "requestBody" in operation

"""Kiro profiles (DOMAIN.md §2): only in the four profile Regions, at most one per account and Region, an ARN in the
Region's partition, an Identity Center instance in the same partition. Each rule at the service level, then
through the API."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from kiroconsole.audit import Actor
from kiroconsole.errors import ConflictError
from kiroconsole.models import AuditEvent
from subscriptions import services
from subscriptions.models import Profile, ProfileSettings
from tests.assertions import nothing_written
from tests.factories import AwsAccountFactory, IdentityCenterFactory, ProfileFactory, identity_center_for, region

ACTOR = Actor.for_command("test")
ALLOWED_REGIONS_MESSAGE = "only in us-east-1, eu-central-1, us-gov-east-1 and us-gov-west-1."


def create(*, account=None, region_code="us-east-1", identity_center=None, name="Engineering", description=""):
    profile_region = region(region_code)
    return services.profile_create(
        account=account or AwsAccountFactory(),
        region=profile_region,
        identity_center=identity_center or identity_center_for(profile_region),
        name=name,
        description=description,
        actor=ACTOR,
    )


# --- Service ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["us-east-1", "eu-central-1", "us-gov-east-1", "us-gov-west-1"])
def test_a_profile_is_created_in_each_profile_region_with_its_settings_and_audited(db, code):
    profile = create(region_code=code, description="For the team")
    assert (profile.region_id, profile.name, profile.description) == (code, "Engineering", "For the team")
    settings = ProfileSettings.objects.get(profile=profile)
    assert settings.kms_key_arn == "" and settings.model_availability == "all"
    event = AuditEvent.objects.get(action="profile.create")
    assert event.target_id == str(profile.pk)
    assert event.after["arn"] == profile.arn
    assert event.after["name"] == "Engineering"


@pytest.mark.parametrize("code", ["us-west-2", "eu-west-1", "ap-northeast-1", "eu-central-2"])
def test_a_region_that_cannot_hold_profiles_is_refused_naming_the_allowed_regions(db, code):
    account = AwsAccountFactory()
    instance = identity_center_for(region("us-east-1"))
    with nothing_written(), pytest.raises(ValidationError) as exc:
        services.profile_create(account=account, region=region(code), identity_center=instance, name="X", actor=ACTOR)
    assert not isinstance(exc.value, ConflictError)
    assert exc.value.message_dict["region"] == [f"Kiro profiles can't be created in {code}: {ALLOWED_REGIONS_MESSAGE}"]


def test_a_second_profile_for_the_same_account_and_region_is_refused_naming_the_existing_one(db):
    existing = ProfileFactory(name="Engineering (US)")
    with nothing_written(), pytest.raises(ConflictError) as exc:
        create(account=existing.account, name="Another")
    assert exc.value.message_dict == {
        "region": [
            f"The account {existing.account.account_id} already has the Kiro profile “Engineering (US)” in "
            "us-east-1: there is at most one profile per account and Region."
        ]
    }
    (error,) = exc.value.error_dict["region"]
    assert error.code == "duplicate_profile"
    assert error.params["profile_id"] == existing.profile_id


def test_the_same_account_may_have_a_profile_in_each_region(db):
    account = AwsAccountFactory()
    create(account=account, region_code="us-east-1")
    create(account=account, region_code="eu-central-1")
    assert Profile.objects.filter(account=account).count() == 2


def test_after_deleting_a_profile_a_new_one_may_take_its_account_and_region(db):
    old = ProfileFactory(name="Old")
    services.profile_delete(profile=old, actor=ACTOR)
    new = create(account=old.account, name="New")
    assert new.profile_id != old.profile_id
    assert set(Profile.objects.filter(account=old.account).values_list("name", flat=True)) == {"Old", "New"}


def test_the_arn_names_the_region_the_account_and_the_profile_id(db):
    profile = create(account=AwsAccountFactory(account_id="123456789012"), region_code="eu-central-1")
    assert re.fullmatch(r"arn:aws:codewhisperer:eu-central-1:123456789012:profile/[A-Z0-9]{12}", profile.arn)
    assert profile.arn.endswith(f"/{profile.profile_id}")


def test_the_arn_is_in_the_aws_us_gov_partition_in_govcloud(db):
    profile = create(account=AwsAccountFactory(account_id="123456789012"), region_code="us-gov-east-1")
    assert re.fullmatch(r"arn:aws-us-gov:codewhisperer:us-gov-east-1:123456789012:profile/[A-Z0-9]{12}", profile.arn)


def test_a_govcloud_profile_needs_a_govcloud_identity_center_instance(db):
    commercial = IdentityCenterFactory(organization=True)
    account = AwsAccountFactory()
    with nothing_written(), pytest.raises(ValidationError) as exc:
        services.profile_create(
            account=account, region=region("us-gov-west-1"), identity_center=commercial, name="X", actor=ACTOR
        )
    assert exc.value.message_dict["identity_center"] == [
        "Acme workforce (d-9067a1b2c3) is in the AWS (commercial) partition; a profile in us-gov-west-1 needs an "
        "instance in the AWS GovCloud (US) partition."
    ]


def test_a_commercial_profile_cannot_use_a_govcloud_identity_center_instance(db):
    govcloud = IdentityCenterFactory(region=region("us-gov-west-1"))
    account = AwsAccountFactory()
    with nothing_written(), pytest.raises(ValidationError) as exc:
        services.profile_create(
            account=account, region=region("us-east-1"), identity_center=govcloud, name="X", actor=ACTOR
        )
    assert "needs an instance in the AWS (commercial) partition" in exc.value.message_dict["identity_center"][0]


def test_account_region_and_identity_center_are_required(db):
    with nothing_written(), pytest.raises(ValidationError) as exc:
        services.profile_create(account=None, region=None, identity_center=None, name="X", actor=ACTOR)
    assert set(exc.value.message_dict) == {"account", "region", "identity_center"}


@pytest.mark.parametrize("name", ["", "   "])
def test_a_profile_needs_a_name(db, name):
    account = AwsAccountFactory()
    identity_center_for(region("us-east-1"))
    with nothing_written(), pytest.raises(ValidationError) as exc:
        create(account=account, name=name)
    assert exc.value.message_dict == {"name": ["Enter a name."]}


def test_a_name_has_at_most_100_characters_and_a_description_at_most_500(db):
    account = AwsAccountFactory()
    identity_center_for(region("us-east-1"))
    with nothing_written(), pytest.raises(ValidationError) as exc:
        create(account=account, name="n" * 101, description="d" * 501)
    assert exc.value.message_dict == {
        "name": ["Use at most 100 characters (it has 101)."],
        "description": ["Use at most 500 characters (it has 501)."],
    }
    profile = create(account=account, name="n" * 100, description="d" * 500)
    assert (len(profile.name), len(profile.description)) == (100, 500)


def test_renaming_a_profile_and_changing_its_description_is_audited(db):
    profile = ProfileFactory(name="Old", description="old words")
    services.profile_update(profile=profile, name="New", description="new words", actor=ACTOR)
    profile.refresh_from_db()
    assert (profile.name, profile.description) == ("New", "new words")
    event = AuditEvent.objects.get(action="profile.update")
    assert (event.before["name"], event.after["name"]) == ("Old", "New")
    assert (event.before["description"], event.after["description"]) == ("old words", "new words")


def test_an_update_refuses_an_empty_or_long_name_and_writes_nothing(db):
    profile = ProfileFactory(name="Kept")
    with nothing_written(), pytest.raises(ValidationError) as exc:
        services.profile_update(profile=profile, name=" ", actor=ACTOR)
    assert exc.value.message_dict == {"name": ["Enter a name."]}
    with nothing_written(), pytest.raises(ValidationError):
        services.profile_update(profile=profile, description="d" * 501, actor=ACTOR)


def test_an_update_that_changes_nothing_is_not_audited(db):
    profile = ProfileFactory(name="Same", description="same")
    with nothing_written():
        services.profile_update(profile=profile, name="Same", description="same", actor=ACTOR)


def test_deleting_a_profile_keeps_the_row_and_its_settings_and_is_audited(db):
    profile = ProfileFactory(name="Going")
    services.profile_delete(profile=profile, actor=ACTOR)
    stored = Profile.objects.get(pk=profile.pk)
    assert stored.deleted_at is not None and stored.is_deleted
    assert ProfileSettings.objects.filter(profile=profile).exists()
    assert not Profile.objects.live().filter(pk=profile.pk).exists()
    event = AuditEvent.objects.get(action="profile.delete")
    assert event.before["name"] == "Going"
    # Deleting it again changes nothing and records nothing.
    with nothing_written():
        services.profile_delete(profile=stored, actor=ACTOR)


# --- API ----------------------------------------------------------------------------------------------------


def post(client, **overrides):
    payload = {
        "account_id": "222222222222",
        "region": "us-east-1",
        "identity_store_id": "d-9067a1b2c3",
        "name": "Engineering (US)",
        "description": "The product teams",
    } | overrides
    return client.post("/api/v1/profiles", payload, content_type="application/json")


@pytest.fixture
def organization(db):
    """The management account with the organization instance, and one member account."""
    instance = IdentityCenterFactory(organization=True)
    AwsAccountFactory(account_id="222222222222", name="Engineering")
    return instance


def test_api_creates_a_profile_and_returns_its_id_and_arn(admin_api, organization):
    response = post(admin_api)
    assert response.status_code == 201
    body = response.json()
    profile = Profile.objects.get()
    assert body["id"] == profile.profile_id
    assert body["arn"] == f"arn:aws:codewhisperer:us-east-1:222222222222:profile/{profile.profile_id}"
    assert {k: body[k] for k in ("account_id", "region", "identity_store_id", "name", "description")} == {
        "account_id": "222222222222",
        "region": "us-east-1",
        "identity_store_id": "d-9067a1b2c3",
        "name": "Engineering (US)",
        "description": "The product teams",
    }
    assert AuditEvent.objects.filter(action="profile.create", source="api").count() == 1
    assert admin_api.get(f"/api/v1/profiles/{body['id']}").json() == body


def test_api_creates_a_govcloud_profile_with_an_aws_us_gov_arn(admin_api, organization):
    IdentityCenterFactory(identity_store_id="d-00000000aa", region=region("us-gov-west-1"))
    response = post(admin_api, region="us-gov-west-1", identity_store_id="d-00000000aa")
    assert response.status_code == 201
    assert response.json()["arn"].startswith("arn:aws-us-gov:codewhisperer:us-gov-west-1:222222222222:profile/")


def test_api_refuses_a_region_without_profiles_with_422_naming_the_allowed_regions(admin_api, organization):
    with nothing_written():
        response = post(admin_api, region="us-west-2")
    assert response.status_code == 422
    assert response.json() == {
        "detail": {"region": [f"Kiro profiles can't be created in us-west-2: {ALLOWED_REGIONS_MESSAGE}"]}
    }


def test_api_answers_409_naming_the_existing_profile_for_a_second_one_in_an_account_and_region(admin_api, organization):
    assert post(admin_api).status_code == 201
    with nothing_written():
        response = post(admin_api, name="Another")
    assert response.status_code == 409
    assert response.json() == {
        "detail": {
            "region": [
                "The account 222222222222 already has the Kiro profile “Engineering (US)” in us-east-1: there is at "
                "most one profile per account and Region."
            ]
        }
    }


def test_api_refuses_a_partition_mismatch_with_422(admin_api, organization):
    with nothing_written():
        response = post(admin_api, region="us-gov-east-1")
    assert response.status_code == 422
    assert "needs an instance in the AWS GovCloud (US) partition" in response.json()["detail"]["identity_center"][0]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": "  "}, "name", "Enter a name."),
        ({"name": "n" * 101}, "name", "Use at most 100 characters (it has 101)."),
        ({"description": "d" * 501}, "description", "Use at most 500 characters (it has 501)."),
        ({"identity_store_id": "d-00000000ff"}, "identity_store_id", "No Identity Center instance 'd-00000000ff'."),
        ({"account_id": "999999999999"}, "account_id", "No AWS account '999999999999' is registered."),
        ({"region": "xx-nowhere-1"}, "region", "Unknown Region 'xx-nowhere-1'."),
    ],
)
def test_api_refuses_bad_profile_input_with_422_at_the_field(admin_api, organization, overrides, field, message):
    with nothing_written():
        response = post(admin_api, **overrides)
    assert response.status_code == 422
    assert response.json()["detail"][field] == [message]


def test_api_updates_the_name_and_description_and_audits_it(admin_api, organization):
    profile = ProfileFactory(name="Old", description="old words")
    response = admin_api.patch(
        f"/api/v1/profiles/{profile.profile_id}", {"description": "new words"}, content_type="application/json"
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["description"]) == ("Old", "new words")
    event = AuditEvent.objects.get(action="profile.update")
    assert (event.before["description"], event.after["description"], event.source) == ("old words", "new words", "api")


def test_api_refuses_an_empty_name_on_update_with_422(admin_api, organization):
    profile = ProfileFactory(name="Kept")
    with nothing_written():
        response = admin_api.patch(
            f"/api/v1/profiles/{profile.profile_id}", {"name": ""}, content_type="application/json"
        )
    assert response.status_code == 422
    assert response.json() == {"detail": {"name": ["Enter a name."]}}


def test_api_deletes_a_profile_which_then_answers_404_but_keeps_its_row(admin_api, organization):
    profile = ProfileFactory(name="Going")
    kept = ProfileFactory(name="Staying")
    response = admin_api.delete(f"/api/v1/profiles/{profile.profile_id}")
    assert response.status_code == 204
    assert Profile.objects.get(pk=profile.pk).deleted_at is not None
    assert AuditEvent.objects.filter(action="profile.delete", source="api").count() == 1
    for method, path in [
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("get", "/settings"),
        ("patch", "/settings"),
    ]:
        response = getattr(admin_api, method)(
            f"/api/v1/profiles/{profile.profile_id}{path}", {}, content_type="application/json"
        )
        assert response.status_code == 404, (method, path)
        assert "detail" in response.json()
    assert [p["id"] for p in admin_api.get("/api/v1/profiles").json()] == [kept.profile_id]


# --- Deleting a profile whose subscriptions still grant access ------------------------------------------------


def test_a_profile_cannot_be_deleted_while_a_subscription_grants_access(org, clock, admin_api, admin_client):
    actor = Actor.for_command("test")
    services.group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=actor)  # bob, cat
    services.subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=actor)
    services.subscription_unsubscribe(profile=org.profile, users=org.users["ann"], actor=actor)
    message = (
        "The profile “Production” can't be deleted while 3 subscriptions still grant access (2 subscribed, 1 "
        "canceled with access until 2026-12-01 00:00 UTC). Unsubscribe its users and unassign its groups; once the "
        "access of the last canceled subscription has ended (on the 1st of next month), the profile can be deleted."
    )
    with nothing_written():
        with pytest.raises(ValidationError) as error:
            services.profile_delete(profile=org.profile, actor=actor)
        assert error.value.messages == [message]
        response = admin_api.delete(f"/api/v1/profiles/{org.profile.profile_id}")
        assert (response.status_code, response.json()) == (422, {"detail": [message]})
        admin_client.post(f"/admin/subscriptions/profile/{org.profile.pk}/delete/", {"post": "yes"})

    services.subscription_unsubscribe(profile=org.profile, users=[org.users["bob"], org.users["cat"]], actor=actor)
    with pytest.raises(ValidationError, match=r"while 3 subscriptions still grant access \(3 canceled with access"):
        services.profile_delete(profile=org.profile, actor=actor)
    clock.set(2026, 12, 1)  # their access has ended
    assert services.profile_delete(profile=org.profile, actor=actor).deleted_at == clock.now


def test_a_profile_with_one_subscription_names_it_in_the_singular(org):
    actor = Actor.for_command("test")
    services.subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=actor)
    with pytest.raises(ValidationError, match=r"while 1 subscription still grants access \(1 subscribed\)\."):
        services.profile_delete(profile=org.profile, actor=actor)
    # Another profile of the same directory, without subscriptions, may go.
    assert services.profile_delete(profile=org.other, actor=actor).deleted_at is not None

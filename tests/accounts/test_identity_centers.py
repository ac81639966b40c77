"""IAM Identity Center instances (DOMAIN.md §2): an identity store id `d-` + 10 lowercase hex digits, a home Region
that allows Identity Center, one instance per account, one organization instance, in the management account."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts import services
from accounts.models import IdentityCenterInstance
from kiroconsole.audit import Actor
from kiroconsole.errors import ConflictError
from kiroconsole.models import AuditEvent
from tests.assertions import nothing_written
from tests.factories import AwsAccountFactory, IdentityCenterFactory, region

ACTOR = Actor.for_command("test")
BAD_STORE_IDS = ["d-9067A1B2C3", "d-9067a1b2c", "d-9067a1b2c3d", "d-9067a1b2cg", "9067a1b2c3", "x-9067a1b2c3", ""]


def create(identity_store_id="d-9067a1b2c3", region_code="us-east-1", account=None, kind="organization", name="Acme"):
    return services.identity_center_create(
        identity_store_id=identity_store_id,
        name=name,
        region=region(region_code),
        account=account or AwsAccountFactory(management=True),
        kind=kind,
        actor=ACTOR,
    )


def test_the_organization_instance_is_registered_in_the_management_account_and_audited(db):
    instance = create()
    assert (instance.identity_store_id, instance.region_id, instance.kind) == (
        "d-9067a1b2c3",
        "us-east-1",
        "organization",
    )
    assert instance.arn.startswith("arn:aws:sso:::instance/ssoins-")
    event = AuditEvent.objects.get(action="identity_center.create")
    assert event.after["identity_store_id"] == "d-9067a1b2c3"


@pytest.mark.parametrize("identity_store_id", BAD_STORE_IDS)
def test_an_identity_store_id_is_d_dash_and_10_lowercase_hex_digits(db, identity_store_id):
    account = AwsAccountFactory(management=True)
    with nothing_written(), pytest.raises(ValidationError) as exc:
        create(identity_store_id=identity_store_id, account=account)
    assert exc.value.message_dict["identity_store_id"] == [
        "An identity store id is 'd-' and 10 lowercase hex digits, like d-9067a1b2c3."
    ]


@pytest.mark.parametrize("code", ["ca-west-1", "eu-south-2", "ap-east-1"])
def test_an_opt_in_region_cannot_be_the_home_region(db, code):
    account = AwsAccountFactory(management=True)
    with nothing_written(), pytest.raises(ValidationError) as exc:
        create(region_code=code, account=account)
    assert exc.value.message_dict["region"] == [
        f"IAM Identity Center can't be enabled in {code}: choose a commercial Region that is not opt-in, "
        "or a GovCloud Region."
    ]


@pytest.mark.parametrize("code", ["us-west-2", "eu-west-1", "ap-northeast-1", "us-gov-west-1"])
def test_a_commercial_region_that_is_not_opt_in_or_a_govcloud_region_can_be_the_home_region(db, code):
    instance = create(region_code=code)
    assert instance.region_id == code
    if code.startswith("us-gov-"):
        assert instance.arn.startswith("arn:aws-us-gov:sso:::instance/")


def test_an_organization_instance_lives_in_the_management_account(db):
    AwsAccountFactory(management=True)
    member = AwsAccountFactory()
    with nothing_written(), pytest.raises(ValidationError) as exc:
        create(account=member, kind="organization")
    assert exc.value.message_dict["kind"] == ["An organization instance lives in the management account."]


def test_an_account_instance_may_live_in_a_member_account(db):
    instance = create(account=AwsAccountFactory(), kind="account")
    assert instance.kind == "account"


def test_an_account_has_at_most_one_instance(db):
    first = IdentityCenterFactory(name="First")
    with nothing_written(), pytest.raises(ConflictError) as exc:
        create(identity_store_id="d-00000000ff", account=first.account, kind="account")
    assert exc.value.message_dict["account"] == [
        f"Account {first.account.account_id} already has the instance “First”."
    ]


def test_the_organization_has_at_most_one_organization_instance(db):
    create(name="Acme workforce")
    with nothing_written(), pytest.raises(ConflictError):
        create(identity_store_id="d-00000000ff", name="Second")
    # The database holds the rule too, whatever the account: a second organization instance can't be stored.
    member = AwsAccountFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        IdentityCenterInstance.objects.create(
            identity_store_id="d-00000000ee",
            name="Rogue",
            region=region("us-east-1"),
            account=member,
            kind="organization",
        )


def test_an_identity_store_id_registered_twice_is_a_conflict(db):
    IdentityCenterFactory(identity_store_id="d-00000000aa")
    member = AwsAccountFactory()
    with nothing_written(), pytest.raises(ConflictError) as exc:
        create(identity_store_id="d-00000000aa", account=member, kind="account")
    assert exc.value.message_dict == {"identity_store_id": ["d-00000000aa is already registered."]}


# --- API ----------------------------------------------------------------------------------------------------


def post(client, **overrides):
    payload = {
        "identity_store_id": "d-9067a1b2c3",
        "name": "Acme workforce",
        "region": "us-east-1",
        "account_id": "111111111111",
        "kind": "organization",
    } | overrides
    return client.post("/api/v1/identity-centers", payload, content_type="application/json")


def test_api_registers_an_identity_center_instance(admin_api):
    AwsAccountFactory(management=True)
    response = post(admin_api)
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("identity_store_id", "name", "region", "account_id", "kind")} == {
        "identity_store_id": "d-9067a1b2c3",
        "name": "Acme workforce",
        "region": "us-east-1",
        "account_id": "111111111111",
        "kind": "organization",
    }
    assert admin_api.get("/api/v1/identity-centers").json()[0]["identity_store_id"] == "d-9067a1b2c3"
    assert AuditEvent.objects.filter(action="identity_center.create", source="api").count() == 1


@pytest.mark.parametrize("identity_store_id", BAD_STORE_IDS)
def test_api_refuses_a_malformed_identity_store_id_with_422(admin_api, identity_store_id):
    AwsAccountFactory(management=True)
    with nothing_written():
        response = post(admin_api, identity_store_id=identity_store_id)
    assert response.status_code == 422
    assert "identity_store_id" in response.json()["detail"]


def test_api_refuses_an_opt_in_home_region_with_422_and_the_reason(admin_api):
    AwsAccountFactory(management=True)
    with nothing_written():
        response = post(admin_api, region="eu-central-2")
    assert response.status_code == 422
    assert response.json()["detail"]["region"][0].startswith("IAM Identity Center can't be enabled in eu-central-2")


def test_api_refuses_an_organization_instance_in_a_member_account_with_422(admin_api):
    AwsAccountFactory(management=True)
    AwsAccountFactory(account_id="222222222222")
    with nothing_written():
        response = post(admin_api, account_id="222222222222")
    assert response.status_code == 422
    assert response.json() == {"detail": {"kind": ["An organization instance lives in the management account."]}}


def test_api_answers_409_for_a_second_instance_in_an_account(admin_api):
    instance = IdentityCenterFactory(name="First")
    with nothing_written():
        response = post(
            admin_api, identity_store_id="d-00000000ff", account_id=instance.account.account_id, kind="account"
        )
    assert response.status_code == 409
    assert response.json() == {
        "detail": {"account": [f"Account {instance.account.account_id} already has the instance “First”."]}
    }


def test_api_answers_409_for_a_second_organization_instance(admin_api):
    IdentityCenterFactory(organization=True)
    with nothing_written():
        response = post(admin_api, identity_store_id="d-00000000ff")
    assert response.status_code == 409


def test_api_refuses_an_unknown_region_or_account_with_422(admin_api):
    AwsAccountFactory(management=True)
    with nothing_written():
        assert post(admin_api, region="xx-nowhere-1").json() == {
            "detail": {"region": ["Unknown Region 'xx-nowhere-1'."]}
        }
        response = post(admin_api, account_id="999999999999")
    assert response.status_code == 422
    assert response.json() == {"detail": {"account_id": ["No AWS account '999999999999' is registered."]}}

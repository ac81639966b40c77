"""AWS accounts (DOMAIN.md §2): a 12-digit id, exactly one management account, and no deletion of an account that
still holds something. Each rule at the service level, then through the API."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts import services
from accounts.models import AwsAccount
from kiroconsole.audit import Actor
from kiroconsole.errors import ConflictError
from kiroconsole.models import AuditEvent
from subscriptions.services import profile_delete
from tests.assertions import nothing_written
from tests.factories import AwsAccountFactory, IdentityCenterFactory, ProfileFactory

ACTOR = Actor.for_command("test")
BAD_ACCOUNT_IDS = ["12345678901", "12345678901a", "1234 5678 9012", "1234567890123", "abcdefghijkl", ""]


def create(account_id="123456789012", name="Engineering", kind="member"):
    return services.aws_account_create(account_id=account_id, name=name, kind=kind, actor=ACTOR)


# --- Service ------------------------------------------------------------------------------------------------


def test_an_account_is_created_with_its_12_digit_id_and_audited(db):
    account = create(account_id=" 123456789012 ", name="  Engineering ")
    assert (account.account_id, account.name, account.kind) == ("123456789012", "Engineering", "member")
    event = AuditEvent.objects.get(action="aws_account.create")
    assert event.target_id == str(account.pk)
    assert event.after["account_id"] == "123456789012"
    assert event.source == "command"


@pytest.mark.parametrize("account_id", BAD_ACCOUNT_IDS)
def test_an_account_id_that_is_not_12_digits_is_refused(db, account_id):
    with nothing_written(), pytest.raises(ValidationError) as exc:
        create(account_id=account_id)
    assert not isinstance(exc.value, ConflictError)
    assert exc.value.message_dict["account_id"] == ["An AWS account id is exactly 12 digits, like 123456789012."]


def test_an_account_needs_a_name_of_at_most_100_characters(db):
    with pytest.raises(ValidationError) as exc:
        create(name="   ")
    assert exc.value.message_dict["name"] == ["Enter a name."]
    with pytest.raises(ValidationError) as exc:
        create(name="x" * 101)
    assert exc.value.message_dict["name"] == ["Use at most 100 characters (it has 101)."]
    assert create(name="x" * 100).name == "x" * 100


def test_an_account_id_registered_twice_is_a_conflict(db):
    create()
    with nothing_written(), pytest.raises(ConflictError) as exc:
        create(name="Again")
    assert exc.value.message_dict == {"account_id": ["Account 123456789012 is already registered."]}


def test_a_second_management_account_is_a_conflict_naming_the_first(db):
    AwsAccountFactory(management=True)
    with nothing_written(), pytest.raises(ConflictError) as exc:
        create(kind="management")
    assert exc.value.message_dict == {
        "kind": ["Acme (management) (111111111111) is the management account: an organization has exactly one."]
    }


def test_a_member_cannot_be_promoted_while_there_is_a_management_account(db):
    AwsAccountFactory(management=True)
    member = AwsAccountFactory()
    with nothing_written(), pytest.raises(ConflictError) as exc:
        services.aws_account_update(account=member, kind="management", actor=ACTOR)
    assert "Acme (management) (111111111111) is the management account" in exc.value.message_dict["kind"][0]


def test_the_management_account_cannot_be_demoted(db):
    management = AwsAccountFactory(management=True)
    with nothing_written(), pytest.raises(ValidationError) as exc:
        services.aws_account_update(account=management, kind="member", actor=ACTOR)
    assert not isinstance(exc.value, ConflictError)
    assert "stays the management account" in exc.value.message_dict["kind"][0]
    management.refresh_from_db()
    assert management.is_management


def test_renaming_an_account_is_audited_with_before_and_after(db):
    account = AwsAccountFactory(name="Old name")
    services.aws_account_update(account=account, name="New name", actor=ACTOR)
    account.refresh_from_db()
    assert account.name == "New name"
    event = AuditEvent.objects.get(action="aws_account.update")
    assert (event.before["name"], event.after["name"]) == ("Old name", "New name")
    assert event.before["account_id"] == event.after["account_id"] == account.account_id


def test_an_update_that_changes_nothing_is_not_audited(db):
    account = AwsAccountFactory(name="Same")
    with nothing_written():
        services.aws_account_update(account=account, name="Same", kind="member", actor=ACTOR)


def test_an_account_holding_a_profile_cannot_be_deleted_and_the_refusal_names_the_profile(db):
    profile = ProfileFactory(name="Engineering (US)")
    with nothing_written(), pytest.raises(ValidationError) as exc:
        services.aws_account_delete(account=profile.account, actor=ACTOR)
    assert exc.value.messages == [
        f"Account {profile.account.account_id} can't be deleted: it holds the Kiro profile “Engineering (US)”."
    ]


def test_an_account_holding_a_deleted_profile_cannot_be_deleted_because_its_history_is_kept(db):
    profile = ProfileFactory(name="Old team")
    profile_delete(profile=profile, actor=ACTOR)
    with nothing_written(), pytest.raises(ValidationError) as exc:
        services.aws_account_delete(account=profile.account, actor=ACTOR)
    message = exc.value.messages[0]
    assert "the Kiro profile “Old team” (deleted; its history is kept)" in message


def test_an_account_owning_an_identity_center_instance_cannot_be_deleted(db):
    instance = IdentityCenterFactory(name="Team directory")
    with nothing_written(), pytest.raises(ValidationError) as exc:
        services.aws_account_delete(account=instance.account, actor=ACTOR)
    assert "the Identity Center instance “Team directory" in exc.value.messages[0]


def test_an_empty_member_account_is_deleted_and_audited(db):
    account = AwsAccountFactory(name="Sandbox")
    pk = account.pk
    services.aws_account_delete(account=account, actor=ACTOR)
    assert not AwsAccount.objects.filter(pk=pk).exists()
    event = AuditEvent.objects.get(action="aws_account.delete")
    assert event.target_id == str(pk)
    assert event.before["name"] == "Sandbox"
    assert event.after is None


def test_the_management_account_is_deleted_only_after_every_member(db):
    management = AwsAccountFactory(management=True)
    member = AwsAccountFactory()
    with nothing_written(), pytest.raises(ValidationError):
        services.aws_account_delete(account=management, actor=ACTOR)
    services.aws_account_delete(account=member, actor=ACTOR)
    services.aws_account_delete(account=management, actor=ACTOR)
    assert not AwsAccount.objects.exists()


# --- API ----------------------------------------------------------------------------------------------------


def test_api_registers_an_account(admin_api):
    response = admin_api.post(
        "/api/v1/accounts", {"account_id": "123456789012", "name": "Engineering"}, content_type="application/json"
    )
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("account_id", "name", "kind")} == {
        "account_id": "123456789012",
        "name": "Engineering",
        "kind": "member",
    }
    event = AuditEvent.objects.get(action="aws_account.create")
    assert event.source == "api"
    assert admin_api.get("/api/v1/accounts/123456789012").json()["name"] == "Engineering"


@pytest.mark.parametrize("account_id", BAD_ACCOUNT_IDS)
def test_api_refuses_an_account_id_that_is_not_12_digits_with_422(admin_api, account_id):
    with nothing_written():
        response = admin_api.post(
            "/api/v1/accounts", {"account_id": account_id, "name": "X"}, content_type="application/json"
        )
    assert response.status_code == 422
    assert response.json() == {"detail": {"account_id": ["An AWS account id is exactly 12 digits, like 123456789012."]}}


def test_api_answers_409_for_an_account_id_registered_twice(admin_api):
    AwsAccountFactory(account_id="123456789012")
    with nothing_written():
        response = admin_api.post(
            "/api/v1/accounts", {"account_id": "123456789012", "name": "X"}, content_type="application/json"
        )
    assert response.status_code == 409
    assert response.json() == {"detail": {"account_id": ["Account 123456789012 is already registered."]}}


def test_api_answers_409_for_a_second_management_account_naming_the_first(admin_api):
    AwsAccountFactory(management=True)
    with nothing_written():
        response = admin_api.post(
            "/api/v1/accounts",
            {"account_id": "999999999999", "name": "Other", "kind": "management"},
            content_type="application/json",
        )
    assert response.status_code == 409
    assert response.json()["detail"]["kind"] == [
        "Acme (management) (111111111111) is the management account: an organization has exactly one."
    ]


def test_api_refuses_to_demote_the_management_account_with_422(admin_api):
    AwsAccountFactory(management=True)
    with nothing_written():
        response = admin_api.patch("/api/v1/accounts/111111111111", {"kind": "member"}, content_type="application/json")
    assert response.status_code == 422
    assert "stays the management account" in response.json()["detail"]["kind"][0]


def test_api_renames_an_account_and_audits_it(admin_api):
    AwsAccountFactory(account_id="123456789012", name="Old name")
    response = admin_api.patch("/api/v1/accounts/123456789012", {"name": "New name"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json()["name"] == "New name"
    assert response.json()["kind"] == "member"
    event = AuditEvent.objects.get(action="aws_account.update")
    assert (event.before["name"], event.after["name"], event.source) == ("Old name", "New name", "api")


def test_api_refuses_to_delete_an_account_holding_a_profile_with_422_naming_it(admin_api):
    profile = ProfileFactory(name="Engineering (US)")
    with nothing_written():
        response = admin_api.delete(f"/api/v1/accounts/{profile.account.account_id}")
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            f"Account {profile.account.account_id} can't be deleted: it holds the Kiro profile “Engineering (US)”."
        ]
    }


def test_api_refuses_to_delete_an_account_holding_a_deleted_profile_saying_its_history_is_kept(admin_api):
    profile = ProfileFactory(name="Old team")
    profile_delete(profile=profile, actor=ACTOR)
    with nothing_written():
        response = admin_api.delete(f"/api/v1/accounts/{profile.account.account_id}")
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            f"Account {profile.account.account_id} can't be deleted: it holds the Kiro profile “Old team” "
            "(deleted; its history is kept)."
        ]
    }


def test_api_deletes_an_empty_member_account(admin_api):
    AwsAccountFactory(account_id="123456789012")
    response = admin_api.delete("/api/v1/accounts/123456789012")
    assert response.status_code == 204
    assert admin_api.get("/api/v1/accounts/123456789012").status_code == 404
    assert AuditEvent.objects.filter(action="aws_account.delete", source="api").count() == 1


def test_api_lists_accounts(api_client_for, viewer_user):
    AwsAccountFactory(management=True)
    AwsAccountFactory(account_id="222222222222", name="Engineering")
    body = api_client_for(viewer_user).get("/api/v1/accounts").json()
    assert [(a["account_id"], a["kind"]) for a in body] == [
        ("111111111111", "management"),
        ("222222222222", "member"),
    ]

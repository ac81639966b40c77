"""Profile settings (DOMAIN.md §6), through `profile_settings_update` and `PATCH /api/v1/profiles/{id}/settings`:
validated as a whole (a bad value anywhere changes nothing), each change audited once with only what changed."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from kiroconsole.audit import Actor
from kiroconsole.models import AuditEvent
from subscriptions import services
from subscriptions.models import ProfileSettings
from tests.assertions import nothing_written
from tests.factories import AwsAccountFactory, IdentityCenterFactory, ProfileFactory

ACTOR = Actor.for_command("test")
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
DEFAULTS = {
    "kms_key_arn": "",
    "code_references": False,
    "usage_dashboard": True,
    "user_activity_report": False,
    "report_bucket": "",
    "report_prefix": "",
    "prompt_logging": False,
    "prompt_bucket": "",
    "prompt_prefix": "",
    "member_account_subscriptions": False,
    "mcp_enabled": True,
    "mcp_registry_url": "",
    "web_tools": True,
    "overage_enabled": False,
    "overage_shared_cap": None,
    "model_availability": "all",
    "approved_models": [],
    "default_model": None,
    "user_api_keys": False,
}
EVERY_SETTING_CHANGED = {
    "kms_key_arn": f"arn:aws:kms:us-east-1:111122223333:key/{KEY}",
    "code_references": True,
    "usage_dashboard": False,
    "user_activity_report": True,
    "report_bucket": "acme-kiro-reports",
    "report_prefix": "engineering/us/",
    "prompt_logging": True,
    "prompt_bucket": "acme.prompt-logs",
    "prompt_prefix": "kiro/prompts/",
    "member_account_subscriptions": True,
    "mcp_enabled": False,
    "mcp_registry_url": "https://mcp.acme.example/registry.json",
    "web_tools": False,
    "overage_enabled": True,
    "overage_shared_cap": "2500.50",
    "model_availability": "approved",
    "approved_models": ["auto", "claude-haiku-4.5", "claude-sonnet-4.5"],
    "default_model": "claude-sonnet-4.5",
    "user_api_keys": True,
}


@pytest.fixture
def profile(db):
    """A profile in a member account, in us-east-1."""
    return ProfileFactory(name="Engineering (US)")


@pytest.fixture
def management_profile(db):
    management = AwsAccountFactory(management=True)
    IdentityCenterFactory(organization=True)
    return ProfileFactory(account=management, name="Management (US)")


@pytest.fixture
def govcloud_profile(db):
    return ProfileFactory(region="us-gov-west-1", name="GovCloud")


def current(profile) -> dict:
    return services.settings_snapshot(ProfileSettings.objects.get(profile=profile))


def update(profile, **changes):
    return services.profile_settings_update(profile=profile, changes=changes, actor=ACTOR)


def refused(profile, **changes) -> dict:
    """Apply `changes`, expect a refusal that writes nothing, and return its messages by field."""
    with nothing_written(), pytest.raises(ValidationError) as exc:
        update(profile, **changes)
    return exc.value.message_dict


# --- Defaults, round trip and audit ---------------------------------------------------------------------------


def test_a_new_profile_has_the_documented_defaults(profile):
    assert current(profile) == DEFAULTS


def test_every_setting_round_trips_through_the_service(management_profile):
    update(management_profile, **EVERY_SETTING_CHANGED)
    assert current(management_profile) == EVERY_SETTING_CHANGED


def test_a_change_is_audited_once_with_only_the_changed_settings(profile):
    update(profile, web_tools=False, mcp_enabled=True, overage_enabled=True)
    event = AuditEvent.objects.get(action="profile.settings.update")
    assert event.before == {"web_tools": True, "overage_enabled": False}
    assert event.after == {"web_tools": False, "overage_enabled": True}
    assert event.target_id == str(profile.pk)
    assert (event.source, event.actor_label) == ("command", "manage.py test")


def test_a_change_of_approved_models_is_audited_with_their_codes(profile):
    update(profile, model_availability="approved", approved_models=["claude-sonnet-4.5", "auto"], default_model="auto")
    event = AuditEvent.objects.get(action="profile.settings.update")
    assert event.before == {"model_availability": "all", "approved_models": [], "default_model": None}
    assert event.after == {
        "model_availability": "approved",
        "approved_models": ["auto", "claude-sonnet-4.5"],
        "default_model": "auto",
    }


def test_a_change_that_changes_nothing_records_nothing(profile):
    update(profile, web_tools=False)
    with nothing_written():
        update(profile, web_tools=False, mcp_enabled=True, kms_key_arn="", approved_models=[])


def test_text_settings_are_trimmed_and_none_clears_them(profile):
    update(profile, kms_key_arn=f"  arn:aws:kms:us-east-1:111122223333:key/{KEY} ")
    assert current(profile)["kms_key_arn"] == f"arn:aws:kms:us-east-1:111122223333:key/{KEY}"
    update(profile, kms_key_arn=None)
    assert current(profile)["kms_key_arn"] == ""


def test_an_unknown_setting_is_refused(profile):
    assert refused(profile, web_tools=False, no_such_setting=True) == {"no_such_setting": ["There is no such setting."]}


def test_a_setting_of_the_wrong_type_is_refused(profile):
    assert refused(profile, web_tools="yes") == {"web_tools": ["Use true or false."]}
    assert refused(profile, approved_models="auto") == {"approved_models": ["Use a list of model ids."]}


def test_a_bad_value_anywhere_changes_nothing(profile):
    messages = refused(
        profile,
        web_tools=False,
        overage_enabled=True,
        mcp_registry_url="https://mcp.acme.example/registry.json",
        report_bucket="Bad_Bucket",
    )
    assert set(messages) == {"report_bucket"}
    assert current(profile) == DEFAULTS


# --- Encryption key ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:kms:us-east-1:111122223333:key/{KEY}",
        "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
    ],
)
def test_a_customer_managed_key_in_the_profiles_region_is_accepted(profile, arn):
    update(profile, kms_key_arn=arn)
    assert current(profile)["kms_key_arn"] == arn


@pytest.mark.parametrize(
    "arn",
    [
        "not an arn",
        "arn:aws:kms:us-east-1:111122223333:alias/kiro",
        f"arn:aws:kms:us-east-1:11112222333:key/{KEY}",
        f"arn:aws:s3:us-east-1:111122223333:key/{KEY}",
        f"arn:aws:kms:us-east-1:111122223333:key/{KEY.upper()}",
    ],
)
def test_a_kms_key_arn_must_be_a_key_arn(profile, arn):
    assert refused(profile, kms_key_arn=arn)["kms_key_arn"][0].startswith("Enter a KMS key ARN like arn:aws:kms:")


def test_a_key_in_another_region_is_refused(profile):
    assert refused(profile, kms_key_arn=f"arn:aws:kms:eu-central-1:111122223333:key/{KEY}") == {
        "kms_key_arn": ["The key must be in the profile's Region (us-east-1); this one is in eu-central-1."]
    }


def test_a_govcloud_profile_needs_a_key_in_the_aws_us_gov_partition(govcloud_profile):
    assert refused(govcloud_profile, kms_key_arn=f"arn:aws:kms:us-gov-west-1:111122223333:key/{KEY}") == {
        "kms_key_arn": ["The key's partition must be aws-us-gov."]
    }
    update(govcloud_profile, kms_key_arn=f"arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/{KEY}")
    assert current(govcloud_profile)["kms_key_arn"].startswith("arn:aws-us-gov:kms:us-gov-west-1:")


def test_a_commercial_profile_refuses_a_key_in_the_govcloud_partition(profile):
    assert refused(profile, kms_key_arn=f"arn:aws-us-gov:kms:us-east-1:111122223333:key/{KEY}") == {
        "kms_key_arn": ["The key's partition must be aws."]
    }


# --- S3 buckets and prefixes -----------------------------------------------------------------------------------

BAD_BUCKETS = {
    "ab": "A bucket name has 3 to 63 characters.",
    "a" * 64: "A bucket name has 3 to 63 characters.",
    "Acme-Reports": "A bucket name uses lower-case letters",
    "acme_reports": "A bucket name uses lower-case letters",
    "-acme-reports": "A bucket name uses lower-case letters",
    "acme-reports.": "A bucket name uses lower-case letters",
    "192.168.5.4": "A bucket name can't look like an IP address.",
    "acme..reports": "A bucket name can't contain two adjacent dots.",
    "xn--acme-reports": "A bucket name can't begin with xn--",
    "acme-reports-s3alias": "A bucket name can't end with -s3alias",
}


@pytest.mark.parametrize("bucket", list(BAD_BUCKETS), ids=lambda b: b[:20])
@pytest.mark.parametrize(
    ("switch", "bucket_field", "prefix_field"),
    [("user_activity_report", "report_bucket", "report_prefix"), ("prompt_logging", "prompt_bucket", "prompt_prefix")],
)
def test_s3_bucket_names_follow_the_s3_naming_rules(profile, switch, bucket_field, prefix_field, bucket):
    messages = refused(profile, **{switch: True, bucket_field: bucket, prefix_field: "kiro/"})
    assert list(messages) == [bucket_field]
    assert messages[bucket_field][0].startswith(BAD_BUCKETS[bucket])


@pytest.mark.parametrize("bucket", ["abc", "a" * 63, "acme.reports-2024", "123acme"])
def test_valid_bucket_names_are_accepted(profile, bucket):
    update(profile, user_activity_report=True, report_bucket=bucket, report_prefix="kiro/")
    assert current(profile)["report_bucket"] == bucket


@pytest.mark.parametrize(
    ("switch", "bucket_field", "prefix_field"),
    [("user_activity_report", "report_bucket", "report_prefix"), ("prompt_logging", "prompt_bucket", "prompt_prefix")],
)
@pytest.mark.parametrize("prefix", ["", "/", "///"])
def test_a_report_or_log_needs_a_prefix_not_the_bucket_root(profile, switch, bucket_field, prefix_field, prefix):
    assert refused(profile, **{switch: True, bucket_field: "acme-logs", prefix_field: prefix}) == {
        prefix_field: ["Enter a prefix: reports are not written to the bucket root."]
    }


def test_a_report_or_log_needs_a_bucket(profile):
    assert refused(profile, user_activity_report=True, report_prefix="kiro/") == {
        "report_bucket": ["Enter the S3 bucket for the user activity report."]
    }
    assert refused(profile, prompt_logging=True, prompt_prefix="kiro/") == {
        "prompt_bucket": ["Enter the S3 bucket for prompt logs."]
    }


def test_a_prefix_does_not_begin_with_a_slash(profile):
    assert refused(profile, user_activity_report=True, report_bucket="acme-logs", report_prefix="/kiro/") == {
        "report_prefix": ["A prefix does not begin with '/'."]
    }


def test_turning_a_report_off_keeps_its_bucket_and_prefix(profile):
    update(profile, user_activity_report=True, report_bucket="acme-logs", report_prefix="kiro/")
    update(profile, user_activity_report=False)
    assert {k: current(profile)[k] for k in ("user_activity_report", "report_bucket", "report_prefix")} == {
        "user_activity_report": False,
        "report_bucket": "acme-logs",
        "report_prefix": "kiro/",
    }


# --- MCP ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mcp.acme.example/registry.json", "The MCP registry URL must use https://."),
        ("ftp://mcp.acme.example/registry.json", "The MCP registry URL must use https://."),
        ("mcp.acme.example/registry.json", "The MCP registry URL must use https://."),
        ("https://user:secret@mcp.acme.example/registry.json", "Don't put credentials in the URL."),
        ("https://token@mcp.acme.example/registry.json", "Don't put credentials in the URL."),
        ("https://intranet/registry.json", "Enter a full URL, like https://mcp.example.com/registry.json."),
    ],
)
def test_the_mcp_registry_url_is_https_without_credentials(profile, url, message):
    assert refused(profile, mcp_registry_url=url) == {"mcp_registry_url": [message]}


def test_the_mcp_registry_url_is_optional_and_can_be_cleared(profile):
    update(profile, mcp_registry_url="https://mcp.acme.example/registry.json")
    update(profile, mcp_registry_url="")
    assert current(profile)["mcp_registry_url"] == ""


# --- Models -------------------------------------------------------------------------------------------------------


def test_an_unknown_model_cannot_be_approved(profile):
    assert refused(profile, model_availability="approved", approved_models=["auto", "gpt-9"]) == {
        "approved_models": ["Unknown or retired model: gpt-9."]
    }


def test_approved_models_only_needs_at_least_one_model(profile):
    assert refused(profile, model_availability="approved", approved_models=[]) == {
        "approved_models": ["Approve at least one model, or allow all models."]
    }


def test_the_default_model_must_be_one_of_the_approved_models(profile):
    assert refused(
        profile, model_availability="approved", approved_models=["auto"], default_model="claude-opus-4.5"
    ) == {"default_model": ["The default model must be one of the approved models."]}


def test_an_unknown_default_model_is_refused(profile):
    assert refused(profile, default_model="gpt-9") == {"default_model": ["Unknown or retired model: gpt-9."]}


def test_with_all_models_any_model_may_be_the_default(profile):
    update(profile, default_model="claude-opus-4.5")
    assert current(profile)["default_model"] == "claude-opus-4.5"


def test_removing_the_default_from_the_approved_list_is_refused(profile):
    update(profile, model_availability="approved", approved_models=["auto", "claude-haiku-4.5"], default_model="auto")
    assert refused(profile, approved_models=["claude-haiku-4.5"]) == {
        "default_model": ["The default model must be one of the approved models."]
    }


# --- Member account subscriptions ---------------------------------------------------------------------------------


def test_member_account_subscriptions_are_only_for_a_profile_in_the_management_account(profile, management_profile):
    assert refused(profile, member_account_subscriptions=True) == {
        "member_account_subscriptions": [
            "Only a profile in the management account can show member accounts' subscriptions."
        ]
    }
    update(management_profile, member_account_subscriptions=True)
    assert current(management_profile)["member_account_subscriptions"] is True


# --- API ----------------------------------------------------------------------------------------------------------


def patch(client, profile, payload):
    return client.patch(f"/api/v1/profiles/{profile.profile_id}/settings", payload, content_type="application/json")


def test_api_shows_a_profiles_settings(api_client_for, viewer_user, profile):
    response = api_client_for(viewer_user).get(f"/api/v1/profiles/{profile.profile_id}/settings")
    assert response.status_code == 200
    assert response.json() == DEFAULTS


def test_api_every_setting_round_trips_through_get(admin_api, management_profile):
    response = patch(admin_api, management_profile, EVERY_SETTING_CHANGED)
    assert response.status_code == 200
    assert response.json() == EVERY_SETTING_CHANGED
    assert admin_api.get(f"/api/v1/profiles/{management_profile.profile_id}/settings").json() == EVERY_SETTING_CHANGED
    event = AuditEvent.objects.get(action="profile.settings.update")
    assert event.source == "api"
    assert set(event.after) == set(EVERY_SETTING_CHANGED)


def test_api_records_one_audit_event_with_only_the_changed_settings(admin_api, profile):
    response = patch(admin_api, profile, {"web_tools": False, "mcp_enabled": True})
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="profile.settings.update")
    assert (event.before, event.after) == ({"web_tools": True}, {"web_tools": False})


def test_api_a_patch_that_changes_nothing_records_no_audit_event(admin_api, profile):
    with nothing_written():
        response = patch(admin_api, profile, {"web_tools": True, "kms_key_arn": ""})
    assert response.status_code == 200
    assert response.json() == DEFAULTS


def test_api_refuses_an_unknown_setting_with_422(admin_api, profile):
    with nothing_written():
        response = patch(admin_api, profile, {"web_tools": False, "no_such_setting": True})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [(error["loc"][-1], error["msg"]) for error in detail] == [
        ("no_such_setting", "Extra inputs are not permitted")
    ]
    assert current(profile) == DEFAULTS


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        (
            {"kms_key_arn": f"arn:aws:kms:eu-central-1:111122223333:key/{KEY}"},
            "kms_key_arn",
            "The key must be in the profile's Region (us-east-1); this one is in eu-central-1.",
        ),
        (
            {"user_activity_report": True, "report_bucket": "Acme_Reports", "report_prefix": "kiro/"},
            "report_bucket",
            "A bucket name uses lower-case letters, digits, dots and hyphens, and begins and ends with a letter or "
            "digit.",
        ),
        (
            {"prompt_logging": True, "prompt_bucket": "acme-logs", "prompt_prefix": "/"},
            "prompt_prefix",
            "Enter a prefix: reports are not written to the bucket root.",
        ),
        (
            {"mcp_registry_url": "http://mcp.acme.example/registry.json"},
            "mcp_registry_url",
            "The MCP registry URL must use https://.",
        ),
        (
            {"model_availability": "approved", "approved_models": []},
            "approved_models",
            "Approve at least one model, or allow all models.",
        ),
        (
            {"model_availability": "approved", "approved_models": ["auto"], "default_model": "claude-opus-4.5"},
            "default_model",
            "The default model must be one of the approved models.",
        ),
        (
            {"member_account_subscriptions": True},
            "member_account_subscriptions",
            "Only a profile in the management account can show member accounts' subscriptions.",
        ),
    ],
    ids=["kms-region", "bucket", "prefix", "mcp-http", "approved-empty", "default-not-approved", "member-accounts"],
)
def test_api_refuses_a_bad_value_with_422_at_its_field_and_changes_nothing_else(
    admin_api, profile, payload, field, message
):
    with nothing_written():
        response = patch(admin_api, profile, {"web_tools": False, "overage_enabled": True, **payload})
    assert response.status_code == 422
    assert response.json() == {"detail": {field: [message]}}
    assert admin_api.get(f"/api/v1/profiles/{profile.profile_id}/settings").json() == DEFAULTS


def test_api_refuses_a_value_of_the_wrong_type_with_422(admin_api, profile):
    with nothing_written():
        assert patch(admin_api, profile, {"model_availability": "some"}).status_code == 422
        assert patch(admin_api, profile, {"web_tools": None}).status_code == 422
        assert patch(admin_api, profile, {"approved_models": "auto"}).status_code == 422

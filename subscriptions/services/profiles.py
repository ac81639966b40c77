"""Write services for Kiro profiles and their settings. Pages, the admin, commands and the API call these."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from accounts.models import AwsAccount, IdentityCenterInstance, Region
from kiroconsole.audit import Actor, audit_record, snapshot
from kiroconsole.errors import ConflictError
from subscriptions import validators
from subscriptions.models import (
    AiModel,
    ModelAvailability,
    Profile,
    ProfileSettings,
    Subscription,
    SubscriptionStatus,
)
from subscriptions.services.propagation import lock_profile

__all__ = [
    "BOOLEAN_SETTINGS",
    "PROFILE_FIELDS",
    "SETTINGS_FIELDS",
    "TEXT_SETTINGS",
    "duplicate_profile_error",
    "profile_check",
    "profile_create",
    "profile_delete",
    "profile_settings_update",
    "profile_update",
    "settings_snapshot",
]

PROFILE_FIELDS = ["profile_id", "name", "description", "account", "region", "identity_center"]


def _profile_snapshot(profile: Profile) -> dict:
    return snapshot(profile, fields=PROFILE_FIELDS) | {"arn": profile.arn}


def _text(value: str | None, field: str, label: str, max_length: int, errors: dict, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        errors[field] = f"Enter {label}."
    elif len(value) > max_length:
        errors[field] = f"Use at most {max_length} characters (it has {len(value)})."
    return value


def duplicate_profile_error(existing: Profile) -> ConflictError:
    return ConflictError(
        {
            "region": ValidationError(
                "The account %(account)s already has the Kiro profile “%(name)s” in %(region)s: "
                "there is at most one profile per account and Region.",
                code="duplicate_profile",
                params={
                    "account": existing.account.account_id,
                    "name": existing.name,
                    "region": existing.region_id,
                    "profile_id": existing.profile_id,
                },
            )
        }
    )


def profile_check(
    *,
    account: AwsAccount | None,
    region: Region | None,
    identity_center: IdentityCenterInstance | None,
    name: str,
    description: str = "",
    partial: bool = False,
) -> tuple[str, str]:
    """Validate a new profile without writing it. Returns the cleaned name and description; raises
    ValidationError, or ConflictError for a second profile in an account and Region. With `partial`, fields not
    given yet are not reported (the create dialog checks each choice as it is made)."""
    errors: dict = {}
    if name or not partial:
        name = _text(name, "name", "a name", 100, errors)
    description = _text(description, "description", "a description", 500, errors, required=False)
    if account is None and not partial:
        errors["account"] = "Choose the AWS account."
    if region is None and not partial:
        errors["region"] = "Choose the Region."
    elif region is not None and not region.kiro_profiles:
        errors["region"] = (
            f"Kiro profiles can't be created in {region.code}: only in us-east-1, eu-central-1, us-gov-east-1 "
            "and us-gov-west-1."
        )
    if identity_center is None and not partial:
        errors["identity_center"] = "Choose the IAM Identity Center instance that holds the users."
    elif identity_center is not None and region is not None and identity_center.region.partition != region.partition:
        errors["identity_center"] = (
            f"{identity_center} is in the {identity_center.region.get_partition_display()} partition; "
            f"a profile in {region.code} needs an instance in the {region.get_partition_display()} partition."
        )
    if errors:
        raise ValidationError(errors)
    if account is not None and region is not None:
        existing = Profile.objects.live().select_related("account").filter(account=account, region=region).first()
        if existing is not None:
            raise duplicate_profile_error(existing)
    return name, description


def profile_create(
    *,
    account: AwsAccount | None,
    region: Region | None,
    identity_center: IdentityCenterInstance | None,
    name: str,
    description: str = "",
    actor: Actor,
) -> Profile:
    name, description = profile_check(
        account=account, region=region, identity_center=identity_center, name=name, description=description
    )
    assert account is not None and region is not None and identity_center is not None  # checked above
    try:
        with transaction.atomic():
            profile = Profile.objects.create(
                account=account, region=region, identity_center=identity_center, name=name, description=description
            )
            ProfileSettings.objects.create(profile=profile)
            audit_record(actor=actor, action="profile.create", target=profile, after=_profile_snapshot(profile))
    except IntegrityError as exc:
        # A concurrent request created the profile between our check and our insert: the constraint decided.
        winner = Profile.objects.live().select_related("account").filter(account=account, region=region).first()
        if winner is None:
            raise
        raise duplicate_profile_error(winner) from exc
    return profile


def profile_update(
    *, profile: Profile, actor: Actor, name: str | None = None, description: str | None = None
) -> Profile:
    errors: dict = {}
    new_name = profile.name if name is None else _text(name, "name", "a name", 100, errors)
    new_description = (
        profile.description
        if description is None
        else _text(description, "description", "a description", 500, errors, required=False)
    )
    if errors:
        raise ValidationError(errors)
    if (new_name, new_description) == (profile.name, profile.description):
        return profile  # nothing to change: not even updated_at
    with transaction.atomic():
        before = _profile_snapshot(profile)
        profile.name, profile.description, profile.updated_at = new_name, new_description, timezone.now()
        profile.save(update_fields=["name", "description", "updated_at"])
        after = _profile_snapshot(profile)
        if before != after:
            audit_record(actor=actor, action="profile.update", target=profile, before=before, after=after)
    return profile


def profile_delete(*, profile: Profile, actor: Actor) -> Profile:
    """Mark the profile deleted. Its settings, history and audit trail stay; its account and Region are free.
    Refused while any of its subscriptions grants access (DOMAIN.md §5 rule 1): people would lose Kiro, and a
    month already billed, without anyone unsubscribing them."""
    with transaction.atomic():
        lock_profile(profile)  # no subscription starts while this looks
        _refuse_while_subscriptions_grant_access(profile)
        updated = Profile.objects.filter(pk=profile.pk, deleted_at__isnull=True).update(deleted_at=timezone.now())
        profile.refresh_from_db()
        if updated:
            audit_record(actor=actor, action="profile.delete", target=profile, before=_profile_snapshot(profile))
    return profile


def _refuse_while_subscriptions_grant_access(profile: Profile) -> None:
    now = timezone.now()
    canceled = Q(status=SubscriptionStatus.CANCELED)
    granting = Subscription.objects.filter(profile=profile).filter(~canceled | Q(access_until__gt=now))
    found = granting.aggregate(
        total=Count("pk"), canceled=Count("pk", filter=canceled), until=Max("access_until", filter=canceled)
    )
    total = found["total"]
    if not total:
        return
    live, ended = total - found["canceled"], found["canceled"]
    parts = [f"{live} subscribed"] if live else []
    if ended:
        parts.append(f"{ended} canceled with access until {found['until']:%Y-%m-%d %H:%M} UTC")
    raise ValidationError(
        f"The profile “{profile.name}” can't be deleted while {total} subscription{'s' if total != 1 else ''} "
        f"still grant{'' if total != 1 else 's'} access ({', '.join(parts)}). Unsubscribe its users and unassign "
        "its groups; once the access of the last canceled subscription has ended (on the 1st of next month), the "
        "profile can be deleted.",
        code="subscriptions_grant_access",
    )


# --- Settings ---------------------------------------------------------------------------------------------

BOOLEAN_SETTINGS = [
    "code_references",
    "usage_dashboard",
    "user_activity_report",
    "prompt_logging",
    "member_account_subscriptions",
    "mcp_enabled",
    "web_tools",
    "overage_enabled",
    "user_api_keys",
]
TEXT_SETTINGS = ["kms_key_arn", "report_bucket", "report_prefix", "prompt_bucket", "prompt_prefix", "mcp_registry_url"]
SETTINGS_FIELDS = [
    *BOOLEAN_SETTINGS,
    *TEXT_SETTINGS,
    "overage_shared_cap",
    "model_availability",
    "approved_models",
    "default_model",
]


def settings_snapshot(settings: ProfileSettings) -> dict[str, Any]:
    """Every setting as plain values: approved models as their codes, the default model as its code."""
    data: dict[str, Any] = {name: getattr(settings, name) for name in [*BOOLEAN_SETTINGS, *TEXT_SETTINGS]}
    cap = settings.overage_shared_cap
    data["overage_shared_cap"] = None if cap is None else f"{cap:.2f}"  # a string: JSON, API and audit alike
    data["model_availability"] = settings.model_availability
    data["approved_models"] = sorted(m.code for m in settings.approved_models.all())
    data["default_model"] = settings.default_model.code if settings.default_model else None
    return data


def _normalize(changes: dict[str, Any], errors: dict) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for field, value in changes.items():
        if field not in SETTINGS_FIELDS:
            errors[field] = "There is no such setting."
        elif field in BOOLEAN_SETTINGS:
            if not isinstance(value, bool):
                errors[field] = "Use true or false."
            else:
                clean[field] = value
        elif field in TEXT_SETTINGS:
            if value is None:
                value = ""
            if not isinstance(value, str):
                errors[field] = "Use a string."
            else:
                clean[field] = value.strip()
        elif field == "approved_models":
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                errors[field] = "Use a list of model ids."
            else:
                clean[field] = sorted(set(value))
        elif field == "overage_shared_cap":
            try:
                cap = validators.parse_cap(value)
            except ValueError as error:
                errors[field] = str(error)
            else:
                clean[field] = None if cap is None else f"{cap:.2f}"
        elif field == "default_model":
            if value is not None and not isinstance(value, str):
                errors[field] = "Use a model id, or null for none."
            else:
                clean[field] = value or None
        else:  # model_availability
            clean[field] = value
    return clean


def _validate_settings(profile: Profile, s: dict[str, Any], models_by_code: dict[str, AiModel]) -> dict:
    errors: dict[str, str] = {}
    region = profile.region
    if s["kms_key_arn"] and (
        msg := validators.kms_key_arn_error(s["kms_key_arn"], region_code=region.code, partition=region.partition)
    ):
        errors["kms_key_arn"] = msg
    for switch, bucket, prefix, label in (
        ("user_activity_report", "report_bucket", "report_prefix", "the user activity report"),
        ("prompt_logging", "prompt_bucket", "prompt_prefix", "prompt logs"),
    ):
        if s[switch] and not s[bucket]:
            errors[bucket] = f"Enter the S3 bucket for {label}."
        elif s[bucket] and (msg := validators.bucket_name_error(s[bucket])):
            errors[bucket] = msg
        if (s[switch] or s[prefix]) and (msg := validators.prefix_error(s[prefix])):
            errors[prefix] = msg
    if s["member_account_subscriptions"] and not profile.account.is_management:
        errors["member_account_subscriptions"] = (
            "Only a profile in the management account can show member accounts' subscriptions."
        )
    if s["mcp_registry_url"] and (msg := validators.https_url_error(s["mcp_registry_url"])):
        errors["mcp_registry_url"] = msg
    elif len(s["mcp_registry_url"]) > 2048:
        errors["mcp_registry_url"] = "Use at most 2,048 characters."
    if s["model_availability"] not in ModelAvailability.values:
        errors["model_availability"] = "Choose all models or only approved models."
    unknown = [code for code in s["approved_models"] if code not in models_by_code]
    if unknown:
        errors["approved_models"] = f"Unknown or retired model: {', '.join(unknown)}."
    elif s["model_availability"] == ModelAvailability.APPROVED and not s["approved_models"]:
        errors["approved_models"] = "Approve at least one model, or allow all models."
    default = s["default_model"]
    if default is not None:
        if default not in models_by_code:
            errors["default_model"] = f"Unknown or retired model: {default}."
        elif s["model_availability"] == ModelAvailability.APPROVED and default not in s["approved_models"]:
            errors["default_model"] = "The default model must be one of the approved models."
    return errors


def profile_settings_update(*, profile: Profile, changes: dict[str, Any], actor: Actor) -> ProfileSettings:
    """Change some settings of a profile. The result is validated as a whole; nothing is written if any value
    is wrong. One audit event lists the old and new value of every setting that changed."""
    errors: dict = {}
    clean = _normalize(changes, errors)
    if errors:
        raise ValidationError(errors)
    models_by_code = {m.code: m for m in AiModel.objects.filter(active=True)}
    with transaction.atomic():
        # `of=("self",)`: PostgreSQL can't lock the nullable side of the outer join to default_model.
        settings = (
            ProfileSettings.objects.select_for_update(of=("self",)).select_related("default_model").get(profile=profile)
        )
        before = settings_snapshot(settings)
        merged = before | clean
        errors = _validate_settings(profile, merged, models_by_code)
        if errors:
            raise ValidationError(errors)
        changed = [field for field in SETTINGS_FIELDS if merged[field] != before[field]]
        if not changed:
            return settings
        for field in changed:
            if field == "approved_models":
                settings.approved_models.set([models_by_code[c] for c in merged[field]])
            elif field == "default_model":
                settings.default_model = models_by_code[merged[field]] if merged[field] else None
            elif field == "overage_shared_cap":
                settings.overage_shared_cap = None if merged[field] is None else Decimal(merged[field])
            else:
                setattr(settings, field, merged[field])
        settings.updated_at = timezone.now()
        settings.save()
        audit_record(
            actor=actor,
            action="profile.settings.update",
            target=profile,
            before={f: before[f] for f in changed},
            after={f: merged[f] for f in changed},
        )
    return settings

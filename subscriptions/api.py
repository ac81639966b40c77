"""API: Kiro profiles and their settings (CONTRACTS.md)."""

from datetime import datetime
from typing import Literal

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from ninja import Field, Schema
from pydantic import ConfigDict

from accounts.api import account_or_error, region_or_error
from accounts.models import IdentityCenterInstance
from kiroconsole.api import GuardedRouter, api_actor, requires
from kiroconsole.roles import Cap
from subscriptions import selectors, services

router = GuardedRouter(tags=["profiles"])


class ProfileOut(Schema):
    id: str
    arn: str
    name: str
    description: str
    account_id: str
    region: str
    identity_store_id: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(obj) -> str:
        return obj.profile_id

    @staticmethod
    def resolve_account_id(obj) -> str:
        return obj.account.account_id

    @staticmethod
    def resolve_region(obj) -> str:
        return obj.region_id

    @staticmethod
    def resolve_identity_store_id(obj) -> str:
        return obj.identity_center.identity_store_id


class ProfileIn(Schema):
    account_id: str
    region: str
    identity_store_id: str
    name: str
    description: str = ""


class ProfilePatch(Schema):
    name: str | None = None
    description: str | None = None


class SettingsOut(Schema):
    kms_key_arn: str
    code_references: bool
    usage_dashboard: bool
    user_activity_report: bool
    report_bucket: str
    report_prefix: str
    prompt_logging: bool
    prompt_bucket: str
    prompt_prefix: str
    member_account_subscriptions: bool
    mcp_enabled: bool
    mcp_registry_url: str
    web_tools: bool
    overage_enabled: bool
    overage_shared_cap: str | None = Field(description="Credits a month for the whole profile's overage; null: none")
    model_availability: Literal["all", "approved"]
    approved_models: list[str]
    default_model: str | None
    user_api_keys: bool


class SettingsPatch(Schema):
    """Send only the settings to change. Empty strings clear text settings (the KMS key: back to AWS-owned)."""

    # An unknown (say, misspelt) setting is refused with 422, not silently dropped with a 200.
    model_config = ConfigDict(extra="forbid")

    kms_key_arn: str | None = None
    code_references: bool | None = None
    usage_dashboard: bool | None = None
    user_activity_report: bool | None = None
    report_bucket: str | None = None
    report_prefix: str | None = None
    prompt_logging: bool | None = None
    prompt_bucket: str | None = None
    prompt_prefix: str | None = None
    member_account_subscriptions: bool | None = None
    mcp_enabled: bool | None = None
    mcp_registry_url: str | None = None
    web_tools: bool | None = None
    overage_enabled: bool | None = None
    overage_shared_cap: str | int | None = None
    model_availability: Literal["all", "approved"] | None = None
    approved_models: list[str] | None = None
    default_model: str | None = None
    user_api_keys: bool | None = None


@router.get("/profiles", response=list[ProfileOut], summary="Kiro profiles")
@requires(Cap.VIEW)
def list_profiles(request):
    return selectors.profiles()


@router.post("/profiles", response={201: ProfileOut}, summary="Create a Kiro profile (one per account and Region)")
@requires(Cap.ORGANIZATION_CHANGE)
def create_profile(request, payload: ProfileIn):
    identity_center = IdentityCenterInstance.objects.filter(identity_store_id=payload.identity_store_id).first()
    if identity_center is None:
        raise ValidationError({"identity_store_id": f"No Identity Center instance {payload.identity_store_id!r}."})
    profile = services.profile_create(
        account=account_or_error(payload.account_id),
        region=region_or_error(payload.region),
        identity_center=identity_center,
        name=payload.name,
        description=payload.description,
        actor=api_actor(request),
    )
    return 201, profile


@router.get("/profiles/{profile_id}", response=ProfileOut, summary="One Kiro profile")
@requires(Cap.VIEW)
def get_profile(request, profile_id: str):
    return selectors.profile_by_id(profile_id)


@router.patch("/profiles/{profile_id}", response=ProfileOut, summary="Change a profile's name or description")
@requires(Cap.ORGANIZATION_CHANGE)
def update_profile(request, profile_id: str, payload: ProfilePatch):
    profile = selectors.profile_by_id(profile_id)
    return services.profile_update(profile=profile, actor=api_actor(request), **payload.dict(exclude_unset=True))


@router.delete("/profiles/{profile_id}", response={204: None}, summary="Delete a profile (its history is kept)")
@requires(Cap.ORGANIZATION_CHANGE)
def delete_profile(request, profile_id: str):
    services.profile_delete(profile=selectors.profile_by_id(profile_id), actor=api_actor(request))
    return HttpResponse(status=204)


@router.get("/profiles/{profile_id}/settings", response=SettingsOut, summary="A profile's settings")
@requires(Cap.VIEW)
def get_settings(request, profile_id: str):
    return services.settings_snapshot(selectors.profile_settings(selectors.profile_by_id(profile_id)))


@router.patch("/profiles/{profile_id}/settings", response=SettingsOut, summary="Change some settings")
@requires(Cap.SETTINGS_CHANGE)
def update_settings(request, profile_id: str, payload: SettingsPatch):
    profile = selectors.profile_by_id(profile_id)
    services.profile_settings_update(
        profile=profile, changes=payload.dict(exclude_unset=True), actor=api_actor(request)
    )
    return services.settings_snapshot(selectors.profile_settings(profile))

"""API: Regions, AWS accounts and Identity Center instances (CONTRACTS.md)."""

from datetime import datetime
from typing import Literal

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from ninja import Schema

from accounts import selectors, services
from accounts.models import AwsAccount, Region
from kiroconsole.api import GuardedRouter, api_actor, requires
from kiroconsole.roles import Cap

router = GuardedRouter(tags=["organization"])


class RegionOut(Schema):
    code: str
    name: str
    partition: str
    opt_in: bool
    kiro_profiles: bool
    identity_center: bool


class AccountOut(Schema):
    account_id: str
    name: str
    kind: str
    created_at: datetime


class AccountIn(Schema):
    account_id: str
    name: str
    kind: Literal["management", "member"] = "member"


class AccountPatch(Schema):
    name: str | None = None
    kind: Literal["management", "member"] | None = None


class IdentityCenterOut(Schema):
    id: str
    identity_store_id: str
    name: str
    region: str
    account_id: str
    kind: str
    created_at: datetime

    @staticmethod
    def resolve_id(obj) -> str:
        return str(obj.id)

    @staticmethod
    def resolve_region(obj) -> str:
        return obj.region_id

    @staticmethod
    def resolve_account_id(obj) -> str:
        return obj.account.account_id


class IdentityCenterIn(Schema):
    identity_store_id: str
    name: str
    region: str
    account_id: str
    kind: Literal["organization", "account"] = "organization"


def region_or_error(code: str, field: str = "region") -> Region:
    region = Region.objects.filter(code=code).first()
    if region is None:
        raise ValidationError({field: f"Unknown Region {code!r}."})
    return region


def account_or_error(account_id: str, field: str = "account_id") -> AwsAccount:
    account = AwsAccount.objects.filter(account_id=account_id).first()
    if account is None:
        raise ValidationError({field: f"No AWS account {account_id!r} is registered."})
    return account


@router.get("/regions", response=list[RegionOut], summary="The AWS Region catalogue")
@requires(Cap.VIEW)
def list_regions(request):
    return selectors.regions()


@router.get("/accounts", response=list[AccountOut], summary="AWS accounts")
@requires(Cap.VIEW)
def list_accounts(request):
    return selectors.aws_accounts()


@router.post("/accounts", response={201: AccountOut}, summary="Register an AWS account")
@requires(Cap.ORGANIZATION_CHANGE)
def create_account(request, payload: AccountIn):
    account = services.aws_account_create(
        account_id=payload.account_id, name=payload.name, kind=payload.kind, actor=api_actor(request)
    )
    return 201, account


@router.get("/accounts/{account_id}", response=AccountOut, summary="One AWS account")
@requires(Cap.VIEW)
def get_account(request, account_id: str):
    return selectors.aws_account_by_id(account_id)


@router.patch("/accounts/{account_id}", response=AccountOut, summary="Rename an account or change its kind")
@requires(Cap.ORGANIZATION_CHANGE)
def update_account(request, account_id: str, payload: AccountPatch):
    account = selectors.aws_account_by_id(account_id)
    return services.aws_account_update(account=account, actor=api_actor(request), **payload.dict(exclude_unset=True))


@router.delete("/accounts/{account_id}", response={204: None}, summary="Delete an account that holds nothing")
@requires(Cap.ORGANIZATION_CHANGE)
def delete_account(request, account_id: str):
    services.aws_account_delete(account=selectors.aws_account_by_id(account_id), actor=api_actor(request))
    return HttpResponse(status=204)


@router.get("/identity-centers", response=list[IdentityCenterOut], summary="IAM Identity Center instances")
@requires(Cap.VIEW)
def list_identity_centers(request):
    return selectors.identity_centers()


@router.post("/identity-centers", response={201: IdentityCenterOut}, summary="Register an Identity Center instance")
@requires(Cap.ORGANIZATION_CHANGE)
def create_identity_center(request, payload: IdentityCenterIn):
    instance = services.identity_center_create(
        identity_store_id=payload.identity_store_id,
        name=payload.name,
        region=region_or_error(payload.region),
        account=account_or_error(payload.account_id),
        kind=payload.kind,
        actor=api_actor(request),
    )
    return 201, instance


@router.get("/identity-centers/{identity_store_id}", response=IdentityCenterOut, summary="One instance")
@requires(Cap.VIEW)
def get_identity_center(request, identity_store_id: str):
    return selectors.identity_center_by_store_id(identity_store_id)

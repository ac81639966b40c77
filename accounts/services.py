"""Write services for AWS accounts and Identity Center instances. Every entry point calls these."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from accounts.models import (
    ACCOUNT_ID_VALIDATOR,
    IDENTITY_STORE_ID_VALIDATOR,
    AccountKind,
    AwsAccount,
    IdentityCenterInstance,
    InstanceKind,
    Region,
)
from kiroconsole.audit import Actor, audit_record, snapshot
from kiroconsole.errors import ConflictError


def _check(validator, value, field: str, errors: dict) -> None:
    try:
        validator(value)
    except ValidationError as exc:
        errors[field] = exc.messages


def _required_text(value: str | None, field: str, label: str, max_length: int, errors: dict) -> str:
    value = (value or "").strip()
    if not value:
        errors[field] = f"Enter {label}."
    elif len(value) > max_length:
        errors[field] = f"Use at most {max_length} characters (it has {len(value)})."
    return value


def _raise(errors: dict) -> None:
    if errors:
        raise ValidationError(errors)


def _management_account(exclude_pk=None) -> AwsAccount | None:
    return AwsAccount.objects.filter(kind=AccountKind.MANAGEMENT).exclude(pk=exclude_pk).first()


def aws_account_create(*, account_id: str, name: str, kind: str, actor: Actor) -> AwsAccount:
    errors: dict = {}
    account_id = (account_id or "").strip()
    _check(ACCOUNT_ID_VALIDATOR, account_id, "account_id", errors)
    name = _required_text(name, "name", "a name", 100, errors)
    if kind not in AccountKind.values:
        errors["kind"] = "Choose management or member."
    _raise(errors)
    if AwsAccount.objects.filter(account_id=account_id).exists():
        raise ConflictError({"account_id": f"Account {account_id} is already registered."})
    if kind == AccountKind.MANAGEMENT and (current := _management_account()):
        raise ConflictError({"kind": f"{current} is the management account: an organization has exactly one."})
    try:
        with transaction.atomic():
            account = AwsAccount.objects.create(account_id=account_id, name=name, kind=kind)
            audit_record(actor=actor, action="aws_account.create", target=account, after=snapshot(account))
    except IntegrityError as exc:  # a concurrent request took the id or the management role first
        raise ConflictError(
            {
                "account_id": f"Account {account_id} is already registered, or a management account "
                "was registered at the same time."
            }
        ) from exc
    return account


def aws_account_update(*, account: AwsAccount, actor: Actor, name: str | None = None, kind: str | None = None):
    errors: dict = {}
    new_name = account.name if name is None else _required_text(name, "name", "a name", 100, errors)
    new_kind = account.kind if kind is None else kind
    if new_kind not in AccountKind.values:
        errors["kind"] = "Choose management or member."
    _raise(errors)
    if new_kind != account.kind:
        if new_kind == AccountKind.MANAGEMENT and (current := _management_account(exclude_pk=account.pk)):
            raise ConflictError({"kind": f"{current} is the management account: an organization has exactly one."})
        if new_kind == AccountKind.MEMBER:
            raise ValidationError(
                {"kind": "The management account stays the management account: an organization has exactly one."}
            )
    with transaction.atomic():
        before = snapshot(account)
        account.name, account.kind = new_name, new_kind
        account.save(update_fields=["name", "kind"])
        after = snapshot(account)
        if before != after:
            audit_record(actor=actor, action="aws_account.update", target=account, before=before, after=after)
    return account


def aws_account_delete(*, account: AwsAccount, actor: Actor) -> None:
    """Delete an account that nothing refers to. Profiles and instances protect their account (PROTECT foreign
    keys), so the refusal names them without this app knowing the apps above it."""
    if account.is_management and AwsAccount.objects.exclude(pk=account.pk).exists():
        raise ValidationError("The management account can only be deleted after every member account.")
    try:
        with transaction.atomic():
            audit_record(actor=actor, action="aws_account.delete", target=account, before=snapshot(account))
            account.delete()
    except ProtectedError as exc:
        holders = sorted(exc.protected_objects, key=str)
        names = ", ".join(_describe(obj) for obj in holders[:3]) + (" and more" if len(holders) > 3 else "")
        raise ValidationError(f"Account {account.account_id} can't be deleted: it holds {names}.") from exc


def _describe(obj) -> str:
    label = f"the {obj._meta.verbose_name} “{obj}”"
    if getattr(obj, "deleted_at", None):
        label += " (deleted; its history is kept)"
    return label


def identity_center_create(
    *, identity_store_id: str, name: str, region: Region | None, account: AwsAccount | None, kind: str, actor: Actor
) -> IdentityCenterInstance:
    errors: dict = {}
    identity_store_id = (identity_store_id or "").strip()
    _check(IDENTITY_STORE_ID_VALIDATOR, identity_store_id, "identity_store_id", errors)
    name = _required_text(name, "name", "a name", 100, errors)
    if region is None:
        errors["region"] = "Choose the instance's home Region."
    elif not region.identity_center:
        errors["region"] = (
            f"IAM Identity Center can't be enabled in {region.code}: choose a commercial Region that is not "
            "opt-in, or a GovCloud Region."
        )
    if account is None:
        errors["account"] = "Choose the AWS account that owns the instance."
    if kind not in InstanceKind.values:
        errors["kind"] = "Choose organization or account instance."
    elif kind == InstanceKind.ORGANIZATION and account is not None and not account.is_management:
        errors["kind"] = "An organization instance lives in the management account."
    _raise(errors)
    assert account is not None and region is not None  # checked above
    if IdentityCenterInstance.objects.filter(identity_store_id=identity_store_id).exists():
        raise ConflictError({"identity_store_id": f"{identity_store_id} is already registered."})
    if (existing := IdentityCenterInstance.objects.filter(account=account).first()) is not None:
        raise ConflictError({"account": f"Account {account.account_id} already has the instance “{existing.name}”."})
    if kind == InstanceKind.ORGANIZATION and (
        existing := IdentityCenterInstance.objects.filter(kind=InstanceKind.ORGANIZATION).first()
    ):
        raise ConflictError({"kind": f"The organization already has its instance “{existing.name}”."})
    try:
        with transaction.atomic():
            instance = IdentityCenterInstance.objects.create(
                identity_store_id=identity_store_id, name=name, region=region, account=account, kind=kind
            )
            audit_record(actor=actor, action="identity_center.create", target=instance, after=snapshot(instance))
    except IntegrityError as exc:
        raise ConflictError(
            {"identity_store_id": "Another request registered this instance at the same time."}
        ) from exc
    return instance


def identity_center_update(*, instance: IdentityCenterInstance, name: str, actor: Actor) -> IdentityCenterInstance:
    errors: dict = {}
    name = _required_text(name, "name", "a name", 100, errors)
    _raise(errors)
    with transaction.atomic():
        before = snapshot(instance)
        instance.name = name
        instance.save(update_fields=["name"])
        if before != snapshot(instance):
            audit_record(
                actor=actor, action="identity_center.update", target=instance, before=before, after=snapshot(instance)
            )
    return instance

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from accounts.models import AwsAccount, IdentityCenterInstance, Region


def regions() -> QuerySet[Region]:
    return Region.objects.all()


def aws_accounts() -> QuerySet[AwsAccount]:
    return AwsAccount.objects.annotate(
        profile_count=Count("profiles", filter=Q(profiles__deleted_at__isnull=True), distinct=True)
    )


def identity_centers() -> QuerySet[IdentityCenterInstance]:
    return IdentityCenterInstance.objects.select_related("region", "account")


def aws_account_by_id(account_id: str) -> AwsAccount:
    return get_object_or_404(AwsAccount, account_id=account_id)


def identity_center_by_store_id(identity_store_id: str) -> IdentityCenterInstance:
    return get_object_or_404(identity_centers(), identity_store_id=identity_store_id)

"""What a user may use now (DOMAIN.md §5): access, this month's allowance and use, overage and the caps that
apply, and the effective profile settings a client must obey. Read-only; the metering transaction applies the
same rules under lock (`credits.services.metering`)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Max
from django.utils import timezone

from credits.models import Balance, ProfileBalance, Reason, credits_of, hundredths_of
from directory.models import DirectoryUser
from subscriptions.calendar import month_start
from subscriptions.models import (
    GroupAssignment,
    ModelAvailability,
    Profile,
    ProfileSettings,
    Subscription,
    Tier,
)

ZERO = Decimal("0.00")


@dataclass
class Entitlement:
    entitled: bool
    reason: str
    status: str | None
    tier: str | None
    next_tier: str | None
    access_until: datetime.datetime | None
    month: str
    allowance: Decimal
    used: Decimal
    plan_used: Decimal
    overage_enabled: bool
    overage_used: Decimal
    overage_cap: Decimal | None  # the tightest of the user's and group caps; None: none
    shared_cap: Decimal | None
    shared_overage_used: Decimal
    remaining: Decimal  # plan credits left this month
    settings: dict[str, Any]


def effective_settings(settings: ProfileSettings) -> dict[str, Any]:
    """The profile settings a client obeys (DOMAIN.md §6)."""
    approved = (
        sorted(model.code for model in settings.approved_models.all())
        if settings.model_availability == ModelAvailability.APPROVED
        else None
    )
    return {
        "mcp": {"enabled": settings.mcp_enabled, "registry_url": settings.mcp_registry_url or None},
        "web_tools": settings.web_tools,
        "models": {
            "availability": settings.model_availability,
            "approved": approved,
            "default": settings.default_model.code if settings.default_model_id else None,  # type: ignore[union-attr]
        },
        "user_api_keys": settings.user_api_keys,
        "code_references": settings.code_references,
    }


def group_cap_of(profile: Profile, user_id: Any) -> Decimal | None:
    """The highest overage cap among the user's assigned groups that set one (None: no group cap applies)."""
    return GroupAssignment.objects.filter(
        profile=profile, overage_cap__isnull=False, group__memberships__user_id=user_id
    ).aggregate(cap=Max("overage_cap"))["cap"]


def tightest(*caps: Decimal | None) -> Decimal | None:
    present = [cap for cap in caps if cap is not None]
    return min(present) if present else None


def entitlement_for(*, profile: Profile, user: DirectoryUser, now: datetime.datetime | None = None) -> Entitlement:
    now = now or timezone.now()
    settings = ProfileSettings.objects.select_related("default_model").get(profile=profile)
    month = month_start(now).date()
    sub = Subscription.objects.filter(profile=profile, user=user).first()
    shared_used = (
        ProfileBalance.objects.filter(profile=profile, month=month).values_list("overage_hundredths", flat=True).first()
    )
    base: dict[str, Any] = {
        "month": f"{month:%Y-%m}",
        "overage_enabled": settings.overage_enabled,
        "shared_cap": settings.overage_shared_cap,
        "shared_overage_used": credits_of(shared_used or 0),
        "settings": effective_settings(settings),
    }
    if sub is None:
        return Entitlement(
            entitled=False,
            reason=Reason.NOT_SUBSCRIBED,
            status=None,
            tier=None,
            next_tier=None,
            access_until=None,
            allowance=ZERO,
            used=ZERO,
            plan_used=ZERO,
            overage_used=ZERO,
            overage_cap=None,
            remaining=ZERO,
            **base,
        )
    tier_id = sub.effective_tier_id(now)
    allowance = Tier.objects.values_list("monthly_credits", flat=True).get(code=tier_id) * 100
    balance = Balance.objects.filter(subscription=sub, month=month).first()
    plan = balance.plan_hundredths if balance else 0
    overage = balance.overage_hundredths if balance else 0
    if balance is not None:
        allowance = max(allowance, balance.allowance_hundredths)
    cap = tightest(sub.overage_cap, group_cap_of(profile, user.pk))
    reason = ""
    if not user.active or user.deleted_at is not None:
        reason = Reason.USER_INACTIVE
    elif not sub.has_access(now):
        reason = Reason.ACCESS_ENDED
    elif plan >= allowance:
        if not settings.overage_enabled:
            reason = Reason.ALLOWANCE_EXHAUSTED
        elif cap is not None and overage >= hundredths_of(cap):
            reason = Reason.USER_CAP if cap == sub.overage_cap else Reason.GROUP_CAP
        elif settings.overage_shared_cap is not None and (shared_used or 0) >= hundredths_of(
            settings.overage_shared_cap
        ):
            reason = Reason.SHARED_CAP
    next_tier = sub.next_tier_id if tier_id == sub.tier_id else None
    return Entitlement(
        entitled=not reason,
        reason=reason,
        status=sub.status,
        tier=tier_id,
        next_tier=next_tier,
        access_until=sub.access_until,
        allowance=credits_of(allowance),
        used=credits_of(plan + overage),
        plan_used=credits_of(plan),
        overage_used=credits_of(overage),
        overage_cap=cap,
        remaining=credits_of(max(allowance - plan, 0)),
        **base,
    )

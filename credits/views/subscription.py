"""A subscription's page (issue 7, item 9): status, tier, sources and access; this month's use against the allowance;
the overage caps that apply and the user's own cap (set here by administrators); the latest usage events.

A constant number of queries, whatever the user's history: session, user, roles, profile, the subscription, the
notification count of the header, the tier names, the user's assigned groups, the latest events, and what
`entitlement_for` reads (settings, subscription, balances, tier, group cap)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from credits.forms import OverageCapForm
from credits.models import Outcome, Reason, UsageEvent
from credits.services import Entitlement, entitlement_for, subscription_set_overage_cap
from kiroconsole.audit import Actor
from kiroconsole.forms import apply_service_errors
from kiroconsole.roles import Cap, has_cap, requires
from subscriptions import selectors
from subscriptions.models import GroupAssignment, Profile, Subscription, SubscriptionStatus

TEMPLATE = "credits/subscription_detail.html"
LATEST_EVENTS = 20
USER_CAP_HELP = (
    "Overage credits this user may use a month. Empty: no cap of the user's own (group and shared caps still "
    "apply). 0: no overage for this user."
)


def subscription_in(profile: Profile, user_id: Any) -> Subscription:
    """The access helper of a subscription's pages: 404 when the user has no subscription in the profile."""
    subscription = (
        Subscription.objects.filter(profile=profile, user_id=user_id)
        .select_related("user", "profile", "profile__region")
        .first()
    )
    if subscription is None:
        raise Http404("This user has no subscription in this profile.")
    return subscription


def user_assignments(profile: Profile, subscription: Subscription) -> list[GroupAssignment]:
    """The assigned groups of the profile the user is a member of (its group sources), with their caps."""
    return list(
        GroupAssignment.objects.filter(
            profile=profile, group__deleted_at__isnull=True, group__memberships__user_id=subscription.user_id
        )
        .select_related("group")
        .order_by("group__display_name", "pk")
    )


def latest_events(subscription: Subscription) -> QuerySet[UsageEvent]:
    """The subscription's latest events, accepted or not (read from the (subscription, month) index)."""
    return UsageEvent.objects.filter(subscription=subscription).order_by("-occurred_at", "-id")[:LATEST_EVENTS]


@dataclass
class Bar:
    """A <progress> bar: its value and maximum as plain numbers (never localized), and the percent shown."""

    value: str
    max: str
    percent: int
    level: str  # "", "warn" (from 75%) or "full" (from 100%)

    @classmethod
    def of(cls, used: Decimal, limit: Decimal) -> Bar | None:
        if limit <= 0:
            return None
        percent = int(used * 100 / limit)
        level = "full" if percent >= 100 else "warn" if percent >= 75 else ""
        return cls(value=f"{min(used, limit):.2f}", max=f"{limit:.2f}", percent=percent, level=level)


def access_text(entitlement: Entitlement) -> tuple[bool, str]:
    if not entitlement.entitled:
        return False, Reason(entitlement.reason).label
    if entitlement.allowance and entitlement.plan_used >= entitlement.allowance:
        return True, "May use Kiro, as overage: the month's plan credits are used up."
    return True, "May use Kiro."


def page_context(request, profile: Profile, subscription: Subscription, now: datetime.datetime) -> dict[str, Any]:
    entitlement = entitlement_for(profile=profile, user=subscription.user, now=now)
    names = {tier.code: tier.name for tier in selectors.tier_catalogue()}
    assignments = user_assignments(profile, subscription)
    for assignment in assignments:
        assignment.tier_name = names[assignment.tier_id]  # type: ignore[attr-defined]
    group_caps = [a.overage_cap for a in assignments if a.overage_cap is not None]
    pending = subscription.next_tier_id is not None and subscription.next_tier_from is not None
    pending = pending and subscription.next_tier_from > now  # type: ignore[operator]
    entitled, access = access_text(entitlement)
    effective = entitlement.overage_cap
    shared = entitlement.shared_cap
    return {
        "profile": profile,
        "subscription": subscription,
        "person": subscription.user,
        "entitlement": entitlement,
        "month": datetime.date(now.year, now.month, 1),
        "status": SubscriptionStatus(subscription.status),
        "access_ended": not subscription.has_access(now),
        "tier_name": names[subscription.effective_tier_id(now)],
        "next_tier_name": names[subscription.next_tier_id] if pending else "",  # type: ignore[index]
        "direct_name": names.get(subscription.direct_tier_id or "", "") if not subscription.direct_opt_out else "",
        "assignments": assignments,
        "entitled": entitled,
        "access": access,
        "plan_bar": Bar.of(entitlement.plan_used, entitlement.allowance),
        "overage_bar": Bar.of(entitlement.overage_used, effective) if effective is not None else None,
        "shared_bar": Bar.of(entitlement.shared_overage_used, shared) if shared is not None else None,
        "user_cap": subscription.overage_cap,
        "group_cap": max(group_caps) if group_caps else None,
        "capped_groups": len(group_caps),
        "effective_cap": effective,
        "overage_room": max(effective - entitlement.overage_used, Decimal(0)) if effective is not None else None,
        "events": list(latest_events(subscription)),
        "outcomes": Outcome,
        "can_change_caps": has_cap(request.user, Cap.SETTINGS_CHANGE),
    }


def cap_form(subscription: Subscription, data=None) -> OverageCapForm:
    cap = subscription.overage_cap
    return OverageCapForm(data, initial={"overage_cap": "" if cap is None else f"{cap:.2f}"}, help_text=USER_CAP_HELP)


def page_url(profile: Profile, subscription: Subscription) -> str:
    return reverse("profile-subscription", args=[profile.profile_id, subscription.user_id])


@requires(Cap.VIEW)
@require_GET
def subscription_detail(request, profile_id: str, user_id):
    profile = selectors.profile_by_id(profile_id)
    subscription = subscription_in(profile, user_id)
    context = page_context(request, profile, subscription, timezone.now())
    context["form"] = cap_form(subscription)
    return render(request, TEMPLATE, context)


def _cap_message(subscription: Subscription, before: Decimal | None) -> str:
    name, cap = subscription.user.user_name, subscription.overage_cap
    if cap == before:
        return f"Nothing changed: {name}'s overage cap was already {_cap_words(cap)}."
    if cap is None:
        return f"Removed {name}'s own overage cap: group and shared caps still apply."
    if cap == 0:
        return f"{name} may use no overage now (cap 0.00 credits a month)."
    return f"Set {name}'s overage cap to {cap:,.2f} credits a month."


def _cap_words(cap: Decimal | None) -> str:
    return "none" if cap is None else f"{cap:,.2f} credits a month"


@requires(Cap.SETTINGS_CHANGE)
@require_POST
def subscription_overage_cap(request, profile_id: str, user_id):
    """Set or remove the user's own overage cap (audited by the service). With htmx the caps panel answers in place
    (the errors at the field, status 200); without JavaScript the page reloads with a message."""
    profile = selectors.profile_by_id(profile_id)
    subscription = subscription_in(profile, user_id)
    before = subscription.overage_cap
    form = cap_form(subscription, request.POST)
    message = ""
    if form.is_valid():
        try:
            subscription = subscription_set_overage_cap(
                subscription=subscription, cap=form.cleaned_data["overage_cap"], actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            message = _cap_message(subscription, before)
    if message and not request.htmx:
        messages.success(request, message)
        return redirect(page_url(profile, subscription) + "#caps")
    context = page_context(request, profile, subscription, timezone.now())
    context.update(form=cap_form(subscription) if message else form, saved=message)
    if request.htmx:
        context["oob"] = True
        return render(request, TEMPLATE + "#caps", context)
    return render(request, TEMPLATE, context)

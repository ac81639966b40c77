"""The subscribe dialog of a profile: step 1 the tier (cards with credits and price), step 2 search and pick users or
groups, step 3 a summary of who gets what, then the post that calls `subscription_subscribe` or `group_assign` (see
`dialogs` for how a dialog works)."""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from kiroconsole.audit import Actor
from kiroconsole.forms import apply_service_errors
from kiroconsole.roles import Cap, requires
from subscriptions import selectors, services
from subscriptions.billing import CENTS, price_multiplier
from subscriptions.calendar import next_month_start
from subscriptions.forms import SubscribeForm, SubscribeKind
from subscriptions.models import Profile
from subscriptions.previews import describe_changes, people, subscribe_effect, tier_cards
from subscriptions.views.dialogs import dialog_done, groups_url, higher_than, render_dialog, users_url

SEARCH_LIMIT = 10  # the type-ahead's matches

STEPS = ("tier", "who", "confirm")


def _state_query(form: SubscribeForm, step: str) -> str:
    """The query string of a step with the dialog's state (its Back links)."""
    data = form.cleaned_data if hasattr(form, "cleaned_data") else {}
    params: list[tuple[str, str]] = [("step", step)]
    if data.get("tier"):
        params.append(("tier", data["tier"]))
    kind = data.get("kind") or SubscribeKind.USERS
    params.append(("kind", kind))
    if data.get("q"):
        params.append(("q", data["q"]))
    params += [(kind, str(pk)) for pk in data.get(kind, [])]
    return urlencode(params)


def _people_state(profile: Profile, ids: list, now: datetime.datetime) -> dict:
    """Each user's subscription in the profile (if any), for the notes beside candidates and chosen users."""
    return {s.user_id: s for s in selectors.subscriptions_of(profile, ids)} if ids else {}


@requires(Cap.SUBSCRIPTIONS_CHANGE)
@require_http_methods(["GET", "POST"])
def subscribe(request, profile_id: str):
    """Subscribe users or groups: step 1 the tier (cards with credits and price), step 2 search and pick users or
    groups (a type-ahead; Add and Remove buttons carry the picks), step 3 a summary of who gets what, then the
    post. Steps 1 and 2 are GET requests whose parameters hold the state, so Back and reloads keep it."""
    profile = selectors.profile_by_id(profile_id)
    now = timezone.now()
    tiers = selectors.tier_catalogue()
    by_code = {t.code: t for t in tiers}
    posted = request.method == "POST"
    data = request.POST if posted else request.GET
    step = "confirm" if posted else data.get("step") or ("who" if "tier" in data else "tier")
    step = step if step in STEPS else "tier"
    form = SubscribeForm(data, tiers=tiers)
    form.is_valid()
    cleaned = form.cleaned_data
    kind = cleaned.get("kind") or SubscribeKind.USERS
    picks: list = cleaned.get(kind, [])
    show_errors = step != "tier"
    if step != "tier" and "tier" in form.errors:
        step = "tier"
    elif step == "confirm" and not picks:
        form.add_error(kind, f"Choose at least one {'user' if kind == SubscribeKind.USERS else 'group'}.")
        step = "who"
    tier = by_code.get(cleaned.get("tier") or "")

    if posted and step == "confirm" and tier is not None:
        actor = Actor.from_request(request)
        first = next_month_start(now)
        try:
            if kind == SubscribeKind.USERS:
                users = list(
                    DirectoryUser.objects.filter(pk__in=picks, identity_center_id=profile.identity_center_id)
                    .select_related("identity_center")
                    .order_by("user_name")
                )
                changes = services.subscription_subscribe(profile=profile, users=users, tier=tier, actor=actor)
                higher = higher_than(profile, [u.pk for u in users], tier)
                message = describe_changes(changes, tier=tier, first=first, higher=higher)
                url = users_url(profile)
            else:
                groups = list(
                    DirectoryGroup.objects.filter(pk__in=picks, identity_center_id=profile.identity_center_id)
                    .select_related("identity_center")
                    .order_by("display_name")
                )
                if not groups:
                    raise ValidationError({"groups": "Choose at least one group."})
                changes = services.Changes()
                with transaction.atomic():  # all the groups, or none
                    for group in groups:
                        changes.add(services.group_assign(profile=profile, group=group, tier=tier, actor=actor)[1])
                members = GroupMembership.objects.filter(group__in=groups).values("user")
                higher = higher_than(profile, members, tier)
                names = people([g.display_name for g in groups], "group")
                details = describe_changes(changes, tier=tier, first=first, higher=higher)
                if not changes and not higher:
                    details = "No subscription changed."
                    if not members.exists():
                        details += " No members yet: members it gains are subscribed at once."
                message = f"Assigned {names} at {tier.name}. {details}"
                url = groups_url(profile)
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "group" in exc.error_dict:
                exc = ValidationError({"groups": exc.error_dict.pop("group"), **exc.error_dict})
            apply_service_errors(form, exc)
        else:
            return dialog_done(request, message, url)

    url = reverse("profile-subscribe", args=[profile.profile_id])
    multiplier = price_multiplier(profile)
    context: dict[str, Any] = {
        "profile": profile,
        "form": form,
        "step": step,
        "tier": tier,
        "kind": kind,
        "picks": picks,
        "q": cleaned.get("q", ""),
        "url": url,
        "show_errors": show_errors,
        "cards": tier_cards(tiers, multiplier),
        "multiplier": multiplier,
        "unit_price": (tier.price * multiplier).quantize(CENTS) if tier else None,
        "search_limit": SEARCH_LIMIT,
        "selected": cleaned.get("tier") or data.get("tier", ""),
        "first": next_month_start(now),
        "back_to_tier": f"{url}?{_state_query(form, 'tier')}",
        "back_to_who": f"{url}?{_state_query(form, 'who')}",
        "picked_added": bool(cleaned.get("add") or cleaned.get("remove")),
    }
    if step in ("who", "confirm"):
        context.update(_who_context(profile, kind, picks, context["q"], tier, tiers, now))
    if request.htmx and request.htmx.target == "subscribe-candidates":
        return render(request, "subscriptions/subscribe.html#candidates", context)
    return render_dialog(request, "subscriptions/subscribe.html", context)


def _who_context(profile, kind, picks, q, tier, tiers, now) -> dict[str, Any]:
    """The chosen users or groups (with what subscribing them does, for the confirmation) and the type-ahead's
    candidates."""
    ranks = {t.code: t.rank for t in tiers}
    names = {t.code: t.name for t in tiers}
    if kind == SubscribeKind.USERS:
        chosen = list(
            DirectoryUser.objects.live()
            .filter(pk__in=picks, identity_center_id=profile.identity_center_id)
            .order_by("user_name", "pk")
        )
        candidates = []
        if q.strip():
            candidates = list(selectors.directory_users_matching(profile, q).exclude(pk__in=picks)[:SEARCH_LIMIT])
        state = _people_state(profile, [u.pk for u in chosen + candidates], now)
        for person in chosen + candidates:
            subscription = state.get(person.pk)
            if subscription is not None:
                subscription.tier_now = names[subscription.effective_tier_id(now)]  # type: ignore[attr-defined]
            person.subscription = subscription  # type: ignore[attr-defined]
            if tier is not None:
                person.effect = subscribe_effect(subscription, tier, ranks, names, now)  # type: ignore[attr-defined]
        return {"chosen": chosen, "candidates": candidates}
    groups = list(selectors.directory_groups_matching(profile, "").filter(pk__in=picks))
    if q.strip():
        found = list(selectors.directory_groups_matching(profile, q).exclude(pk__in=picks)[:SEARCH_LIMIT])
    else:
        found = []
    for group in groups + found:
        group.assigned_tier_name = names.get(group.assigned_tier, "")  # type: ignore[attr-defined]
    return {"chosen": groups, "candidates": found}

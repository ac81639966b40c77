"""A profile's Users and Groups tabs (DOMAIN.md §7 "Users & Groups") and their dialogs: change plan and unsubscribe
for the users ticked in the Users tab, a group's change of plan and its unassignment (see `dialogs` for how a dialog
works; the subscribe dialog is `subscribe`)."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from directory.models import GroupMembership
from kiroconsole.audit import Actor
from kiroconsole.forms import apply_service_errors
from kiroconsole.htmx_tables import table_page
from kiroconsole.roles import Cap, has_cap, requires
from subscriptions import selectors, services
from subscriptions.billing import price_multiplier
from subscriptions.calendar import next_month_start
from subscriptions.filters import GroupAssignmentFilter, SubscriptionFilter
from subscriptions.forms import GroupPlanForm, IdsField, UsersPlanForm, UsersUnsubscribeForm
from subscriptions.models import Profile, Subscription, SubscriptionStatus, Tier
from subscriptions.previews import (
    describe_changes,
    people,
    preview_group_plans,
    preview_unassign,
    preview_user_plans,
    tier_cards,
)
from subscriptions.tables import BULK_FORM, GroupAssignmentTable, SubscriptionTable
from subscriptions.views.dialogs import dialog_done, groups_url, higher_than, render_dialog, users_url

GROUP_SUGGESTION_LIMIT = 20  # the group filter's type-ahead


# --- The Users tab ------------------------------------------------------------------------------------------


@requires(Cap.VIEW)
@require_GET
def subscription_list(request, profile_id: str):
    profile = selectors.profile_by_id(profile_id)
    now = timezone.now()
    tiers = selectors.tier_catalogue()
    can_change = has_cap(request.user, Cap.SUBSCRIPTIONS_CHANGE)
    filterset = SubscriptionFilter(
        request.GET, queryset=selectors.profile_subscriptions(profile, now), profile=profile, tiers=tiers, now=now
    )
    table = SubscriptionTable(
        filterset.qs, profile=profile, tiers={t.code: t for t in tiers}, now=now, can_change=can_change
    )
    return table_page(
        request,
        "subscriptions/subscription_list.html",
        table=table,
        filterset=filterset,
        context={"profile": profile, "tab": "users", "bulk_form": BULK_FORM},
        count=filterset.count(),
    )


@requires(Cap.VIEW)
@require_GET
def group_suggest(request, profile_id: str):
    """Type-ahead of the Users tab's group filter: the <option>s of its <datalist>, the groups of the profile's
    directory whose name contains what was typed."""
    profile = selectors.profile_by_id(profile_id)
    typed = request.GET.get("group", "").strip()
    groups = selectors.directory_groups_matching(profile, typed)[:GROUP_SUGGESTION_LIMIT] if typed else []
    return render(request, "subscriptions/group_suggestions.html", {"groups": groups})


def _picked(profile: Profile, data, now: datetime.datetime) -> tuple[list[Subscription], list[Subscription]]:
    """The ticked users' subscriptions: (live ones, canceled ones), each with `tier_now` and `tier_next` (names)."""
    ids = IdsField(required=False).clean(data.getlist("users"))
    subscriptions = selectors.subscriptions_of(profile, ids) if ids else []
    names = dict(Tier.objects.values_list("code", "name")) if subscriptions else {}
    for s in subscriptions:
        s.tier_now = names[s.effective_tier_id(now)]  # type: ignore[attr-defined]
        pending = s.next_tier_id is not None and s.next_tier_from is not None and s.next_tier_from > now
        s.tier_next = names[s.next_tier_id] if pending else ""  # type: ignore[attr-defined,index]
    live = [s for s in subscriptions if s.status != SubscriptionStatus.CANCELED]
    return live, [s for s in subscriptions if s.status == SubscriptionStatus.CANCELED]


@requires(Cap.SUBSCRIPTIONS_CHANGE)
@require_http_methods(["GET", "POST"])
def subscription_change_plan(request, profile_id: str):
    """Change the plan of the ticked users: each card says whether it is an upgrade (now) or a downgrade (from the
    1st), and who keeps a higher tier through a group."""
    profile = selectors.profile_by_id(profile_id)
    now = timezone.now()
    tiers = selectors.tier_catalogue()
    by_code = {t.code: t for t in tiers}
    posted = request.method == "POST"
    live, canceled = _picked(profile, request.POST if posted else request.GET, now)
    form = UsersPlanForm(request.POST if posted else None, tiers=tiers)
    if posted and form.is_valid():
        tier = by_code[form.cleaned_data["tier"]]
        if not live:
            form.add_error("users", "None of these users is subscribed: subscribe them instead.")
        else:
            try:
                changes = services.subscription_change_plan(
                    profile=profile, users=[s.user for s in live], tier=tier, actor=Actor.from_request(request)
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                higher = higher_than(profile, [s.user_id for s in live], tier)
                message = describe_changes(changes, tier=tier, first=next_month_start(now), higher=higher)
                return dialog_done(request, message, users_url(profile))
    ranks = {t.code: t.rank for t in tiers}
    names = {t.code: t.name for t in tiers}
    cards = preview_user_plans(tier_cards(tiers, price_multiplier(profile)), live, ranks, names, now)
    return render_dialog(
        request,
        "subscriptions/change_plan.html",
        {
            "profile": profile,
            "form": form,
            "cards": cards,
            "selected": form.data.get("tier", ""),
            "subscriptions": live,
            "canceled": canceled,
            "now": now,
            "first": next_month_start(now),
            "title": f"Change the plan of {people([s.user.user_name for s in live]) if live else 'users'}",
        },
    )


@requires(Cap.SUBSCRIPTIONS_CHANGE)
@require_http_methods(["GET", "POST"])
def subscription_unsubscribe(request, profile_id: str):
    """Unsubscribe the ticked users, after a confirmation that says until when access lasts, and that they stay
    unsubscribed while their groups are assigned, until they are subscribed directly again."""
    profile = selectors.profile_by_id(profile_id)
    now = timezone.now()
    posted = request.method == "POST"
    live, canceled = _picked(profile, request.POST if posted else request.GET, now)
    form = UsersUnsubscribeForm(request.POST if posted else None)
    first = next_month_start(now)
    if posted and form.is_valid():
        if not live:
            form.add_error("users", "None of these users is subscribed.")
        else:
            try:
                changes = services.subscription_unsubscribe(
                    profile=profile, users=[s.user for s in live], actor=Actor.from_request(request)
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                return dialog_done(request, describe_changes(changes, tier=None, first=first), users_url(profile))
    return render_dialog(
        request,
        "subscriptions/unsubscribe.html",
        {
            "profile": profile,
            "form": form,
            "subscriptions": live,
            "with_groups": [s for s in live if s.user.assigned_memberships],  # type: ignore[attr-defined]
            "any_active": any(s.status == SubscriptionStatus.ACTIVE for s in live),
            "canceled": canceled,
            "first": first,
            "title": f"Unsubscribe {people([s.user.user_name for s in live]) if live else 'users'}?",
        },
    )


# --- The Groups tab ------------------------------------------------------------------------------------------


@requires(Cap.VIEW)
@require_GET
def group_list(request, profile_id: str):
    profile = selectors.profile_by_id(profile_id)
    filterset = GroupAssignmentFilter(request.GET, queryset=selectors.group_assignments(profile))
    table = GroupAssignmentTable(
        filterset.qs, profile=profile, can_change=has_cap(request.user, Cap.SUBSCRIPTIONS_CHANGE)
    )
    return table_page(
        request,
        "subscriptions/group_list.html",
        table=table,
        filterset=filterset,
        context={"profile": profile, "tab": "groups"},
    )


@requires(Cap.SUBSCRIPTIONS_CHANGE)
@require_http_methods(["GET", "POST"])
def group_change_plan(request, profile_id: str, group_id):
    """Change an assigned group's tier: its members move up now, or down from the 1st (unless another source gives
    them more)."""
    profile = selectors.profile_by_id(profile_id)
    assignment = selectors.group_assignment(profile, group_id)
    now = timezone.now()
    tiers = selectors.tier_catalogue()
    by_code = {t.code: t for t in tiers}
    form = GroupPlanForm(request.POST or None, tiers=tiers)
    group = assignment.group
    if request.method == "POST" and form.is_valid():
        tier = by_code[form.cleaned_data["tier"]]
        if tier.code == assignment.tier_id:
            form.add_error("tier", f"{group.display_name} is already at {tier.name}: choose another tier.")
        else:
            try:
                _, changes = services.group_change_plan(
                    profile=profile, group=group, tier=tier, actor=Actor.from_request(request)
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                members = GroupMembership.objects.filter(group=group).values("user")
                higher = higher_than(profile, members, tier)
                details = describe_changes(changes, tier=tier, first=next_month_start(now), higher=higher, start=False)
                message = f"{group.display_name} is now at {tier.name}: {details}"
                return dialog_done(request, message, groups_url(profile))
    sources = selectors.member_sources(profile, assignment, now)
    cards = preview_group_plans(tier_cards(tiers, price_multiplier(profile)), sources, assignment.tier, now)
    return render_dialog(
        request,
        "subscriptions/group_change_plan.html",
        {
            "profile": profile,
            "assignment": assignment,
            "form": form,
            "cards": cards,
            "selected": form.data.get("tier", assignment.tier_id),
            "first": next_month_start(now),
            "title": f"Change the plan of {group.display_name}",
        },
    )


@requires(Cap.SUBSCRIPTIONS_CHANGE)
@require_http_methods(["GET", "POST"])
def group_unassign(request, profile_id: str, group_id):
    """Unassign a group, after a confirmation that counts the members who lose their subscription and those who
    fall back to a lower tier from another source."""
    profile = selectors.profile_by_id(profile_id)
    assignment = selectors.group_assignment(profile, group_id)
    now = timezone.now()
    first = next_month_start(now)
    error = None
    if request.method == "POST":
        try:
            changes = services.group_unassign(
                profile=profile, group=assignment.group, actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            details = describe_changes(changes, tier=None, first=first)
            if not changes:
                details = "No subscription changed."
            message = f"Unassigned {assignment.group.display_name}. {details}"
            return dialog_done(request, message, groups_url(profile))
    return render_dialog(
        request,
        "subscriptions/group_unassign.html",
        {
            "profile": profile,
            "assignment": assignment,
            "preview": preview_unassign(selectors.member_sources(profile, assignment, now)),
            "first": first,
            "error": error,
            "title": f"Unassign {assignment.group.display_name}?",
        },
    )

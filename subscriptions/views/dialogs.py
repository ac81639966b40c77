"""What every subscription dialog does the same way (STYLE.md "Pages").

A dialog is a page of its own without JavaScript. With htmx it opens in the page's <dialog> (templates/components/
dialog.html): the view answers with the template's `dialog` partial, errors in place with status 200; on success it
answers with the message, swapped into the page's messages, and the HX-Trigger event `kiro:changed`, on which
static/js/console.js closes the dialog and reloads the table in place. Without htmx, success redirects to the list
with the message.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models.functions import Coalesce
from django.shortcuts import redirect, render
from django.urls import reverse

from subscriptions.models import Profile, Subscription, SubscriptionStatus, Tier

CHANGED_EVENT = "kiro:changed"


def render_dialog(request, template: str, context: dict[str, Any]):
    """A dialog's page, or for htmx its `dialog` partial (errors in place answer 200, as the form fragment)."""
    if request.htmx and not request.htmx.history_restore_request:
        template += "#dialog"
    return render(request, template, context)


def dialog_done(request, message: str, url: str):
    """Success: with htmx, the message for the page's messages and the event that closes the dialog and reloads
    the table; without, back to the list with the message."""
    messages.success(request, message)
    if request.htmx:
        response = render(request, "subscriptions/dialog_done.html")
        response["HX-Trigger"] = CHANGED_EVENT
        return response
    return redirect(url)


def users_url(profile: Profile) -> str:
    return reverse("profile-users", args=[profile.profile_id])


def groups_url(profile: Profile) -> str:
    return reverse("profile-groups", args=[profile.profile_id])


def higher_than(profile: Profile, users: Any, tier: Tier) -> int:
    """After a change to `tier`: how many of the users' live subscriptions are bound for a higher tier (their next
    tier, else their tier), which another source gives them."""
    return (
        Subscription.objects.filter(profile=profile, user__in=users)
        .exclude(status=SubscriptionStatus.CANCELED)
        .alias(target=Coalesce("next_tier__rank", "tier__rank"))
        .filter(target__gt=tier.rank)
        .count()
    )

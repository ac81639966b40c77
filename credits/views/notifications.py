"""Alerts in the console (DOMAIN.md §5 rule 7): the list, newest first, and marking them read.

A notification is the profile's, not a console user's: read once, it is read for everyone. So everyone who reads
the console sees them (`Cap.VIEW`), and marking them read is a change for administrators (`Cap.SETTINGS_CHANGE`,
the people alerts are mailed to), audited by `credits.services.notifications`. The mark buttons are forms that
post without JavaScript (back to the list) and with htmx (the table and the header's count refresh in place)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from credits import services
from credits.context_processors import unread_notification_count
from credits.filters import NotificationFilter
from credits.models import Notification
from credits.tables import NotificationTable
from kiroconsole.audit import Actor
from kiroconsole.htmx_tables import table_page
from kiroconsole.roles import Cap, has_cap, requires
from subscriptions.views.dialogs import CHANGED_EVENT

LIST_URL = "notification-list"


def notifications():
    return Notification.objects.select_related("profile", "subscription__user")


@requires(Cap.VIEW)
@require_GET
def notification_list(request):
    filterset = NotificationFilter(request.GET, queryset=notifications())
    can_change = has_cap(request.user, Cap.SETTINGS_CHANGE)
    table = NotificationTable(filterset.qs, can_change=can_change, next_url=request.get_full_path())
    return table_page(
        request,
        "credits/notification_list.html",
        table=table,
        filterset=filterset,
        context={"can_mark": can_change},
    )


def _back(request):
    """Where the form came from (the list with its filters), or the list."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(LIST_URL)


def _done(request, message: str):
    messages.success(request, message)
    if request.htmx:
        context = {"unread_count": unread_notification_count()}
        response = render(request, "credits/notifications_changed.html", context)
        response["HX-Trigger"] = CHANGED_EVENT  # static/js/console.js reloads the table in place
        return response
    return _back(request)


@requires(Cap.SETTINGS_CHANGE)
@require_POST
def notification_read(request, pk: int):
    notification = get_object_or_404(Notification.objects.select_related("profile"), pk=pk)
    changed = services.notification_mark_read(notification=notification, actor=Actor.from_request(request))
    return _done(request, "Marked the alert read." if changed else "That alert was already read.")


@requires(Cap.SETTINGS_CHANGE)
@require_POST
def notification_read_all(request):
    """Every unread alert of every profile."""
    count = services.notifications_mark_all_read(actor=Actor.from_request(request))
    if not count:
        return _done(request, "Nothing to mark: every alert was already read.")
    return _done(request, f"Marked {count:,} alert{'s' if count != 1 else ''} read.")

"""Tables of the credits pages."""

from __future__ import annotations

import django_tables2 as tables
from django.middleware.csrf import get_token
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from credits.models import Notification, NotificationKind


class NotificationTable(tables.Table):
    created_at = tables.Column(verbose_name="When (UTC)", attrs={"td": {"class": "nowrap"}})
    profile = tables.Column(verbose_name="Profile", order_by=("profile__name", "-created_at"))
    message = tables.Column(verbose_name="Alert", orderable=False)
    read_at = tables.Column(verbose_name="Status", empty_values=(), order_by=("read_at", "-created_at"))
    actions = tables.Column(verbose_name="Actions", empty_values=(), orderable=False)

    class Meta:
        model = Notification
        fields = ["created_at", "profile", "message", "read_at", "actions"]
        order_by = ("-created_at",)
        empty_text = (
            "No notifications match. Alerts appear here when a user crosses 50, 75, 90 or 100% of the month's "
            "credits, or a profile reaches its shared overage cap."
        )

    def __init__(self, *args, can_change: bool = False, next_url: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.can_change, self.next_url = can_change, next_url
        if not can_change:
            self.exclude = ("actions",)

    def render_created_at(self, value):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")

    def render_profile(self, value):
        return format_html('<a href="{}">{}</a>', reverse("profile-detail", args=[value.profile_id]), value.name)

    def render_message(self, record):
        kind = NotificationKind(record.kind).label
        html = format_html('<span class="cell-sub">{}</span>{}', kind, record.message)
        if record.subscription_id is not None:
            url = reverse("profile-subscription", args=[record.profile.profile_id, record.subscription.user_id])
            user_name = record.subscription.user.user_name
            html += format_html(
                ' <a href="{}">Usage and caps<span class="visually-hidden"> of {}</span></a>', url, user_name
            )
        return html

    def render_read_at(self, record):
        if record.read_at is None:
            return format_html('<span class="badge badge-unread">{}</span>', "Unread")
        read = timezone.localtime(record.read_at).strftime("%Y-%m-%d %H:%M")
        return format_html('<span class="muted">Read</span><span class="cell-sub">{}</span>', read)

    def render_actions(self, record) -> SafeString | str:
        if record.read_at is not None:
            return ""
        url = reverse("notification-read", args=[record.pk])
        return format_html(
            '<form method="post" action="{url}" hx-post="{url}" hx-swap="none" class="inline-form">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
            '<input type="hidden" name="next" value="{next}">'
            '<button type="submit" class="button button-small">Mark read'
            '<span class="visually-hidden">: {message}</span></button></form>',
            url=url,
            token=get_token(self.request),
            next=self.next_url,
            message=record.message,
        )

"""Filters of the credits pages."""

from __future__ import annotations

import django_filters

from credits.models import Notification, NotificationKind
from subscriptions.models import Profile

UNREAD, READ = "unread", "read"


class NotificationFilter(django_filters.FilterSet):
    profile = django_filters.ModelChoiceFilter(
        queryset=Profile.objects.live().order_by("name"),
        to_field_name="profile_id",
        empty_label="Every profile",
        label="Profile",
    )
    state = django_filters.ChoiceFilter(
        method="by_state", choices=[(UNREAD, "Unread"), (READ, "Read")], empty_label="Read or unread", label="Status"
    )
    kind = django_filters.ChoiceFilter(choices=NotificationKind.choices, empty_label="Any kind", label="Kind")

    class Meta:
        model = Notification
        fields = ["profile", "state", "kind"]

    def by_state(self, queryset, name, value):
        if value == UNREAD:
            return queryset.filter(read_at__isnull=True)
        if value == READ:
            return queryset.filter(read_at__isnull=False)
        return queryset

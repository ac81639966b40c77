from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone

from kiroconsole.models import ActorType, ApiToken, AuditEvent, Source


def search_filter(label: str = "Search", **kwargs) -> django_filters.CharFilter:
    """A text filter that refreshes the table as you type (the shared filter form listens to search inputs)."""
    return django_filters.CharFilter(label=label, widget=forms.TextInput(attrs={"type": "search"}), **kwargs)


class AuditEventFilter(django_filters.FilterSet):
    q = search_filter(method="search")
    action = search_filter("Action starts with", lookup_expr="startswith")
    source = django_filters.ChoiceFilter(choices=Source.choices, empty_label="Any", label="Via")
    actor_type = django_filters.ChoiceFilter(choices=ActorType.choices, empty_label="Any", label="Actor type")
    since = django_filters.DateFilter(
        field_name="occurred_at",
        lookup_expr="date__gte",
        label="Since (UTC)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = django_filters.DateFilter(
        field_name="occurred_at",
        lookup_expr="date__lte",
        label="Until (UTC)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    class Meta:
        model = AuditEvent
        fields = ["q", "action", "source", "actor_type", "since", "until"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(actor_label__icontains=value)
            | Q(target_label__icontains=value)
            | Q(action__icontains=value)
            | Q(target_id=value)
        )


class ApiTokenFilter(django_filters.FilterSet):
    q = search_filter(method="search")
    status = django_filters.ChoiceFilter(
        method="by_status",
        choices=[("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked")],
        empty_label="Any status",
    )

    class Meta:
        model = ApiToken
        fields = ["q", "status"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value) | Q(user__username__icontains=value) | Q(prefix__startswith=value)
        )

    def by_status(self, queryset, name, value):
        now = timezone.now()
        if value == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if value == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if value == "active":
            return queryset.valid(now)
        return queryset

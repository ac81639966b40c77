from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q
from django.utils import timezone

from kiroconsole.models import ActorType, ApiToken, AuditEvent, Source


class AuditEventFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    action = django_filters.CharFilter(lookup_expr="startswith", label="Action")
    source = django_filters.ChoiceFilter(choices=Source.choices, empty_label="Any source")
    actor_type = django_filters.ChoiceFilter(choices=ActorType.choices, empty_label="Any actor", label="Actor")
    since = django_filters.DateFilter(
        field_name="occurred_at",
        lookup_expr="date__gte",
        label="From (UTC)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    until = django_filters.DateFilter(
        field_name="occurred_at",
        lookup_expr="date__lte",
        label="To (UTC)",
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
    q = django_filters.CharFilter(method="search", label="Search")
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

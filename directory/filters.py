from __future__ import annotations

import django_filters
from django import forms

from accounts.models import IdentityCenterInstance
from directory import selectors
from directory.models import DirectoryGroup, DirectoryUser
from kiroconsole.filters import search_filter


class DirectoryUserFilter(django_filters.FilterSet):
    q = search_filter(method="search", help_text="User name, name or email")
    active = django_filters.BooleanFilter(
        widget=forms.Select(choices=[("", "Any status"), ("true", "Active"), ("false", "Deactivated")]), label="Status"
    )
    group = django_filters.ModelChoiceFilter(
        queryset=DirectoryGroup.objects.live(), method="in_group", empty_label="Any group", label="Group"
    )
    directory = django_filters.ModelChoiceFilter(
        queryset=IdentityCenterInstance.objects.all(),
        field_name="identity_center",
        empty_label="Any directory",
        label="Directory",
    )

    class Meta:
        model = DirectoryUser
        fields = ["q", "active", "group", "directory"]

    def search(self, queryset, name, value):
        return selectors.search_users(queryset, value)

    def in_group(self, queryset, name, value):
        return queryset.filter(memberships__group=value) if value else queryset


class DirectoryGroupFilter(django_filters.FilterSet):
    q = search_filter(method="search")
    directory = django_filters.ModelChoiceFilter(
        queryset=IdentityCenterInstance.objects.all(),
        field_name="identity_center",
        empty_label="Any directory",
        label="Directory",
    )

    class Meta:
        model = DirectoryGroup
        fields = ["q", "directory"]

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(display_name__icontains=value) if value else queryset

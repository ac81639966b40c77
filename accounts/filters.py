from __future__ import annotations

import django_filters
from django.db.models import Q

from accounts.models import AccountKind, AwsAccount, Partition, Region
from kiroconsole.filters import search_filter

YES_NO = [("true", "Yes"), ("false", "No")]


class YesNoAnyWidget(django_filters.widgets.BooleanWidget):
    """django-filter's yes/no select, with "Any" rather than "Unknown" for no filter, as the other filters say."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("", "Any"), *YES_NO]


class RegionFilter(django_filters.FilterSet):
    q = search_filter(method="search")
    partition = django_filters.ChoiceFilter(choices=Partition.choices, empty_label="Any")
    kiro_profiles = django_filters.BooleanFilter(label="Kiro profiles", widget=YesNoAnyWidget())
    identity_center = django_filters.BooleanFilter(label="Identity Center", widget=YesNoAnyWidget())

    class Meta:
        model = Region
        fields = ["q", "partition", "kiro_profiles", "identity_center"]

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(code__icontains=value) | Q(name__icontains=value)) if value else queryset


class AwsAccountFilter(django_filters.FilterSet):
    q = search_filter(method="search")
    kind = django_filters.ChoiceFilter(choices=AccountKind.choices, empty_label="Any")

    class Meta:
        model = AwsAccount
        fields = ["q", "kind"]

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(Q(account_id__startswith=value) | Q(name__icontains=value)) if value else queryset

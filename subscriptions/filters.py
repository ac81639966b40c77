from __future__ import annotations

import django_filters
from django.db.models import Q

from accounts.models import AwsAccount, Region
from kiroconsole.filters import search_filter
from subscriptions.models import Profile


class ProfileFilter(django_filters.FilterSet):
    q = search_filter(method="search")
    region = django_filters.ModelChoiceFilter(queryset=Region.objects.filter(kiro_profiles=True), empty_label="Any")
    account = django_filters.ModelChoiceFilter(
        queryset=AwsAccount.objects.all(), empty_label="Any", label="AWS account"
    )

    class Meta:
        model = Profile
        fields = ["q", "region", "account"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value) | Q(profile_id=value.upper()))

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field

import django_filters
from django import forms
from django.db.models import F, Q
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import AwsAccount, Region
from directory.models import DirectoryGroup, GroupMembership
from directory.selectors import search_users
from kiroconsole.filters import search_filter
from subscriptions.models import GroupAssignment, Profile, Subscription, SubscriptionStatus
from subscriptions.selectors import (
    InArray,
    subscriptions_of_users,
    users_of_directory,
    with_effective_tier,
    with_status,
)


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


# --- The Users and Groups tabs of a profile ----------------------------------------------------------------


@dataclass
class GroupChoice:
    """The group a `group` filter value names in the profile's directory (by id or by name): none if no live
    group has it."""

    text: str
    ids: list[uuid.UUID] = field(default_factory=list)
    name: str = ""


class ProfileGroupInput(forms.TextInput):
    """A text box with type-ahead: as you type, htmx fills its <datalist> with the profile's directory's groups
    whose name contains what was typed (a directory may have thousands of groups: no <select>)."""

    def __init__(self, suggest_url: str = ""):
        super().__init__(
            attrs={
                "autocomplete": "off",
                "placeholder": "Any group",
                "hx-get": suggest_url,
                "hx-trigger": "input changed delay:200ms",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
            }
        )

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        suggestions = f"{context['widget']['attrs'].get('id', name)}_suggestions"
        context["widget"]["attrs"].update({"list": suggestions, "hx-target": f"#{suggestions}"})
        return context

    def render(self, name, value, attrs=None, renderer=None):
        html = super().render(name, value, attrs, renderer)
        suggestions = f"{(attrs or {}).get('id', name)}_suggestions"
        return html + format_html('<datalist id="{}"></datalist>', suggestions)


class ProfileGroupField(forms.CharField):
    """A group of the profile's directory, named by its id (links from the Groups tab) or by its name as typed or
    picked from the suggestions; shown by its name either way."""

    def __init__(self, *, profile: Profile | None = None, **kwargs):
        self.profile = profile
        url = reverse("profile-group-suggest", args=[profile.profile_id]) if profile else ""
        kwargs["widget"] = ProfileGroupInput(url)
        super().__init__(**kwargs)

    def clean(self, value) -> GroupChoice | None:
        text = super().clean(value)
        if not text or self.profile is None:
            return None
        groups = DirectoryGroup.objects.live().filter(identity_center_id=self.profile.identity_center_id)
        try:
            groups = groups.filter(pk=uuid.UUID(text))
        except ValueError:
            groups = groups.filter(display_name__iexact=text)
        found = list(groups.values_list("pk", "display_name")[:2])
        self.choice = GroupChoice(text=text, ids=[pk for pk, _ in found], name=found[0][1] if found else "")
        return self.choice

    def prepare_value(self, value):
        choice = getattr(self, "choice", None)
        if choice and choice.name and isinstance(value, str) and value.strip() == choice.text:
            return choice.name
        return super().prepare_value(value)


class ProfileGroupFilter(django_filters.Filter):
    field_class = ProfileGroupField


class SubscriptionFilter(django_filters.FilterSet):
    """The Users tab's filters. Built with the profile (its directory's groups) and the tier catalogue."""

    q = search_filter(method="search")
    status = django_filters.ChoiceFilter(
        choices=SubscriptionStatus.choices, empty_label="Any status", method="by_status"
    )
    tier = django_filters.ChoiceFilter(method="by_tier", empty_label="Any tier", label="Tier")
    group = ProfileGroupFilter(method="in_group", label="Group")

    class Meta:
        model = Subscription
        fields = ["q", "status", "tier", "group"]

    def __init__(self, data=None, queryset=None, *, profile: Profile, tiers, now: datetime.datetime, **kwargs):
        super().__init__(data, queryset, **kwargs)
        self.profile, self.now = profile, now
        self.filters["tier"].extra["choices"] = [(tier.code, tier.name) for tier in tiers]
        self.filters["group"].extra["profile"] = profile

    def filter_queryset(self, queryset):
        """The search and the group first, so that they choose where the page starts (see `users_in`); then the
        other filters."""
        self.narrowed = False
        first = ("q", "group")
        for name in [*first, *(name for name in self.form.cleaned_data if name not in first)]:
            queryset = self.filters[name].filter(queryset, self.form.cleaned_data.get(name))
        return queryset

    def count(self) -> int:
        """The number of matching subscriptions, counted on the subscriptions alone (the page's join to the users
        is for its order), with the columns compared plainly so that the count reads an index: (profile, status,
        ...) for a status, (profile, tier, ...) and (profile, next tier, ...) for a tier, (profile, user) for the
        users of a search or a group."""
        queryset = Subscription.objects.filter(profile=self.profile)
        if not self.is_bound:
            return queryset.count()
        self.errors  # noqa: B018 (validates the form, as `qs` does)
        self.walk = False
        try:
            return self.filter_queryset(queryset).count()
        finally:
            self.walk = True

    walk = True  # the filters apply to the page's walk of the users in name order (see `count`)
    narrowed = False  # a search or a group has started the page from its users (see `users_in`)

    def search(self, queryset, name, value):
        if not value.strip():
            return queryset
        # Once per request: on SQLite, search_users asks the full-text index whether it narrows the term.
        if getattr(self, "_searched", (None,))[0] != value:
            self._searched = (value, search_users(users_of_directory(self.profile), value).values("pk"))
        return self.users_in(queryset, self._searched[1])

    def by_status(self, queryset, name, value):
        return with_status(queryset, value, walk=self.walk)

    def by_tier(self, queryset, name, value):
        return with_effective_tier(queryset, value, self.now, walk=self.walk)

    def in_group(self, queryset, name, value: GroupChoice):
        if not value.ids:
            return queryset.none()
        return self.users_in(queryset, GroupMembership.objects.filter(group__in=value.ids).values("user"))

    def users_in(self, queryset, users):
        """The subscriptions of some users (a search, a group): found from those users, by the (profile, user) index,
        rather than by walking every user of the directory (`queryset`, see `selectors.profile_subscriptions`): the
        first of these filters starts the page anew from its users (`selectors.subscriptions_of_users`)."""
        if not self.walk:  # counting: from the users, one look-up each (see `selectors.InArray`)
            return queryset.filter(InArray(F("user_id"), users), profile=self.profile)
        if self.narrowed:
            return queryset.filter(user__in=users)
        self.narrowed = True
        return subscriptions_of_users(self.profile, users, self.now)


class GroupAssignmentFilter(django_filters.FilterSet):
    q = search_filter(method="search")

    class Meta:
        model = GroupAssignment
        fields = ["q"]

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(group__display_name__icontains=value) if value else queryset

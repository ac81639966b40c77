from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import django_filters
from django import forms
from django.urls import reverse_lazy
from django.utils.html import format_html

from accounts.models import IdentityCenterInstance
from directory import selectors
from directory.models import DirectoryGroup, DirectoryUser
from kiroconsole.filters import search_filter


@dataclass
class GroupChoice:
    """The groups a `group` filter value names (none when no live group has that id or name)."""

    text: str
    ids: list[uuid.UUID] = field(default_factory=list)
    name: str = ""
    members: int = 0  # of all these groups together


class GroupInput(forms.TextInput):
    """A text box with type-ahead: as you type, htmx fills its <datalist> with the names of matching groups."""

    def __init__(self):
        super().__init__(
            attrs={
                "autocomplete": "off",
                "placeholder": "Any group",
                "hx-get": reverse_lazy("directory-group-suggest"),
                "hx-trigger": "input changed delay:200ms",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
            }
        )

    def render(self, name, value, attrs=None, renderer=None):
        suggestions = f"{(attrs or {}).get('id', name)}_suggestions"
        attrs = {**(attrs or {}), "list": suggestions, "hx-target": f"#{suggestions}"}
        return super().render(name, value, attrs, renderer) + format_html('<datalist id="{}"></datalist>', suggestions)


class GroupField(forms.CharField):
    """A group named by its id (a group page's "View members in the Users tab") or by its name, as typed or picked
    from the suggestions (case-insensitive); shown by its name either way."""

    widget = GroupInput

    def clean(self, value) -> GroupChoice | None:
        text = super().clean(value)
        if not text:
            return None
        groups = DirectoryGroup.objects.live()
        try:
            groups = groups.filter(pk=uuid.UUID(text))
        except ValueError:
            groups = groups.filter(display_name__iexact=text)
        found = list(groups.annotate(count=selectors.member_count()).values_list("pk", "display_name", "count"))
        self.choice = GroupChoice(
            text=text,
            ids=[pk for pk, _, _ in found],
            name=found[0][1] if found else "",
            members=sum(members for _, _, members in found),
        )
        return self.choice

    def prepare_value(self, value):
        choice = getattr(self, "choice", None)
        if choice and choice.name and isinstance(value, str) and value.strip() == choice.text:
            return choice.name
        return super().prepare_value(value)


class GroupFilter(django_filters.Filter):
    field_class = GroupField


class DirectoryUserFilter(django_filters.FilterSet):
    q = search_filter(method="search", help_text="User name, name or email")
    active = django_filters.BooleanFilter(
        widget=forms.Select(choices=[("", "Any status"), ("true", "Active"), ("false", "Deactivated")]), label="Status"
    )
    # Not a <select>: a directory may have thousands of groups (issue 4).
    group = GroupFilter(method="in_group", label="Group")
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

    def in_group(self, queryset, name, value: GroupChoice):
        if not value.ids:
            return queryset.none()
        return selectors.users_in_groups(queryset, value.ids, members=value.members)

    def known_count(self) -> int | None:
        """The number of results when the group is the only filter: its number of members, counted with the
        group (cheaper than counting the users joined to them); None otherwise."""
        data = self.form.cleaned_data if self.form.is_valid() else {}
        choice = data.get("group")
        if not choice or not choice.ids:
            return None
        if (data.get("q") or "").strip() or data.get("active") is not None or data.get("directory"):
            return None
        return choice.members


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

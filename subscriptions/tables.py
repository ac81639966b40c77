from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from subscriptions.models import Profile


class ProfileTable(tables.Table):
    name = tables.Column(linkify=lambda record: reverse("profile-detail", args=[record.profile_id]))
    region = tables.Column(accessor="region__code", verbose_name="Region")
    account = tables.Column(accessor="account__name", verbose_name="AWS account")
    identity_center = tables.Column(accessor="identity_center__name", verbose_name="Identity Center")
    profile_id = tables.Column(verbose_name="Profile id")
    created_at = tables.DateTimeColumn(verbose_name="Created (UTC)", format="Y-m-d", attrs={"td": {"class": "nowrap"}})

    class Meta:
        model = Profile
        fields = ["name", "region", "account", "identity_center", "profile_id", "created_at"]
        order_by = ("name",)
        empty_text = "No Kiro profiles yet. Create one for an AWS account in a Region where Kiro runs."

    def render_profile_id(self, value):
        return format_html("<code>{}</code>", value)

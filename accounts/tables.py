from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from accounts.models import AwsAccount, IdentityCenterInstance, Region


def yes_no(value: bool) -> str:
    return "Yes" if value else "No"


class RegionTable(tables.Table):
    code = tables.Column(verbose_name="Code")
    name = tables.Column()
    partition = tables.Column()
    opt_in = tables.BooleanColumn(verbose_name="Opt-in", yesno="Yes,No")
    kiro_profiles = tables.BooleanColumn(verbose_name="Kiro profiles", yesno="Yes,No")
    identity_center = tables.BooleanColumn(verbose_name="Identity Center", yesno="Yes,No")

    class Meta:
        model = Region
        fields = ["code", "name", "partition", "opt_in", "kiro_profiles", "identity_center"]
        order_by = ("code",)
        empty_text = "No Regions match these filters."

    def render_code(self, value):
        return format_html("<code>{}</code>", value)


class AwsAccountTable(tables.Table):
    name = tables.Column(linkify=lambda record: reverse("aws-account-detail", args=[record.account_id]))
    account_id = tables.Column(verbose_name="Account id")
    kind = tables.Column()
    profile_count = tables.Column(
        verbose_name="Kiro profiles", attrs={"td": {"class": "numeric"}, "th": {"class": "numeric"}}
    )
    created_at = tables.DateTimeColumn(verbose_name="Added (UTC)", format="Y-m-d", attrs={"td": {"class": "nowrap"}})

    class Meta:
        model = AwsAccount
        fields = ["name", "account_id", "kind", "profile_count", "created_at"]
        order_by = ("name",)
        empty_text = "No AWS accounts yet. Add the organization's management account first."

    def render_account_id(self, value):
        return format_html("<code>{}</code>", value)


class IdentityCenterTable(tables.Table):
    name = tables.Column(linkify=lambda record: reverse("identity-center-detail", args=[record.pk]))
    identity_store_id = tables.Column(verbose_name="Identity store id")
    region = tables.Column(verbose_name="Home Region", accessor="region__code")
    account = tables.Column(verbose_name="Account", accessor="account__name")
    kind = tables.Column()

    class Meta:
        model = IdentityCenterInstance
        fields = ["name", "identity_store_id", "region", "account", "kind"]
        order_by = ("name",)
        empty_text = "No Identity Center instances yet. Register the instance that holds your users."

    def render_identity_store_id(self, value):
        return format_html("<code>{}</code>", value)

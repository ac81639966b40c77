from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html

from kiroconsole.models import ApiToken, AuditEvent


class AuditEventTable(tables.Table):
    occurred_at = tables.DateTimeColumn(
        verbose_name="When (UTC)", format="Y-m-d H:i:s", attrs={"td": {"class": "nowrap"}}
    )
    actor_label = tables.Column(verbose_name="Who")
    source = tables.Column(verbose_name="Via")
    action = tables.Column(verbose_name="Action")
    target_label = tables.Column(verbose_name="Target", order_by=("target_type", "target_label"))
    remote_addr = tables.Column(verbose_name="Address", orderable=False)

    class Meta:
        model = AuditEvent
        fields = ["occurred_at", "actor_label", "source", "action", "target_label", "remote_addr"]
        order_by = ("-occurred_at",)
        empty_text = "No audit events match these filters."

    def render_action(self, record, value):
        url = reverse("audit-detail", args=[record.pk])
        return format_html('<a href="{}"><code>{}</code></a>', url, value)

    def render_target_label(self, record, value):
        return format_html('<span class="muted">{}</span> {}', record.target_type, value)


class ApiTokenTable(tables.Table):
    name = tables.Column()
    user = tables.Column(verbose_name="Console user", accessor="user__username")
    prefix = tables.Column(verbose_name="Token")
    created_at = tables.DateTimeColumn(
        verbose_name="Created (UTC)", format="Y-m-d H:i", attrs={"td": {"class": "nowrap"}}
    )
    expires_at = tables.DateTimeColumn(verbose_name="Expires (UTC)", format="Y-m-d", default="Never")
    last_used_at = tables.DateTimeColumn(verbose_name="Last used (UTC)", format="Y-m-d H:i", default="Never")
    status = tables.Column(empty_values=(), orderable=False)
    actions = tables.Column(empty_values=(), orderable=False, verbose_name="Actions")

    class Meta:
        model = ApiToken
        fields = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at", "status"]
        order_by = ("-created_at",)
        empty_text = "No API tokens yet. Create one for a script, Terraform or the metering service."

    def render_prefix(self, value):
        return format_html("<code>{}…</code>", value)

    def render_status(self, record):
        status = record.status
        return format_html('<span class="badge badge-{}">{}</span>', status, status.capitalize())

    def render_actions(self, record):
        if record.status != "active":
            return ""
        url = reverse("api-token-revoke", args=[record.pk])
        return format_html(
            '<a class="button button-small button-danger" href="{}">Revoke<span class="visually-hidden"> {}</span></a>',
            url,
            record.name,
        )

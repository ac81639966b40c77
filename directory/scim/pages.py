"""The console side of SCIM, on the Identity Center page (accounts renders it; the directory adds its panel through
accounts.signals.identity_center_panels, connected in directory/apps.py): the SCIM endpoint URL, the directory's
tokens (create, shown once; revoke) and the last provisioning activity, read from the audit events that SCIM
tokens of this directory recorded."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import IdentityCenterInstance
from directory import services
from directory.models import ScimToken
from kiroconsole.audit import Actor
from kiroconsole.errors import first_message
from kiroconsole.models import AuditEvent, Source
from kiroconsole.roles import Cap, requires

RECENT_TOKENS = 5  # revoked or expired tokens listed under the valid ones
RECENT_ACTIVITY = 8


def scim_endpoint(request) -> str:
    return request.build_absolute_uri(reverse("scim-root"))


def provisioning_activity(instance: IdentityCenterInstance, limit: int = RECENT_ACTIVITY) -> list[AuditEvent]:
    """The latest changes made through SCIM in this directory: audit events whose actor is one of its tokens."""
    token_ids = [str(pk) for pk in ScimToken.objects.filter(identity_center=instance).values_list("pk", flat=True)]
    if not token_ids:
        return []
    return list(
        AuditEvent.objects.filter(source=Source.SCIM, actor_token_id__in=token_ids)
        .order_by("-occurred_at", "-id")
        .only("occurred_at", "action", "target_label", "actor_label")[:limit]
    )


def identity_center_panel(sender, request, instance: IdentityCenterInstance, **kwargs) -> SafeString:
    """The SCIM panel of the Identity Center page (a receiver of accounts.signals.identity_center_panels)."""
    tokens = ScimToken.objects.filter(identity_center=instance).select_related("created_by")
    valid = list(tokens.valid())
    others = list(tokens.exclude(pk__in=[t.pk for t in valid])[:RECENT_TOKENS])
    html = render_to_string(
        "directory/scim/panel.html",
        {
            "instance": instance,
            "endpoint": scim_endpoint(request),
            "tokens": valid + others,
            "valid_count": len(valid),
            "may_create": len(valid) < len(ScimToken.SLOTS),
            "activity": provisioning_activity(instance),
        },
        request=request,
    )
    return mark_safe(html)  # noqa: S308 (rendered by the template engine, which escapes)  # nosec B308 B703


@requires(Cap.TOKENS_MANAGE)
@require_POST
@never_cache
def scim_token_create(request, pk):
    instance = get_object_or_404(IdentityCenterInstance, pk=pk)
    try:
        token, raw = services.scim_token_create(identity_center=instance, actor=Actor.from_request(request))
    except ValidationError as exc:
        messages.error(request, first_message(exc))
        return redirect("identity-center-detail", instance.pk)
    # Shown once: the page is not cached and the raw value is stored nowhere.
    return render(
        request,
        "directory/scim/token_created.html",
        {"instance": instance, "token": token, "raw": raw, "endpoint": scim_endpoint(request)},
    )


@requires(Cap.TOKENS_MANAGE)
@require_http_methods(["GET", "POST"])
def scim_token_revoke(request, pk, token_id: int):
    instance = get_object_or_404(IdentityCenterInstance, pk=pk)
    token = get_object_or_404(ScimToken.objects.filter(identity_center=instance), pk=token_id)
    if request.method == "POST":
        services.scim_token_revoke(token=token, actor=Actor.from_request(request))
        messages.success(
            request, f"SCIM token {token.prefix}… is revoked: identity provider requests with it now get 401."
        )
        return redirect("identity-center-detail", instance.pk)
    return render(request, "directory/scim/token_revoke.html", {"instance": instance, "token": token})

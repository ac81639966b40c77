from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from kiroconsole import selectors, services
from kiroconsole.audit import Actor
from kiroconsole.filters import ApiTokenFilter, AuditEventFilter
from kiroconsole.forms import ApiTokenForm
from kiroconsole.htmx_tables import table_page
from kiroconsole.models import AuditEvent
from kiroconsole.roles import Cap, has_cap, requires
from kiroconsole.tables import ApiTokenTable, AuditEventTable


@login_not_required
@never_cache
@require_GET
def healthz(request):
    """200 when the database answers, 503 otherwise (load balancers and CI probe this)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any database failure means unhealthy
        return JsonResponse({"status": "error", "database": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok", "database": connection.vendor})


@requires(Cap.VIEW)
@require_GET
def home(request):
    recent = selectors.audit_events()[:8] if has_cap(request.user, Cap.AUDIT_VIEW) else []
    return render(request, "kiroconsole/home.html", {"recent_events": recent})


@requires(Cap.AUDIT_VIEW)
@require_GET
def audit_list(request):
    filterset = AuditEventFilter(request.GET, queryset=selectors.audit_events())
    table = AuditEventTable(filterset.qs)
    return table_page(request, "kiroconsole/audit_list.html", table=table, filterset=filterset)


@requires(Cap.AUDIT_VIEW)
@require_GET
def audit_detail(request, pk: int):
    event = get_object_or_404(AuditEvent, pk=pk)
    return render(request, "kiroconsole/audit_detail.html", {"event": event})


@requires(Cap.TOKENS_MANAGE)
@require_GET
def api_token_list(request):
    filterset = ApiTokenFilter(request.GET, queryset=selectors.api_tokens())
    table = ApiTokenTable(filterset.qs)
    return table_page(request, "kiroconsole/api_token_list.html", table=table, filterset=filterset)


@requires(Cap.TOKENS_MANAGE)
@require_http_methods(["GET", "POST"])
@never_cache
def api_token_create(request):
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = services.api_token_create(
                user=form.cleaned_data["user"],
                name=form.cleaned_data["name"],
                expires_at=form.expires_at(),
                actor=Actor.from_request(request),
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            # Shown once: the page is not cached and the raw value is stored nowhere.
            return render(request, "kiroconsole/api_token_created.html", {"token": token, "raw": raw})
    return render(request, "kiroconsole/api_token_form.html", {"form": form})


@requires(Cap.TOKENS_MANAGE)
@require_http_methods(["GET", "POST"])
def api_token_revoke(request, pk: int):
    token = get_object_or_404(selectors.api_tokens(), pk=pk)
    if request.method == "POST":
        services.api_token_revoke(token=token, actor=Actor.from_request(request))
        messages.success(request, f"Token “{token.name}” ({token.prefix}…) is revoked. Calls with it now get 401.")
        return redirect("api-token-list")
    return render(request, "kiroconsole/api_token_revoke.html", {"token": token})


class LogoutView(auth_views.LogoutView):
    """Log out (POST) and say so on the log-in page."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are logged out.")
        return response


@login_not_required
def api_not_found(request):
    """Unknown paths under /api/ answer in the API's JSON error format, not an HTML page."""
    return JsonResponse({"detail": "Not Found"}, status=404)


def forbidden(request, exception=None):
    message = str(exception) if exception and str(exception) else "You may not open this page."
    return render(request, "403.html", {"message": message}, status=403)

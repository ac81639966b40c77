"""Log-in required everywhere by default, with htmx-aware redirects.

Pages need a logged-in user unless marked `@login_not_required` (the log-in page, /healthz). The JSON API and
SCIM authenticate with bearer tokens of their own and answer 401 themselves, so they are left to them.
An htmx request whose session has expired gets an `HX-Redirect` to the log-in page, so the browser goes
there instead of swapping a log-in form into a table.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect

TOKEN_AUTH_PREFIXES = ("/api/", "/scim/")


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith(TOKEN_AUTH_PREFIXES):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)

    def handle_no_permission(self, request, view_func):
        if request.headers.get("HX-Request") == "true":
            # Return to the page the user was on (HX-Current-URL), not to the fragment's URL.
            current = request.headers.get("HX-Current-URL", "")
            next_url = current.split("://", 1)[-1].partition("/")[2] if current else ""
            target = resolve_url(self.get_login_url(view_func))
            if next_url:
                target += "?" + urlencode({"next": "/" + next_url})
            return HttpResponseClientRedirect(target)
        return super().handle_no_permission(request, view_func)

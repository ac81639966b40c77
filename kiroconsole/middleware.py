"""Log-in required everywhere by default, with htmx-aware redirects; a lighter middleware stack for the JSON API.

Pages need a logged-in user unless marked `@login_not_required` (the log-in page, /healthz). The JSON API and
SCIM authenticate with bearer tokens of their own and answer 401 themselves, so they are left to them.
An htmx request whose session has expired gets an `HX-Redirect` to the log-in page, so the browser goes
there instead of swapping a log-in form into a table.

`TokenApiMiddleware` comes first: a request under /api/ goes through `settings.API_MIDDLEWARE` only (the
security headers, host validation) instead of the whole stack, whose session, CSRF, messages, htmx and log-in
throttling serve browsers and cost a metering event about a tenth of its time.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.contrib.auth.models import AnonymousUser
from django.core.handlers.base import BaseHandler
from django.core.handlers.exception import convert_exception_to_response
from django.shortcuts import resolve_url
from django.utils.module_loading import import_string
from django_htmx.http import HttpResponseClientRedirect

TOKEN_AUTH_PREFIXES = ("/api/", "/scim/")
API_PREFIX = "/api/"


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


class TokenApiMiddleware:
    """First in `MIDDLEWARE`. Requests under /api/ authenticate with a bearer token on every call (no session, no
    cookie, so no CSRF token), are JSON in and out, and never see a page: they go through `API_MIDDLEWARE` (security
    headers and host validation, in `MIDDLEWARE`'s order) and then the view, resolved and called as Django does.
    Every other request goes through the rest of `MIDDLEWARE`. The API's views must not use the session, messages
    or `request.htmx`; `request.user` is anonymous until the bearer token names its user."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.api_response = _chain(getattr(settings, "API_MIDDLEWARE", ()))

    def __call__(self, request):
        if request.path_info.startswith(API_PREFIX):
            request.user = AnonymousUser()
            return self.api_response(request)
        return self.get_response(request)


def _chain(paths):
    """A request handler: the middleware `paths` (plain ones: request, response and view hooks) around the view."""
    handler: Any = BaseHandler()  # filled as BaseHandler.load_middleware fills it, with `paths`
    handler._view_middleware = []
    handler._template_response_middleware = []
    handler._exception_middleware = []
    get_response = convert_exception_to_response(handler._get_response)
    for path in reversed(paths):
        middleware = import_string(path)(get_response)
        if hasattr(middleware, "process_view"):
            handler._view_middleware.insert(0, middleware.process_view)
        if hasattr(middleware, "process_template_response"):
            handler._template_response_middleware.append(middleware.process_template_response)
        if hasattr(middleware, "process_exception"):
            handler._exception_middleware.append(middleware.process_exception)
        get_response = convert_exception_to_response(middleware)
    return get_response

"""The Django admin for support staff: open to the roles holding Cap.ADMIN_SITE (administrator, support)."""

from functools import update_wrapper
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse

from kiroconsole.roles import Cap, denial_message, has_cap


class KiroAdminSite(admin.AdminSite):
    site_header = "Kiro console administration"
    site_title = "Kiro console admin"
    index_title = "Support tools"
    site_url = "/"

    def has_permission(self, request):
        return has_cap(request.user, Cap.ADMIN_SITE)

    def admin_view(self, view, cacheable=False):
        """A logged-in user without admin access gets the forbidden page, not a log-in loop."""
        inner = super().admin_view(view, cacheable)

        def guarded(request, *args, **kwargs):
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied(denial_message(request.user, Cap.ADMIN_SITE))
            return inner(request, *args, **kwargs)

        return update_wrapper(guarded, inner)

    def login(self, request, extra_context=None):
        """One log-in page for the whole console (throttled by django-axes)."""
        if request.user.is_authenticated:
            raise PermissionDenied(denial_message(request.user, Cap.ADMIN_SITE))
        next_url = request.GET.get("next", reverse("admin:index"))
        return redirect(reverse("login") + "?" + urlencode({"next": next_url}))

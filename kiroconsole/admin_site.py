"""The Django admin for support staff: open to the roles holding Cap.ADMIN_SITE (administrator, support)."""

from urllib.parse import urlencode

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse

from kiroconsole.roles import Cap, has_cap


class KiroAdminSite(admin.AdminSite):
    site_header = "Kiro console administration"
    site_title = "Kiro console admin"
    index_title = "Support tools"
    site_url = "/"

    def has_permission(self, request):
        return has_cap(request.user, Cap.ADMIN_SITE)

    def login(self, request, extra_context=None):
        """One log-in page for the whole console (throttled by django-axes)."""
        if request.user.is_authenticated:
            # Logged in but without admin access: the forbidden page, not a log-in loop.
            from django.core.exceptions import PermissionDenied

            from kiroconsole.roles import denial_message

            raise PermissionDenied(denial_message(request.user, Cap.ADMIN_SITE))
        next_url = request.GET.get("next", reverse("admin:index"))
        return redirect(reverse("login") + "?" + urlencode({"next": next_url}))

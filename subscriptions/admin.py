"""Django admin: profiles through the services; settings read-only here (administrators change them on the
settings page or the API, where each change is validated as a whole and audited); the model catalogue is
edited by superusers."""

from __future__ import annotations

from django.contrib import admin

from kiroconsole.admin import AuditedModelAdmin, ServiceModelAdmin
from subscriptions import services
from subscriptions.models import AiModel, Profile, ProfileSettings


@admin.register(Profile)
class ProfileAdmin(ServiceModelAdmin):
    list_display = ("name", "profile_id", "account", "region", "identity_center", "created_at", "deleted_at")
    list_filter = ("region", "account", ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "profile_id", "account__account_id", "account__name")
    list_select_related = ("account", "region", "identity_center")

    def get_readonly_fields(self, request, obj=None):
        base = ("profile_id", "created_at", "updated_at", "deleted_at")
        return (*base, "account", "region", "identity_center") if obj else base

    def service_save(self, request, obj, data, change):
        if change:
            profile = Profile.objects.get(pk=obj.pk)
            return services.profile_update(
                profile=profile, name=data["name"], description=data["description"], actor=self.actor(request)
            )
        return services.profile_create(
            account=data["account"],
            region=data["region"],
            identity_center=data["identity_center"],
            name=data["name"],
            description=data["description"],
            actor=self.actor(request),
        )

    def service_delete(self, request, obj):
        services.profile_delete(profile=obj, actor=self.actor(request))

    def get_deleted_objects(self, objs, request):
        """Deleting a profile only marks it deleted: its settings and history stay. So the confirmation lists the
        profile alone, and doesn't ask for the delete permission on the settings, which nobody has here."""
        objs = list(objs)
        return [str(obj) for obj in objs], {self.opts.verbose_name_plural: len(objs)}, set(), []


@admin.register(ProfileSettings)
class ProfileSettingsAdmin(admin.ModelAdmin):
    list_display = ("profile", "overage_enabled", "model_availability", "usage_dashboard", "updated_at")
    list_select_related = ("profile",)
    search_fields = ("profile__name", "profile__profile_id")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AiModel)
class AiModelAdmin(AuditedModelAdmin):
    list_display = ("name", "code", "credit_multiplier", "active", "position")
    list_editable = ()
    search_fields = ("name", "code")

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

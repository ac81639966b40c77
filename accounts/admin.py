"""Django admin for support staff: accounts and instances, written through the services (audited as `admin`)."""

from __future__ import annotations

from django.contrib import admin

from accounts import services
from accounts.models import AwsAccount, IdentityCenterInstance, Region
from kiroconsole.admin import ServiceModelAdmin


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    """The catalogue is seeded by a migration; superusers may correct it."""

    list_display = ("code", "name", "partition", "opt_in", "kiro_profiles", "identity_center")
    list_filter = ("partition", "opt_in", "kiro_profiles", "identity_center")
    search_fields = ("code", "name")

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AwsAccount)
class AwsAccountAdmin(ServiceModelAdmin):
    list_display = ("name", "account_id", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "account_id")

    def get_readonly_fields(self, request, obj=None):
        return ("account_id", "created_at") if obj else ("created_at",)

    def service_save(self, request, obj, data, change):
        if change:
            account = AwsAccount.objects.get(pk=obj.pk)
            return services.aws_account_update(
                account=account, name=data["name"], kind=data["kind"], actor=self.actor(request)
            )
        return services.aws_account_create(
            account_id=data["account_id"], name=data["name"], kind=data["kind"], actor=self.actor(request)
        )

    def service_delete(self, request, obj):
        services.aws_account_delete(account=obj, actor=self.actor(request))


@admin.register(IdentityCenterInstance)
class IdentityCenterAdmin(ServiceModelAdmin):
    list_display = ("name", "identity_store_id", "region", "account", "kind")
    list_filter = ("kind", "region")
    search_fields = ("name", "identity_store_id")
    list_select_related = ("region", "account")

    def get_readonly_fields(self, request, obj=None):
        return ("identity_store_id", "region", "account", "kind", "created_at") if obj else ("created_at",)

    def service_save(self, request, obj, data, change):
        if change:
            instance = IdentityCenterInstance.objects.get(pk=obj.pk)
            return services.identity_center_update(instance=instance, name=data["name"], actor=self.actor(request))
        return services.identity_center_create(
            identity_store_id=data["identity_store_id"],
            name=data["name"],
            region=data["region"],
            account=data["account"],
            kind=data["kind"],
            actor=self.actor(request),
        )

    def has_delete_permission(self, request, obj=None):
        return False

"""Django admin for support staff: look people up and fix records, always through the directory services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count

from directory import services
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership, ScimToken
from kiroconsole.admin import ServiceModelAdmin
from kiroconsole.audit import Actor
from kiroconsole.models import Source


class LiveFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("no", "Live"), ("yes", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


@admin.register(DirectoryUser)
class DirectoryUserAdmin(ServiceModelAdmin):
    list_display = ("user_name", "display_name", "email", "identity_center", "active", "deleted_at")
    list_filter = ("identity_center", "active", LiveFilter)
    search_fields = ("user_name", "email", "display_name")
    list_select_related = ("identity_center",)
    actions = ["deactivate", "reactivate"]

    def get_readonly_fields(self, request, obj=None):
        base = ("id", "created_at", "updated_at", "deleted_at")
        return (*base, "identity_center") if obj else base

    def service_save(self, request, obj, data, change):
        fields = {f: data[f] for f in services.USER_FIELDS if f in data}
        if change:
            return services.directory_user_update(
                user=DirectoryUser.objects.get(pk=obj.pk), actor=self.actor(request), **fields
            )
        return services.directory_user_create(
            identity_center=data["identity_center"], actor=self.actor(request), **fields
        )

    def service_delete(self, request, obj):
        services.directory_user_delete(user=obj, actor=self.actor(request))

    def _set_active(self, request, queryset, active: bool):
        changed = 0
        for user in queryset.filter(active=not active, deleted_at__isnull=True):
            services.directory_user_update(user=user, active=active, actor=self.actor(request))
            changed += 1
        messages.success(request, f"{'Reactivated' if active else 'Deactivated'} {changed} user(s).")

    @admin.action(description="Deactivate the selected users", permissions=["change"])
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, False)

    @admin.action(description="Reactivate the selected users", permissions=["change"])
    def reactivate(self, request, queryset):
        self._set_active(request, queryset, True)


@admin.register(DirectoryGroup)
class DirectoryGroupAdmin(ServiceModelAdmin):
    list_display = ("display_name", "identity_center", "member_count", "deleted_at")
    list_filter = ("identity_center", LiveFilter)
    search_fields = ("display_name", "description")
    list_select_related = ("identity_center",)

    def get_queryset(self, request):
        # One annotated query for the member counts, not one per row.
        return super().get_queryset(request).annotate(member_total=Count("memberships"))

    @admin.display(description="Members", ordering="member_total")
    def member_count(self, obj):
        return obj.member_total

    def get_readonly_fields(self, request, obj=None):
        base = ("id", "created_at", "updated_at", "deleted_at")
        return (*base, "identity_center") if obj else base

    def service_save(self, request, obj, data, change):
        fields = {f: data[f] for f in services.GROUP_FIELDS if f in data}
        if change:
            return services.directory_group_update(
                group=DirectoryGroup.objects.get(pk=obj.pk), actor=self.actor(request), **fields
            )
        return services.directory_group_create(
            identity_center=data["identity_center"], actor=self.actor(request), **fields
        )

    def service_delete(self, request, obj):
        services.directory_group_delete(group=obj, actor=self.actor(request))


@admin.register(GroupMembership)
class GroupMembershipAdmin(ServiceModelAdmin):
    list_display = ("group", "user", "created_at")
    list_filter = ("group__identity_center",)
    search_fields = ("group__display_name", "user__user_name", "user__email")
    list_select_related = ("group", "user")
    autocomplete_fields = ("group", "user")
    readonly_fields = ("created_at",)  # set by the service; a required field here would block every add

    def has_change_permission(self, request, obj=None):
        return False if obj is not None else super().has_change_permission(request, obj)

    def service_save(self, request, obj, data, change):
        group, user = data["group"], data["user"]
        services.group_members_add(group=group, users=[user], actor=self.actor(request))
        return GroupMembership.objects.get(group=group, user=user)

    def service_delete(self, request, obj):
        services.group_members_remove(group=obj.group, users=[obj.user], actor=self.actor(request))


@admin.register(ScimToken)
class ScimTokenAdmin(admin.ModelAdmin):
    """SCIM tokens, to look up (support) and revoke (administrators; support has no right on tokens). They are
    created on the Identity Center page or with create_scim_token, so the value is shown once."""

    list_display = ("prefix", "identity_center", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("identity_center", "revoked_at")
    search_fields = ("prefix", "identity_center__identity_store_id", "identity_center__name")
    list_select_related = ("identity_center",)
    readonly_fields = [f.name for f in ScimToken._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record stays for the audit trail

    @admin.action(description="Revoke the selected SCIM tokens", permissions=["change"])
    def revoke(self, request, queryset):
        actor = Actor.from_request(request, source=Source.ADMIN)
        for token in queryset:
            services.scim_token_revoke(token=token, actor=actor)
        messages.success(request, f"Revoked {queryset.count()} SCIM token(s).")

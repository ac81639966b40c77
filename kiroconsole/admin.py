from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.shortcuts import redirect

from kiroconsole import services
from kiroconsole.audit import Actor, audit_record, snapshot
from kiroconsole.forms import apply_service_errors
from kiroconsole.models import ApiToken, AuditEvent, Source, User


class AuditedModelAdmin(admin.ModelAdmin):
    """Records every add, change and delete made in the Django admin (source `admin`), with before and after.

    Domain apps' admins call their services instead; this is for the few core models edited here directly.
    """

    audit_exclude: tuple[str, ...] = ()

    def _actor(self, request) -> Actor:
        return Actor.from_request(request, source=Source.ADMIN)

    def _snapshot(self, obj) -> dict:
        data = snapshot(obj, exclude=self.audit_exclude)
        for field in obj._meta.many_to_many:
            if obj.pk:
                data[field.name] = sorted(str(o) for o in getattr(obj, field.name).all())
        return data

    def save_model(self, request, obj, form, change):
        request._audit_before = self._snapshot(type(obj).objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        model = obj._meta.model_name
        audit_record(
            actor=self._actor(request),
            action=f"{model}.{'change' if change else 'create'}",
            target=obj,
            before=getattr(request, "_audit_before", None),
            after=self._snapshot(obj),
        )

    def delete_model(self, request, obj):
        before = self._snapshot(obj)
        audit_record(actor=self._actor(request), action=f"{obj._meta.model_name}.delete", target=obj, before=before)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(User)
class ConsoleUserAdmin(AuditedModelAdmin, DjangoUserAdmin):
    audit_exclude = ("password",)
    list_display = ("username", "email", "role_label", "is_active", "last_login")
    list_filter = ("is_active", "groups")
    search_fields = ("username", "email", "first_name", "last_name")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Role")
    def role_label(self, obj):
        return obj.role or "—"


admin.site.unregister(Group)


@admin.register(Group)
class RoleGroupAdmin(AuditedModelAdmin, DjangoGroupAdmin):
    pass


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: nobody edits or deletes the audit trail."""

    list_display = (
        "occurred_at",
        "actor_label",
        "source",
        "action",
        "target_type",
        "target_label",
        "remote_addr",
    )
    # No date_hierarchy: it runs a DISTINCT over every event (2 s at 200,000 on SQLite, see bench audit_log).
    list_filter = ("source", "actor_type", ("occurred_at", admin.DateFieldListFilter))
    search_fields = ("actor_label", "target_label", "action", "target_id")
    show_full_result_count = False
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).defer("before", "after")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    readonly_fields = [f.name for f in ApiToken._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # created on the API tokens page or with create_api_token, so the value is shown once

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record stays for the audit trail

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset):
        actor = Actor.from_request(request, source=Source.ADMIN)
        for token in queryset:
            services.api_token_revoke(token=token, actor=actor)
        messages.success(request, f"Revoked {queryset.count()} token(s).")


class ServiceModelAdmin(admin.ModelAdmin):
    """A ModelAdmin that writes through the domain services (STYLE.md: no entry point writes a model directly).

    Subclasses implement `service_save(request, obj, data, change) -> obj` and `service_delete(request, obj)`.
    The service runs when the form is validated (inside the admin view's transaction), so its messages appear at
    the fields and nothing is written when it refuses; `save_model` then only hands the saved object on. These
    admins have no inlines, so a valid form is always saved.
    """

    def service_save(self, request, obj, data: dict, change: bool):
        raise NotImplementedError

    def service_delete(self, request, obj) -> None:
        raise NotImplementedError

    def actor(self, request) -> Actor:
        return Actor.from_request(request, source=Source.ADMIN)

    def get_form(self, request, obj=None, change=False, **kwargs):
        base = super().get_form(request, obj, change=change, **kwargs)
        model_admin = self

        class ServiceForm(base):  # type: ignore[valid-type, misc]
            def _post_clean(form):
                if form.errors or request.method != "POST":
                    return
                try:
                    form.service_result = model_admin.service_save(request, obj, form.cleaned_data, change)
                except ValidationError as exc:
                    apply_service_errors(form, exc)

        return ServiceForm

    def save_model(self, request, obj, form, change):
        saved = form.service_result
        # The admin names `obj` in its message and log entry: give it the saved values (the form never set them).
        for field in saved._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        pass  # the service saved everything, many-to-many included

    def delete_model(self, request, obj):
        self.service_delete(request, obj)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            opts = self.model._meta
            return redirect(f"admin:{opts.app_label}_{opts.model_name}_change", object_id)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location)
        actions.pop("delete_selected", None)  # deletions go one at a time, through the service
        return actions

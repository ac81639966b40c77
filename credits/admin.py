"""Django admin of the credits app, for support: usage events and balances are read-only (events are
append-only records, balances change only by metering); notifications are read-only too, except the "mark read"
action, which goes through the service (audited) and needs the change permission (administrators)."""

from __future__ import annotations

import datetime

from django.contrib import admin, messages
from django.utils import timezone

from credits import services
from credits.models import Balance, Notification, ProfileBalance, UsageEvent
from kiroconsole.audit import Actor
from kiroconsole.models import Source
from subscriptions.calendar import month_start

MONTHS_LISTED = 13  # events are refused before the previous month: a year back covers every month with records


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by whoever has the view permission (support, administrators); nobody adds, changes or deletes."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MonthFilter(admin.SimpleListFilter):
    """The (UTC) month a record counts in: the last months, from the clock (no query for the choices)."""

    title = "month"
    parameter_name = "month"
    field = "month"

    def lookups(self, request, model_admin):
        month = month_start(timezone.now()).date()
        choices = []
        for _ in range(MONTHS_LISTED):
            choices.append((f"{month:%Y-%m}", f"{month:%B %Y}"))
            month = (month - datetime.timedelta(days=1)).replace(day=1)
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        try:
            month = datetime.datetime.strptime(value, "%Y-%m").date()
        except ValueError:
            return queryset.none()
        return queryset.filter(**{self.field: month})


@admin.register(UsageEvent)
class UsageEventAdmin(ReadOnlyAdmin):
    list_display = (
        "occurred_at",
        "idempotency_key",
        "user",
        "profile",
        "credits",
        "outcome",
        "reason",
        "client_type",
        "model",
        "source",
    )
    list_filter = ("profile", "outcome", "client_type", MonthFilter)
    # The key exactly (the unique index), the user name by its start.
    search_fields = ("=idempotency_key", "^user__user_name")
    search_help_text = "An idempotency key (exactly) or the start of a user name."
    list_select_related = ("user", "profile")
    readonly_fields = [field.name for field in UsageEvent._meta.fields]
    list_per_page = 50
    show_full_result_count = False  # millions of rows: no second COUNT(*) of the whole table
    ordering = ("-occurred_at", "-id")


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ("subscription", "month", "allowance", "plan_used", "overage_used", "updated_at")
    list_filter = (("subscription__profile", admin.RelatedOnlyFieldListFilter), MonthFilter)
    search_fields = ("^subscription__user__user_name",)
    search_help_text = "The start of a user name."
    list_select_related = ("subscription__user", "subscription__profile")
    readonly_fields = [field.name for field in Balance._meta.fields]
    list_per_page = 50
    show_full_result_count = False

    @admin.display(description="allowance (credits)", ordering="allowance_hundredths")
    def allowance(self, obj):
        return f"{obj.allowance:,.2f}"

    @admin.display(description="plan credits", ordering="plan_hundredths")
    def plan_used(self, obj):
        return f"{obj.plan_used:,.2f}"

    @admin.display(description="overage credits", ordering="overage_hundredths")
    def overage_used(self, obj):
        return f"{obj.overage_used:,.2f}"


@admin.register(ProfileBalance)
class ProfileBalanceAdmin(ReadOnlyAdmin):
    list_display = ("profile", "month", "overage_used", "updated_at")
    list_filter = ("profile", MonthFilter)
    list_select_related = ("profile",)
    readonly_fields = [field.name for field in ProfileBalance._meta.fields]

    @admin.display(description="overage credits", ordering="overage_hundredths")
    def overage_used(self, obj):
        return f"{obj.overage_used:,.2f}"


class ReadFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "read"

    def lookups(self, request, model_admin):
        return [("no", "Unread"), ("yes", "Read")]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(read_at__isnull=True)
        if self.value() == "yes":
            return queryset.filter(read_at__isnull=False)
        return queryset


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "profile", "kind", "threshold", "message", "read_at")
    list_filter = (ReadFilter, "kind", "profile", MonthFilter)
    search_fields = ("message",)
    list_select_related = ("profile",)
    readonly_fields = [field.name for field in Notification._meta.fields]
    actions = ["mark_read"]
    list_per_page = 50

    def has_add_permission(self, request):
        return False  # raised by metering only

    def has_delete_permission(self, request, obj=None):
        return False  # kept: the record of what was alerted

    def has_change_permission(self, request, obj=None):
        # The action needs the change permission; a notification's own page is read-only.
        return False if obj is not None else super().has_change_permission(request)

    @admin.action(description="Mark as read", permissions=["change"])
    def mark_read(self, request, queryset):
        actor = Actor.from_request(request, source=Source.ADMIN)
        marked = sum(
            services.notification_mark_read(notification=n, actor=actor) for n in queryset.filter(read_at__isnull=True)
        )
        messages.success(request, f"Marked {marked} notification{'s' if marked != 1 else ''} read.")

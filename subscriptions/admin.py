"""Django admin: profiles through the services; settings read-only here (administrators change them on the
settings page or the API, where each change is validated as a whole and audited); the model and tier catalogues
are edited by superusers; subscriptions and group assignments change through their services (support acts on
them with the actions)."""

from __future__ import annotations

from collections import defaultdict

from django.contrib import admin, messages
from django.contrib.admin.options import Action, ActionLocation
from django.core.exceptions import ValidationError
from django.utils import timezone

from kiroconsole.admin import AuditedModelAdmin, ServiceModelAdmin
from kiroconsole.audit import Actor
from kiroconsole.models import Source
from subscriptions import services
from subscriptions.calendar import next_month_start
from subscriptions.models import (
    AiModel,
    GroupAssignment,
    Profile,
    ProfileSettings,
    Subscription,
    SubscriptionPeriod,
    SubscriptionStatus,
    Tier,
)
from subscriptions.selectors import assignment_member_count, with_effective_tier
from subscriptions.services.propagation import Changes


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


# --- Tiers, subscriptions and group assignments ---------------------------------------------------------------


@admin.register(Tier)
class TierAdmin(AuditedModelAdmin):
    """The tier catalogue (DOMAIN.md §3): data, edited by superusers only; everyone else reads it."""

    list_display = ("code", "name", "monthly_credits", "price", "rank")
    ordering = ("rank",)

    def get_readonly_fields(self, request, obj=None):
        return ("code",) if obj else ()  # the primary key: subscriptions and their history point at it

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class TierNowFilter(admin.SimpleListFilter):
    """The tier a subscription has now: a downgrade counts from its 1st."""

    title = "tier"
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        return list(Tier.objects.values_list("code", "name"))

    def queryset(self, request, queryset):
        code = self.value()
        return with_effective_tier(queryset, code, timezone.now()) if code else queryset


def _changes_text(changes: Changes) -> str:
    kinds = [f"{kind.replace('_', ' ')} {info['count']}" for kind, info in changes.summary().items()]
    return ", ".join(kinds) if kinds else "nothing changed"


class TierActionsMixin(admin.ModelAdmin):
    """A "Change plan to <tier>" action per tier of the catalogue (it is data, so they are made per request)."""

    def change_plan(self, request, queryset, tier: Tier) -> None:
        raise NotImplementedError

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location)
        if action_location != ActionLocation.CHANGE_LIST or not self.has_change_permission(request):
            return actions
        if not hasattr(request, "_tiers"):  # the admin asks for its actions several times per request
            request._tiers = list(Tier.objects.all())
        for tier in request._tiers:

            def change_plan(modeladmin, request, queryset, tier=tier):
                modeladmin.change_plan(request, queryset, tier)

            name = f"change_plan_{tier.code.lower()}"
            description = f"Change plan to {tier.name}"
            actions[name] = Action(change_plan, name, description, description, [ActionLocation.CHANGE_LIST])
        return actions


class SubscriptionPeriodInline(admin.TabularInline):
    """The history a past month is billed from: read-only."""

    model = SubscriptionPeriod
    fields = ("tier", "status", "starts_at", "ends_at")
    readonly_fields = fields
    ordering = ("starts_at", "id")
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Subscription)
class SubscriptionAdmin(TierActionsMixin):
    """Support looks subscriptions up by user name or email and acts on them with the services (the actions);
    the records themselves are read-only here."""

    list_display = (
        "user",
        "profile",
        "status",
        "tier_now",
        "next_tier_shown",
        "user_active",
        "subscribed_at",
        "last_active_at",
        "access_until",
    )
    list_filter = ("profile", "status", TierNowFilter)
    search_fields = ("user__user_name", "user__email")
    list_select_related = ("user", "profile")
    readonly_fields = [field.name for field in Subscription._meta.fields]
    inlines = [SubscriptionPeriodInline]
    actions = ["unsubscribe"]
    list_per_page = 50

    def has_add_permission(self, request):
        return False  # subscribe on the profile's pages, the API or import_subscriptions

    def has_delete_permission(self, request, obj=None):
        return False  # unsubscribe instead: the subscription and its history stay

    def has_change_permission(self, request, obj=None):
        # The actions need the change permission; a subscription's page is read-only.
        return False if obj is not None else super().has_change_permission(request)

    @admin.display(description="tier")
    def tier_now(self, obj):
        return obj.effective_tier_id()

    @admin.display(description="next tier")
    def next_tier_shown(self, obj):
        if obj.next_tier_id and obj.effective_tier_id() != obj.next_tier_id:
            return f"{obj.next_tier_id} from {obj.next_tier_from:%Y-%m-%d}"
        return "—"

    @admin.display(description="user active", boolean=True)
    def user_active(self, obj):
        return obj.user.active and obj.user.deleted_at is None

    def _by_profile(self, request, queryset) -> dict[Profile, list]:
        """The selected live subscriptions' users per profile; canceled ones are left out, with a message."""
        users: dict[Profile, list] = defaultdict(list)
        canceled = []
        for subscription in queryset.select_related("profile", "user").order_by("profile", "user__user_name"):
            if subscription.status == SubscriptionStatus.CANCELED:
                canceled.append(subscription.user.user_name)
            else:
                users[subscription.profile].append(subscription.user)
        if canceled:
            messages.warning(request, f"Left out, already canceled: {', '.join(canceled)}.")
        return users

    def _act(self, request, queryset, done: str, service) -> None:
        actor = Actor.from_request(request, source=Source.ADMIN)
        for profile, users in self._by_profile(request, queryset).items():
            try:
                changes = service(profile=profile, users=users, actor=actor)
            except ValidationError as exc:
                messages.error(request, f"{profile}: {' '.join(exc.messages)}")
                continue
            messages.success(request, f"{profile}: {len(users)} user(s) {done}; {_changes_text(changes)}.")

    @admin.action(description="Unsubscribe (access lasts until the 1st of next month)", permissions=["change"])
    def unsubscribe(self, request, queryset):
        until = f"{next_month_start(timezone.now()):%Y-%m-%d %H:%M} UTC"
        done = (
            f"unsubscribed, with access until {until} (they stay unsubscribed while their groups are assigned, "
            "until subscribed directly again)"
        )
        self._act(request, queryset, done, services.subscription_unsubscribe)

    def change_plan(self, request, queryset, tier: Tier) -> None:
        def service(**kwargs):
            return services.subscription_change_plan(tier=tier, **kwargs)

        self._act(request, queryset, f"changed to {tier.name} (up now, down from the 1st)", service)


@admin.register(GroupAssignment)
class GroupAssignmentAdmin(TierActionsMixin, ServiceModelAdmin):
    """Assign a group, change its plan or unassign it: each through its service, which subscribes the members."""

    list_display = ("group", "profile", "tier", "member_count", "assigned_at", "updated_at")
    list_filter = ("profile", "tier")
    search_fields = ("group__display_name",)
    list_select_related = ("group", "profile", "tier")
    autocomplete_fields = ("group",)
    actions = ["unassign"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_total=assignment_member_count())

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj):
        return obj.member_total

    def get_fields(self, request, obj=None):
        return ("profile", "group", "tier", "assigned_at", "updated_at") if obj else ("profile", "group", "tier")

    def get_readonly_fields(self, request, obj=None):
        return ("profile", "group", "assigned_at", "updated_at") if obj else ()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "profile":
            kwargs["queryset"] = Profile.objects.live()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def service_save(self, request, obj, data, change):
        if change:
            current = GroupAssignment.objects.select_related("profile", "group").get(pk=obj.pk)
            assignment, _ = services.group_change_plan(
                profile=current.profile, group=current.group, tier=data["tier"], actor=self.actor(request)
            )
            return assignment
        assignment, _ = services.group_assign(
            profile=data["profile"], group=data["group"], tier=data["tier"], actor=self.actor(request)
        )
        return assignment

    def service_delete(self, request, obj):
        services.group_unassign(profile=obj.profile, group=obj.group, actor=self.actor(request))

    def _each(self, request, queryset, done: str, service) -> None:
        for assignment in queryset.select_related("profile", "group"):
            label = f"{assignment.group} in {assignment.profile}"
            try:
                changes = service(assignment)
            except ValidationError as exc:
                messages.error(request, f"{label}: {' '.join(exc.messages)}")
                continue
            messages.success(request, f"{label}: {done}; {_changes_text(changes)}.")

    @admin.action(description="Unassign (members keep what their other sources give)", permissions=["delete"])
    def unassign(self, request, queryset):
        actor = self.actor(request)
        self._each(
            request,
            queryset,
            "unassigned",
            lambda a: services.group_unassign(profile=a.profile, group=a.group, actor=actor),
        )

    def change_plan(self, request, queryset, tier: Tier) -> None:
        actor = self.actor(request)
        self._each(
            request,
            queryset,
            f"changed to {tier.name}",
            lambda a: services.group_change_plan(profile=a.profile, group=a.group, tier=tier, actor=actor)[1],
        )

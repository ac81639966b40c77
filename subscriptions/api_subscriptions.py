"""API: a profile's subscriptions, group assignments and bill (CONTRACTS.md), through the subscription services.

Subscriptions are addressed by their user (`/profiles/{id}/subscriptions/{user_id}`) and group assignments by
their group, since there is at most one of each per profile. Unsubscribing keeps the subscription, Canceled, with
access until the 1st of next month (DOMAIN.md §4 rule 1); unassigning a group removes the assignment.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.utils import timezone
from ninja import Field, Query, Schema, Status
from ninja.errors import HttpError
from ninja.pagination import paginate
from pydantic import ConfigDict

from directory import selectors as directory_selectors
from kiroconsole.api import GuardedRouter, LimitOffsetPagination, api_actor, requires
from kiroconsole.roles import Cap
from subscriptions import selectors, selectors_api, services
from subscriptions.billing import profile_bill
from subscriptions.calendar import month_start, parse_month
from subscriptions.models import SubscriptionStatus

router = GuardedRouter(tags=["subscriptions"])

StatusName = Literal["PENDING", "ACTIVE", "CANCELED"]


class DirectSource(Schema):
    type: Literal["direct"]
    tier: str


class GroupSource(Schema):
    type: Literal["group"]
    group_id: UUID
    name: str
    tier: str


Source = Annotated[DirectSource | GroupSource, Field(discriminator="type")]


class SubscriptionOut(Schema):
    user_id: UUID
    user_name: str
    display_name: str
    email: str
    user_active: bool = Field(description="False for a deactivated or deleted user, who may not use credits.")
    status: StatusName
    tier: str = Field(description="The tier now (a downgrade counts from its 1st).")
    next_tier: str | None = Field(description="A pending downgrade, from `next_tier_from`.")
    next_tier_from: datetime | None
    sources: list[Source]
    subscribed_at: datetime
    activated_at: datetime | None
    canceled_at: datetime | None
    access_until: datetime | None
    last_active_at: datetime | None
    has_access: bool

    @staticmethod
    def resolve_user_name(obj) -> str:
        return obj.user.user_name

    @staticmethod
    def resolve_display_name(obj) -> str:
        return obj.user.display_name

    @staticmethod
    def resolve_email(obj) -> str:
        return obj.user.email

    @staticmethod
    def resolve_user_active(obj) -> bool:
        return obj.user.active and obj.user.deleted_at is None

    @staticmethod
    def resolve_tier(obj) -> str:
        return obj.effective_tier_id()

    @staticmethod
    def resolve_next_tier(obj) -> str | None:
        return obj.next_tier_id if obj.effective_tier_id() != obj.next_tier_id else None

    @staticmethod
    def resolve_next_tier_from(obj) -> datetime | None:
        return obj.next_tier_from if obj.effective_tier_id() != obj.next_tier_id else None

    @staticmethod
    def resolve_sources(obj) -> list:
        return selectors_api.sources(obj)

    @staticmethod
    def resolve_has_access(obj) -> bool:
        return obj.has_access()


class SubscriptionIn(Schema):
    model_config = ConfigDict(extra="forbid")

    user_id: UUID
    tier: str


class PlanIn(Schema):
    model_config = ConfigDict(extra="forbid")

    tier: str


class SubscriptionFilters(Schema):
    status: str | None = Field(None, description="PENDING, ACTIVE or CANCELED")
    tier: str | None = Field(None, description="a tier code: the tier now")
    group_id: UUID | None = Field(None, description="members of this group")
    q: str | None = Field(None, description="part of the user name, display name, names or email")


class AssignmentOut(Schema):
    group_id: UUID
    name: str
    tier: str
    member_count: int
    assigned_at: datetime
    updated_at: datetime
    note: str | None = Field(description="Set for a group without members.")

    @staticmethod
    def resolve_name(obj) -> str:
        return obj.group.display_name

    @staticmethod
    def resolve_tier(obj) -> str:
        return obj.tier_id

    @staticmethod
    def resolve_note(obj) -> str | None:
        if obj.member_count:
            return None
        return "The group has no members yet: each member it gains is subscribed at once."


class AssignmentIn(Schema):
    model_config = ConfigDict(extra="forbid")

    group_id: UUID
    tier: str


class BillLineOut(Schema):
    tier: str
    name: str
    seats: int
    unit_price: str
    amount: str


class BillOut(Schema):
    profile_id: str
    month: str
    currency: str
    price_multiplier: str
    lines: list[BillLineOut]
    seats: int
    overage_credits: str
    overage_amount: str
    total: str


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


@contextmanager
def _fields_named(**names: str) -> Iterator[None]:
    """The services name their fields as they take them (`users`, `group`): answer with the API's names."""
    try:
        yield
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        raise type(exc)({names.get(field, field): messages for field, messages in exc.message_dict.items()}) from exc


@contextmanager
def _saying_why() -> Iterator[None]:
    """A 404 of a subscription or an assignment says which is missing (a profile's 404 stays "Not Found")."""
    try:
        yield
    except Http404 as exc:
        raise HttpError(404, str(exc)) from exc


def _tier_code(code: str | None) -> str | None:
    return services.tier_by_code(code).code if code else None


def _status(value: str | None) -> str | None:
    if not value:
        return None
    if value.upper() not in SubscriptionStatus.values:
        raise ValidationError({"status": f"Unknown status {value!r}: choose one of PENDING, ACTIVE or CANCELED."})
    return value.upper()


# --- Subscriptions ---------------------------------------------------------------------------------------------


@router.get("/profiles/{profile_id}/subscriptions", response=list[SubscriptionOut], summary="A profile's subscriptions")
@requires(Cap.VIEW)
@paginate(LimitOffsetPagination)
def list_subscriptions(request, profile_id: str, filters: Query[SubscriptionFilters]):
    profile = selectors.profile_by_id(profile_id)
    groups = directory_selectors.groups().filter(identity_center_id=profile.identity_center_id)
    if filters.group_id is not None and not groups.filter(pk=filters.group_id).exists():
        raise ValidationError({"group_id": "No such group."})
    return selectors_api.subscriptions_filtered(
        profile,
        status=_status(filters.status),
        tier=_tier_code(filters.tier),
        group_id=filters.group_id,
        q=filters.q or "",
    )


@router.post(
    "/profiles/{profile_id}/subscriptions",
    response={201: SubscriptionOut, 200: SubscriptionOut},
    summary="Subscribe a user directly (201 new; 200 an existing subscription, re-subscribed or re-planned)",
)
@requires(Cap.SUBSCRIPTIONS_CHANGE)
def subscribe(request, profile_id: str, payload: SubscriptionIn):
    profile = selectors.profile_by_id(profile_id)
    user = directory_selectors.users().filter(pk=payload.user_id).first()
    if user is None:
        raise ValidationError({"user_id": "No such user."})
    with _fields_named(users="user_id"):
        changes = services.subscription_subscribe(
            profile=profile, users=user, tier=payload.tier, actor=api_actor(request)
        )
    created = user.user_name in changes.subscribed
    return Status(201 if created else 200, selectors_api.subscription_of(profile, user.pk))


@router.get("/profiles/{profile_id}/subscriptions/{user_id}", response=SubscriptionOut, summary="One subscription")
@requires(Cap.VIEW)
def get_subscription(request, profile_id: str, user_id: UUID):
    profile = selectors.profile_by_id(profile_id)
    with _saying_why():
        return selectors_api.subscription_of(profile, user_id)


def _live_subscription(profile_id: str, user_id: UUID):
    """The profile and a subscription that is not canceled, else 404 with the reason."""
    profile = selectors.profile_by_id(profile_id)
    with _saying_why():
        subscription = selectors_api.subscription_of(profile, user_id)
    if subscription.status == SubscriptionStatus.CANCELED:
        raise HttpError(
            404,
            f"{subscription.user.user_name} is not subscribed in this profile: the subscription was canceled on "
            f"{subscription.canceled_at:%Y-%m-%d} (access until {subscription.access_until:%Y-%m-%d %H:%M} UTC). "
            "Subscribe the user again with POST.",
        )
    return profile, subscription


@router.patch(
    "/profiles/{profile_id}/subscriptions/{user_id}",
    response=SubscriptionOut,
    summary="Change a user's plan: an upgrade applies now, a downgrade from the 1st",
)
@requires(Cap.SUBSCRIPTIONS_CHANGE)
def change_plan(request, profile_id: str, user_id: UUID, payload: PlanIn):
    profile, subscription = _live_subscription(profile_id, user_id)
    with _fields_named(users="user_id"):
        services.subscription_change_plan(
            profile=profile, users=subscription.user, tier=payload.tier, actor=api_actor(request)
        )
    return selectors_api.subscription_of(profile, user_id)


@router.delete(
    "/profiles/{profile_id}/subscriptions/{user_id}",
    response={204: None},
    summary="Unsubscribe a user: access lasts until the 1st of next month; its groups no longer count",
)
@requires(Cap.SUBSCRIPTIONS_CHANGE)
def unsubscribe(request, profile_id: str, user_id: UUID):
    profile, subscription = _live_subscription(profile_id, user_id)
    with _fields_named(users="user_id"):
        services.subscription_unsubscribe(profile=profile, users=subscription.user, actor=api_actor(request))
    return HttpResponse(status=204)


# --- Group assignments -----------------------------------------------------------------------------------------


@router.get(
    "/profiles/{profile_id}/group-assignments", response=list[AssignmentOut], summary="A profile's assigned groups"
)
@requires(Cap.VIEW)
@paginate(LimitOffsetPagination)
def list_assignments(request, profile_id: str, tier: str | None = None, q: str | None = None):
    return selectors_api.group_assignments_filtered(
        selectors.profile_by_id(profile_id), tier=_tier_code(tier), q=q or ""
    )


@router.post(
    "/profiles/{profile_id}/group-assignments",
    response={201: AssignmentOut},
    summary="Assign a group: each of its members is subscribed at the tier, and each member it gains",
)
@requires(Cap.SUBSCRIPTIONS_CHANGE)
def assign_group(request, profile_id: str, payload: AssignmentIn):
    profile = selectors.profile_by_id(profile_id)
    group = directory_selectors.groups().filter(pk=payload.group_id).first()
    if group is None:
        raise ValidationError({"group_id": "No such group."})
    with _fields_named(group="group_id"):
        services.group_assign(profile=profile, group=group, tier=payload.tier, actor=api_actor(request))
    return Status(201, selectors.group_assignment(profile, group.pk))


@router.get(
    "/profiles/{profile_id}/group-assignments/{group_id}", response=AssignmentOut, summary="One group assignment"
)
@requires(Cap.VIEW)
def get_assignment(request, profile_id: str, group_id: UUID):
    profile = selectors.profile_by_id(profile_id)
    with _saying_why():
        return selectors.group_assignment(profile, group_id)


@router.patch(
    "/profiles/{profile_id}/group-assignments/{group_id}",
    response=AssignmentOut,
    summary="Change an assigned group's tier: members move up now, down from the 1st",
)
@requires(Cap.SUBSCRIPTIONS_CHANGE)
def change_group_plan(request, profile_id: str, group_id: UUID, payload: PlanIn):
    profile = selectors.profile_by_id(profile_id)
    with _saying_why():
        assignment = selectors.group_assignment(profile, group_id)
    with _fields_named(group="group_id"):
        services.group_change_plan(profile=profile, group=assignment.group, tier=payload.tier, actor=api_actor(request))
    return selectors.group_assignment(profile, group_id)


@router.delete(
    "/profiles/{profile_id}/group-assignments/{group_id}",
    response={204: None},
    summary="Unassign a group: each member keeps what its other sources give, or is canceled",
)
@requires(Cap.SUBSCRIPTIONS_CHANGE)
def unassign_group(request, profile_id: str, group_id: UUID):
    profile = selectors.profile_by_id(profile_id)
    with _saying_why():
        assignment = selectors.group_assignment(profile, group_id)
    with _fields_named(group="group_id"):
        services.group_unassign(profile=profile, group=assignment.group, actor=api_actor(request))
    return HttpResponse(status=204)


# --- The bill --------------------------------------------------------------------------------------------------


@router.get(
    "/profiles/{profile_id}/bill",
    response=BillOut,
    summary="The billing preview of a month (default: this month): seats per tier, overage, total",
)
@requires(Cap.VIEW)
def bill(request, profile_id: str, month: str | None = None):
    profile = selectors.profile_by_id(profile_id)
    try:
        start = parse_month(month) if month is not None else month_start(timezone.now())
    except ValidationError as exc:
        raise ValidationError({"month": exc.messages}) from exc
    preview = profile_bill(profile, start)
    return {
        "profile_id": profile.profile_id,
        "month": preview.label,
        "currency": preview.currency,
        "price_multiplier": _money(preview.multiplier),
        "lines": [
            {
                "tier": line.tier.code,
                "name": line.tier.name,
                "seats": line.seats,
                "unit_price": _money(line.unit_price),
                "amount": _money(line.amount),
            }
            for line in preview.lines
        ],
        "seats": preview.seats,
        "overage_credits": _money(preview.overage_credits),
        "overage_amount": _money(preview.overage_amount),
        "total": _money(preview.total),
    }

"""Overage caps per user and per group (DOMAIN.md §5 rule 4); the profile's shared cap is a profile setting
(`subscriptions.services.profile_settings_update`). Each change is audited with the cap before and after."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from kiroconsole.audit import Actor, audit_record
from subscriptions.models import GroupAssignment, Subscription
from subscriptions.validators import parse_cap

__all__ = ["group_assignment_set_overage_cap", "subscription_set_overage_cap"]


def _cap(value: Any) -> Decimal | None:
    try:
        return parse_cap(value)
    except ValueError as error:
        raise ValidationError({"overage_cap": str(error)}) from None


def _text(cap: Decimal | None) -> str | None:
    return None if cap is None else f"{cap:.2f}"


def subscription_set_overage_cap(*, subscription: Subscription, cap: Any, actor: Actor) -> Subscription:
    """Set (or clear, with None) the user's own overage cap in credits a month; 0 means no overage."""
    new = _cap(cap)
    with transaction.atomic():
        current = Subscription.objects.select_for_update().select_related("user", "profile").get(pk=subscription.pk)
        if current.overage_cap != new:
            before = _text(current.overage_cap)
            current.overage_cap = new
            current.updated_at = timezone.now()
            current.save(update_fields=["overage_cap", "updated_at"])
            audit_record(
                actor=actor,
                action="subscription.overage_cap",
                target=current,
                before={"overage_cap": before, "user": current.user.user_name},
                after={"overage_cap": _text(new), "user": current.user.user_name},
            )
    return current


def group_assignment_set_overage_cap(*, assignment: GroupAssignment, cap: Any, actor: Actor) -> GroupAssignment:
    """Set (or clear) the overage cap of each member of an assigned group; a member of several capped groups
    gets the highest of their caps."""
    new = _cap(cap)
    with transaction.atomic():
        current = GroupAssignment.objects.select_for_update().select_related("group", "profile").get(pk=assignment.pk)
        if current.overage_cap != new:
            before = _text(current.overage_cap)
            current.overage_cap = new
            current.updated_at = timezone.now()
            current.save(update_fields=["overage_cap", "updated_at"])
            audit_record(
                actor=actor,
                action="group_assignment.overage_cap",
                target=current,
                before={"overage_cap": before, "group": current.group.display_name},
                after={"overage_cap": _text(new), "group": current.group.display_name},
            )
    return current

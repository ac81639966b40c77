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


def _set_cap(queryset, pk: Any, cap: Any, actor: Actor, action: str, naming: tuple[str, Any]) -> Any:
    """Lock the row, change its `overage_cap` if it differs, and audit the change with the row's name."""
    new = _cap(cap)
    with transaction.atomic():
        current = queryset.select_for_update(of=("self",)).get(pk=pk)  # the row alone, not what it joins
        if current.overage_cap != new:
            key, name_of = naming
            before = _text(current.overage_cap)
            current.overage_cap = new
            current.updated_at = timezone.now()
            current.save(update_fields=["overage_cap", "updated_at"])
            audit_record(
                actor=actor,
                action=action,
                target=current,
                before={"overage_cap": before, key: name_of(current)},
                after={"overage_cap": _text(new), key: name_of(current)},
            )
    return current


def subscription_set_overage_cap(*, subscription: Subscription, cap: Any, actor: Actor) -> Subscription:
    """Set (or clear, with None) the user's own overage cap in credits a month; 0 means no overage."""
    return _set_cap(
        Subscription.objects.select_related("user", "profile"),
        subscription.pk,
        cap,
        actor,
        "subscription.overage_cap",
        ("user", lambda sub: sub.user.user_name),
    )


def group_assignment_set_overage_cap(*, assignment: GroupAssignment, cap: Any, actor: Actor) -> GroupAssignment:
    """Set (or clear) the overage cap of each member of an assigned group; a member of several capped groups
    gets the highest of their caps."""
    return _set_cap(
        GroupAssignment.objects.select_related("group", "profile"),
        assignment.pk,
        cap,
        actor,
        "group_assignment.overage_cap",
        ("group", lambda assignment: assignment.group.display_name),
    )

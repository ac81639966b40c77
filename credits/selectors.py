"""Reads of the credits app: the querysets pages and the API show, and the balance check."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet, Sum
from django.http import Http404

from credits.models import Balance, Outcome, ProfileBalance, UsageEvent, hundredths_of
from kiroconsole.bulk import hot_cursor, instance_of
from subscriptions.models import Profile, ProfileSettings

CENT = Decimal("0.01")


PROFILE_FIELDS = ("id", "profile_id", "identity_center_id", "name", "deleted_at")


def metering_settings(profile_id: str) -> ProfileSettings:
    """The settings of a live profile with the profile itself, or 404: one plain SQL statement, as every usage
    event needs them (the ORM would spend longer building the query than the database running it)."""
    quote = connection.ops.quote_name
    settings_fields = [field.attname for field in ProfileSettings._meta.concrete_fields]
    columns = ", ".join(
        [f"s.{quote(ProfileSettings._meta.get_field(name).column)}" for name in settings_fields]  # type: ignore[union-attr,arg-type]
        + [f"p.{quote(Profile._meta.get_field(name).column)}" for name in PROFILE_FIELDS]  # type: ignore[union-attr,arg-type]
    )
    sql = (
        f"SELECT {columns} FROM {quote(ProfileSettings._meta.db_table)} s "  # noqa: S608  # nosec B608
        f"JOIN {quote(Profile._meta.db_table)} p ON p.id = s.profile_id "
        "WHERE p.profile_id = %s AND p.deleted_at IS NULL"
    )
    with hot_cursor() as cursor:
        cursor.execute(sql, [profile_id])
        row = cursor.fetchone()
    if row is None:
        raise Http404("No such Kiro profile.")
    settings = instance_of(ProfileSettings, settings_fields, row[: len(settings_fields)])
    settings.profile = instance_of(Profile, PROFILE_FIELDS, row[len(settings_fields) :])
    return settings


LIVE_PROFILES_KEPT = 10_000
_LIVE_PROFILES: dict[str, Profile] = {}  # profile id -> the profile as this process last found it live


def metering_profile(profile_id: str) -> tuple[Profile, ProfileSettings | None]:
    """A single event's profile, or 404: with its settings when they were read here (`metering_settings`), without
    them when this process has found the profile live before. Metering then reads the settings once for every
    single event recorded in the same transaction (`credits.services.metering._record_group`), and answers 404
    there if the profile was deleted since: one statement less per event."""
    known = _LIVE_PROFILES.get(profile_id)
    if known is not None:
        return known, None
    settings = metering_settings(profile_id)
    if len(_LIVE_PROFILES) >= LIVE_PROFILES_KEPT:
        _LIVE_PROFILES.clear()
    _LIVE_PROFILES[profile_id] = settings.profile
    return settings.profile, settings


def usage_events(profile: Profile) -> QuerySet[UsageEvent]:
    return UsageEvent.objects.filter(profile=profile).select_related("user")


def balance_mismatches(profile: Profile | None = None) -> list[str]:
    """Every balance that differs from the sum of its accepted events (and every sum without a balance), as
    sentences; empty when the books agree. Sums are taken per (subscription, month) and per (profile, month)."""
    events = UsageEvent.objects.exclude(outcome=Outcome.REJECTED)
    balances = Balance.objects.all()
    shared = ProfileBalance.objects.all()
    if profile is not None:
        events = events.filter(profile=profile)
        balances = balances.filter(subscription__profile=profile)
        shared = shared.filter(profile=profile)
    expected: dict[tuple[Any, Any], list[int]] = {}
    for sub_id, month, plan, overage in (
        events.filter(subscription__isnull=False)  # imported history of users without a subscription: no balance
        .values("subscription_id", "month")
        .annotate(plan=Sum("plan_credits"), overage=Sum("overage_credits"))
        .values_list("subscription_id", "month", "plan", "overage")
        .order_by()
    ):
        expected[(sub_id, month)] = [_h(plan), _h(overage)]
    problems = []
    for sub_id, month, plan, overage in balances.values_list(
        "subscription_id", "month", "plan_hundredths", "overage_hundredths"
    ):
        want = expected.pop((sub_id, month), [0, 0])
        if [plan, overage] != want:
            problems.append(
                f"subscription {sub_id} {month:%Y-%m}: balance {plan / 100:.2f} plan + {overage / 100:.2f} overage, "
                f"events {want[0] / 100:.2f} + {want[1] / 100:.2f}"
            )
    for (sub_id, month), (plan, overage) in expected.items():
        if plan or overage:
            problems.append(
                f"subscription {sub_id} {month:%Y-%m}: events {plan / 100:.2f} + {overage / 100:.2f}, no balance"
            )
    shared_expected = {
        (profile_id, month): _h(overage)
        for profile_id, month, overage in events.values("profile_id", "month")
        .annotate(overage=Sum("overage_credits"))
        .values_list("profile_id", "month", "overage")
        .order_by()
    }
    for profile_id, month, overage in shared.values_list("profile_id", "month", "overage_hundredths"):
        want_shared = shared_expected.get((profile_id, month), 0)
        if overage != want_shared:
            problems.append(
                f"profile {profile_id} {month:%Y-%m}: shared balance {overage / 100:.2f}, "
                f"events {want_shared / 100:.2f}"
            )
    return problems


def _h(value: Any) -> int:
    return hundredths_of(Decimal(str(value or 0)).quantize(CENT))


def profile_overage_credits(profile: Profile, start: datetime.datetime, end: datetime.datetime) -> Decimal:
    """Overage credits the profile used in the months from `start` to `end` (the bill's overage line), read from
    the profile's monthly balance: one row a month, whatever the number of events."""
    total = ProfileBalance.objects.filter(profile=profile, month__gte=start.date(), month__lt=end.date()).aggregate(
        total=Sum("overage_hundredths")
    )["total"]
    return Decimal(total or 0).scaleb(-2).quantize(CENT)

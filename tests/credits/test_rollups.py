"""Rollups (issue 8, item 1): kept in the metering transaction, equal to what the accepted events imply, rebuilt by
a command that proves they match; and the date ranges the usage pages read them over."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from credits.models import (
    ActiveUser,
    ActiveUserCount,
    DailyUsage,
    GroupDailyUsage,
    MonthlyUsage,
    Period,
    ProfileDailyUsage,
    UserMonthlyUsage,
)
from credits.services.rollups import rollups_differences, rollups_rebuild
from credits.usage import DateRange, date_range
from kiroconsole.models import AuditEvent
from subscriptions.services import profile_settings_update, subscription_change_plan
from tests.credits.conftest import ACTOR, event, record

UTC = datetime.UTC
D = datetime.date


def at(day: int, hour: int = 10, month: int = 11) -> str:
    return datetime.datetime(2026, month, day, hour, tzinfo=UTC).isoformat()


def stored(model, **filters):
    return {
        row[:-4]: row[-4:]
        for row in model.objects.filter(**filters).values_list(
            *[f for f in ("day", "month", "user__user_name", "client_type", "model", "tier_id") if _has(model, f)],
            "plan_hundredths",
            "overage_hundredths",
            "messages",
            "events",
        )
    }


def _has(model, name):
    return name.split("__")[0].removesuffix("_id") in {f.name for f in model._meta.get_fields()}


def counts(period):
    return {
        (row.start, row.client_type, row.tier): row.users
        for row in ActiveUserCount.objects.filter(period=period).order_by()
    }


def test_accepted_events_are_summed_per_day_user_client_type_model_and_tier(metered, clock):
    clock.set(2026, 11, 20, 12)  # subscribed on the 15th at noon; events on the 16th to the 18th
    ann, bob = metered.users["ann"], metered.users["bob"]
    record(
        metered.profile,
        event(ann, "10.25", occurred_at=at(16), messages=3),
        event(ann, "5", occurred_at=at(16, 11), messages=2),
        event(ann, "1", occurred_at=at(16, 12), client_type="KIRO_CLI"),
        event(ann, "2", occurred_at=at(17)),
        event(bob, "7", occurred_at=at(16), model="claude-sonnet-4.5"),
        event(metered.users["cat"], "3", occurred_at=at(16)),  # not subscribed: rejected, counts nowhere
    )
    assert stored(DailyUsage) == {
        (D(2026, 11, 16), "ann", "KIRO_IDE", "auto", "PRO"): (1525, 0, 5, 2),
        (D(2026, 11, 16), "ann", "KIRO_CLI", "auto", "PRO"): (100, 0, 1, 1),
        (D(2026, 11, 17), "ann", "KIRO_IDE", "auto", "PRO"): (200, 0, 1, 1),
        (D(2026, 11, 16), "bob", "KIRO_IDE", "claude-sonnet-4.5", "PRO_PLUS"): (700, 0, 1, 1),
    }
    assert stored(MonthlyUsage) == {
        (D(2026, 11, 1), "ann", "KIRO_IDE", "auto", "PRO"): (1725, 0, 6, 3),
        (D(2026, 11, 1), "ann", "KIRO_CLI", "auto", "PRO"): (100, 0, 1, 1),
        (D(2026, 11, 1), "bob", "KIRO_IDE", "claude-sonnet-4.5", "PRO_PLUS"): (700, 0, 1, 1),
    }
    assert stored(UserMonthlyUsage) == {
        (D(2026, 11, 1), "ann"): (1825, 0, 7, 4),
        (D(2026, 11, 1), "bob"): (700, 0, 1, 1),
    }
    assert stored(ProfileDailyUsage)[(D(2026, 11, 16), "KIRO_IDE", "auto", "PRO")] == (1525, 0, 5, 2)
    assert counts(Period.DAY) == {
        (D(2026, 11, 16), "", ""): 2,
        (D(2026, 11, 16), "KIRO_IDE", ""): 2,
        (D(2026, 11, 16), "KIRO_CLI", ""): 1,
        (D(2026, 11, 16), "", "PRO"): 1,
        (D(2026, 11, 16), "", "PRO_PLUS"): 1,
        (D(2026, 11, 17), "", ""): 1,
        (D(2026, 11, 17), "KIRO_IDE", ""): 1,
        (D(2026, 11, 17), "", "PRO"): 1,
    }
    assert counts(Period.WEEK)[(D(2026, 11, 16), "", "")] == 2  # Monday 16th and Tuesday 17th: one ISO week
    assert counts(Period.MONTH)[(D(2026, 11, 1), "KIRO_IDE", "")] == 2
    assert rollups_differences() == []


def test_overage_is_rolled_up_apart_from_plan_credits(metered, clock):
    clock.set(2026, 11, 20, 12)  # subscribed on the 15th at noon; events on the 16th to the 18th
    profile_settings_update(profile=metered.profile, changes={"overage_enabled": True}, actor=ACTOR)
    ann = metered.users["ann"]
    record(metered.profile, event(ann, "999", occurred_at=at(16)), event(ann, "4", occurred_at=at(16, 11)))
    assert stored(DailyUsage) == {(D(2026, 11, 16), "ann", "KIRO_IDE", "auto", "PRO"): (99900, 400, 2, 2)}
    assert rollups_differences() == []


def test_the_month_boundary_splits_days_weeks_and_months(metered, clock):
    clock.set(2026, 12, 1, 0, 3)
    ann = metered.users["ann"]
    record(
        metered.profile,
        event(ann, "1", occurred_at="2026-11-30T23:59:59.99Z"),
        event(ann, "2", occurred_at="2026-12-01T00:00:00Z"),
    )
    assert set(stored(MonthlyUsage)) == {
        (D(2026, 11, 1), "ann", "KIRO_IDE", "auto", "PRO"),
        (D(2026, 12, 1), "ann", "KIRO_IDE", "auto", "PRO"),
    }
    assert counts(Period.WEEK)[(D(2026, 11, 30), "", "")] == 1  # Monday 30th: both in one week, counted once
    assert counts(Period.MONTH) == {
        (D(2026, 11, 1), "", ""): 1,
        (D(2026, 11, 1), "KIRO_IDE", ""): 1,
        (D(2026, 11, 1), "", "PRO"): 1,
        (D(2026, 12, 1), "", ""): 1,
        (D(2026, 12, 1), "KIRO_IDE", ""): 1,
        (D(2026, 12, 1), "", "PRO"): 1,
    }


def test_an_upgrade_rolls_later_use_up_under_the_new_tier_and_counts_the_user_in_both(metered, clock):
    clock.set(2026, 11, 20, 12)  # subscribed on the 15th at noon; events on the 16th to the 18th
    ann = metered.users["ann"]
    record(metered.profile, event(ann, "1", occurred_at=at(16)))
    subscription_change_plan(profile=metered.profile, users=ann, tier="PRO_MAX", actor=ACTOR)
    record(metered.profile, event(ann, "1", occurred_at=at(17, 13)))
    assert counts(Period.MONTH) == {
        (D(2026, 11, 1), "", ""): 1,
        (D(2026, 11, 1), "KIRO_IDE", ""): 1,
        (D(2026, 11, 1), "", "PRO"): 1,
        (D(2026, 11, 1), "", "PRO_MAX"): 1,
    }
    assert rollups_differences() == []


def test_replays_add_nothing_to_the_rollups(metered, clock):
    clock.set(2026, 11, 20, 12)  # subscribed on the 15th at noon; events on the 16th to the 18th
    ann = metered.users["ann"]
    first = event(ann, "3", occurred_at=at(16), key="once")
    record(metered.profile, first)
    record(metered.profile, first)
    record(metered.profile, first, first)
    assert stored(DailyUsage) == {(D(2026, 11, 16), "ann", "KIRO_IDE", "auto", "PRO"): (300, 0, 1, 1)}
    assert ActiveUserCount.objects.get(period="M", client_type="", tier="").users == 1


def test_the_rebuild_command_restores_damaged_rollups_and_check_proves_it(metered, clock):
    clock.set(2026, 11, 20, 12)  # subscribed on the 15th at noon; events on the 16th to the 18th
    ann, bob = metered.users["ann"], metered.users["bob"]
    record(metered.profile, event(ann, "3", occurred_at=at(16)), event(bob, "4", occurred_at=at(18)))
    DailyUsage.objects.filter(user=ann).update(plan_hundredths=1)
    ActiveUser.objects.filter(user=bob).delete()
    ActiveUserCount.objects.update(users=9)
    GroupDailyUsage.objects.filter(group_key=metered.groups["Research"].pk).delete()
    with pytest.raises(CommandError, match="differ"):
        call_command("rebuild_rollups", "--check", stdout=StringIO(), stderr=StringIO())
    out = StringIO()
    call_command("rebuild_rollups", "--profile", metered.profile.profile_id, stdout=out)
    assert "DailyUsage 2" in out.getvalue()
    out = StringIO()
    call_command("rebuild_rollups", "--check", stdout=out)
    assert "agree" in out.getvalue()
    assert AuditEvent.objects.filter(action="usage.rollups_rebuild").count() == 1
    assert rollups_rebuild() == {
        "DailyUsage": 2,
        "MonthlyUsage": 2,
        "UserMonthlyUsage": 2,
        "ProfileDailyUsage": 2,
        "GroupDailyUsage": 3,  # ann in Engineering; bob in Engineering and Research
        "ActiveUser": 18,  # 2 users x 3 periods x (all, client type, tier)
        "ActiveUserCount": 14,  # days: 2 x 3; the week and the month: all, IDE, Pro, Pro+ each
    }


def test_an_unknown_profile_is_a_clear_error_of_the_rebuild_command(db):
    with pytest.raises(CommandError, match="No Kiro profile 'nope'"):
        call_command("rebuild_rollups", "--profile", "nope")


TODAY = D(2026, 11, 27)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("", "", DateRange(D(2026, 11, 1), D(2026, 11, 30))),
        ("2026-10-05", "2026-10-05", DateRange(D(2026, 10, 5), D(2026, 10, 5))),
        ("2026-02-10", "", DateRange(D(2026, 2, 10), D(2026, 2, 28))),
        ("", "2026-03-15", DateRange(D(2026, 3, 1), D(2026, 3, 15))),
    ],
)
def test_date_ranges_default_to_the_month(start, end, expected):
    assert date_range(start, end, today=TODAY) == expected


@pytest.mark.parametrize(
    ("start", "end", "field", "message"),
    [
        ("2026-11-31", "", "from", "not a date"),
        ("yesterday", "", "from", "not a date"),
        ("2026-11-20", "2026-11-02", "to", "swap the dates"),
        ("1999-12-01", "1999-12-31", "from", "too early"),
        ("2025-01-01", "2026-11-01", "to", "at most 366"),
        ("2028-01-01", "2028-01-02", "to", "more than a year ahead"),
    ],
)
def test_bad_date_ranges_are_clear_errors(start, end, field, message):
    with pytest.raises(ValidationError) as error:
        date_range(start, end, today=TODAY)
    assert message in " ".join(error.value.message_dict[field])


def test_a_range_splits_into_whole_months_and_partial_days():
    span = DateRange(D(2026, 9, 15), D(2026, 11, 30))
    assert span.whole_months() == [D(2026, 10, 1), D(2026, 11, 1)]
    assert span.partial_days() == [(D(2026, 9, 15), D(2026, 9, 30))]
    inside = DateRange(D(2026, 11, 3), D(2026, 11, 9))
    assert inside.whole_months() == [] and inside.partial_days() == [(D(2026, 11, 3), D(2026, 11, 9))]
    assert DateRange(D(2026, 12, 1), D(2027, 1, 31)).whole_months() == [D(2026, 12, 1), D(2027, 1, 1)]


def test_active_user_marks_are_written_only_when_a_daily_row_is_new(metered, clock):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    clock.set(2026, 11, 20, 12)
    ann = metered.users["ann"]
    record(metered.profile, event(ann, "1", occurred_at=at(16)))
    with CaptureQueriesContext(connection) as again:
        record(metered.profile, event(ann, "2", occurred_at=at(16, 11)))  # the same day, client type, model, tier
    assert not [q for q in again.captured_queries if "credits_activeuser" in q["sql"]]
    with CaptureQueriesContext(connection) as other_model:
        record(metered.profile, event(ann, "2", occurred_at=at(16, 12), model="claude-haiku-4.5"))
    assert [q for q in other_model.captured_queries if "INSERT INTO" in q["sql"] and "credits_activeuser" in q["sql"]]
    assert ActiveUserCount.objects.get(period="D", client_type="", tier="").users == 1
    assert rollups_differences() == []


@pytest.mark.parametrize("days", [1, 30])  # a few rows (statements kept per shape) and many (built for the batch)
def test_rollup_keys_keep_any_text_and_add_up_on_a_second_write(metered, days):
    """The upserts write their rows as PostgreSQL arrays of text (values on SQLite): quotes, backslashes, commas,
    braces, spaces, the word NULL and the empty string come back as written, and a second write of the same keys
    adds to the rows rather than making new ones."""
    from credits.services.rollups import Use, rollups_add

    ann, bob = metered.users["ann"], metered.users["bob"]
    models = ['we"ird', "back\\slash", "a,b", "{braced}", " spaced out ", "NULL", ""]
    uses = [
        Use(metered.profile.pk, user.pk, D(2026, 11, day), "KIRO_IDE", model, "PRO", 125, 10, 2)
        for day in range(1, days + 1)
        for user in (ann, bob)
        for model in models
    ]
    rollups_add(uses)
    rollups_add(uses)
    daily = {
        (row.day, row.user_id, row.model): (row.plan_hundredths, row.overage_hundredths, row.messages, row.events)
        for row in DailyUsage.objects.filter(profile=metered.profile)
    }
    assert len(daily) == days * 2 * len(models)
    assert {key[2] for key in daily} == set(models)
    assert set(daily.values()) == {(250, 20, 4, 2)}
    monthly = MonthlyUsage.objects.filter(profile=metered.profile, model='we"ird', user=ann).get()
    assert (monthly.plan_hundredths, monthly.events) == (250 * days, 2 * days)
    assert {row.model for row in GroupDailyUsage.objects.filter(profile=metered.profile)} == set(models)
    assert ActiveUserCount.objects.get(period=Period.MONTH, start=D(2026, 11, 1), client_type="", tier="").users == 2

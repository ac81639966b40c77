"""The tables metering writes with every event carry no index a query does not need (credits/models.py, the note
above the rollups; migration credits 0006): no foreign key's own index where a unique constraint or an index leads
with its column, and no index on a rollup's user alone. Each one more would be a page written per event."""

from __future__ import annotations

import pytest
from django.db import connection

from credits.models import (
    ActiveUser,
    ActiveUserCount,
    Balance,
    DailyUsage,
    GroupDailyUsage,
    MonthlyUsage,
    ProfileDailyUsage,
    UsageEvent,
    UserMonthlyUsage,
)

pytestmark = pytest.mark.django_db

WITHOUT_OWN_INDEX = [
    (UsageEvent, "profile"),
    (UsageEvent, "subscription"),
    (Balance, "subscription"),
    (DailyUsage, "profile"),
    (DailyUsage, "user"),
    (MonthlyUsage, "profile"),
    (MonthlyUsage, "user"),
    (UserMonthlyUsage, "profile"),
    (UserMonthlyUsage, "user"),
    (ProfileDailyUsage, "profile"),
    (GroupDailyUsage, "profile"),
    (ActiveUser, "profile"),
    (ActiveUser, "user"),
    (ActiveUserCount, "profile"),
]


def indexes(model) -> list[tuple[str, list[str]]]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return [(name, info["columns"]) for name, info in found.items() if info["index"] or info["unique"]]


@pytest.mark.parametrize(("model", "field"), WITHOUT_OWN_INDEX, ids=lambda v: getattr(v, "__name__", v))
def test_the_column_has_no_index_of_its_own_and_another_leads_with_it_where_reads_need_one(model, field):
    column = model._meta.get_field(field).column
    found = indexes(model)
    assert [name for name, columns in found if columns == [column]] == []
    leading = [name for name, columns in found if columns and columns[0] == column]
    if field != "user":  # a rollup's user is read with its profile: (profile, user, ...) serves it
        assert leading, f"no index leads with {model.__name__}.{column}"


@pytest.mark.parametrize("model", [DailyUsage, MonthlyUsage, UserMonthlyUsage])
def test_a_users_rollup_rows_of_a_profile_are_found_by_an_index(model):
    """The explorer, the report and the group moves read a user's rows within a profile, over any span: an index
    that leads with (profile, user) finds them without reading every other user's rows of the span."""
    profile, user = (model._meta.get_field(name).column for name in ("profile", "user"))
    assert any(columns[:2] == [profile, user] for _, columns in indexes(model))

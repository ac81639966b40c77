"""The usage the explorer, the API and the dashboard read (issue 8, item 3): from the rollups, equal to the sums
of the accepted events for every grouping, filter and kind of range (whole months, partial months, both)."""

from __future__ import annotations

import datetime
from collections import defaultdict

import pytest

from credits.models import Outcome, UsageEvent, hundredths_of
from credits.usage import GROUP_BY, NO_GROUP, DateRange, UsageFilters, UserRows, usage_by_user, usage_rows
from directory import services as directory
from tests.credits.conftest import ACTOR, event, record, use_in_november

D = datetime.date


@pytest.fixture
def used(metered, clock):
    """Usage of ann (Pro), bob and cat (Pro Max through Research) in November, read on 1 December."""
    return use_in_november(
        metered, clock, now=(2026, 12, 1, 12), bob_last="2026-11-30T23:00:00Z", cat_at="2026-11-28T09:00:00Z"
    )


def expected(profile, span: DateRange, group_by: str, members=None, **narrow) -> dict:
    """The same figures straight from the accepted events."""
    totals: dict = defaultdict(lambda: [0, 0, 0, 0])
    events = UsageEvent.objects.filter(profile=profile).exclude(outcome=Outcome.REJECTED).filter(**narrow)
    for e in events:
        day = e.occurred_at.astimezone(datetime.UTC).date()
        if not span.start <= day <= span.end:
            continue
        keys = {
            "day": [day],
            "user": [e.user_id],
            "group": (members or {}).get(e.user_id) or [None],
            "tier": [e.tier_id],
            "client_type": [e.client_type],
            "model": [e.model],
        }[group_by]
        for key in keys:
            t = totals[key]
            t[0] += hundredths_of(e.plan_credits)
            t[1] += hundredths_of(e.overage_credits)
            t[2] += e.messages
            t[3] += e.conversations
    return {k: tuple(v) for k, v in totals.items()}


def got(rows) -> dict:
    return {r.key: (r.plan_hundredths, r.overage_hundredths, r.messages, r.events) for r in rows}


SPANS = [
    DateRange(D(2026, 11, 1), D(2026, 11, 30)),  # a whole month: monthly rows
    DateRange(D(2026, 11, 17), D(2026, 11, 29)),  # part of a month: daily rows
    DateRange(D(2026, 10, 20), D(2026, 11, 30)),  # both
]


@pytest.mark.parametrize("group_by", list(GROUP_BY))
@pytest.mark.parametrize("span", SPANS, ids=["month", "days", "both"])
def test_every_grouping_equals_the_sums_of_the_accepted_events(used, group_by, span):
    members = {}
    for user in used.users.values():
        members[user.pk] = sorted(user.memberships.values_list("group_id", flat=True))
    assert got(usage_rows(used.profile, span, group_by)) == expected(used.profile, span, group_by, members)


def test_filters_narrow_the_rows(used):
    span = SPANS[0]
    ann, bob = used.users["ann"], used.users["bob"]
    rows = usage_rows(used.profile, span, "model", UsageFilters(user_id=ann.pk))
    assert got(rows) == expected(used.profile, span, "model", user=ann)
    research = used.groups["Research"]  # bob and cat
    rows = usage_rows(used.profile, span, "user", UsageFilters(group_id=research.pk))
    assert set(got(rows)) == {bob.pk, used.users["cat"].pk}
    rows = usage_rows(used.profile, span, "day", UsageFilters(client_type="KIRO_CLI"))
    assert got(rows) == expected(used.profile, span, "day", client_type="KIRO_CLI")
    rows = usage_rows(used.profile, span, "user", UsageFilters(tier="PRO_MAX", model="claude-sonnet-4.5"))
    assert got(rows) == {bob.pk: (875, 0, 2, 2)}


def test_labels_order_and_users_in_no_group(used):
    directory.group_members_remove(group=used.groups["Research"], users=[used.users["cat"]], actor=ACTOR)
    rows = usage_rows(used.profile, SPANS[0], "group")
    labels = [row.label for row in rows]
    assert labels == ["Engineering", "Research", NO_GROUP]  # most credits first: ann + bob, bob, cat
    users = usage_rows(used.profile, SPANS[0], "user")
    assert [row.label for row in users] == ["Ann (ann)", "Bob (bob)", "Cat (cat)"]
    assert users[0].credits == 1013 and users[0].overage_credits == 20  # the 3 credits after it fit the plan again
    days = usage_rows(used.profile, SPANS[0], "day")
    assert [row.label for row in days] == ["2026-11-16", "2026-11-18", "2026-11-20", "2026-11-28", "2026-11-30"]
    assert [row.label for row in usage_rows(used.profile, SPANS[0], "client_type")] == ["Kiro IDE", "Kiro CLI"]


def test_reading_usage_takes_one_query_per_rollup_table(used, django_assert_num_queries):
    with django_assert_num_queries(1):
        usage_rows(used.profile, SPANS[0], "user")
    with django_assert_num_queries(2):  # the groups' daily rows, whatever the range, then the groups' names
        usage_rows(used.profile, SPANS[2], "group")
    with django_assert_num_queries(1):
        usage_rows(used.profile, SPANS[2], "tier")


def test_a_limit_gives_the_first_rows_cut_by_the_database(used, django_assert_num_queries):
    everyone = usage_rows(used.profile, SPANS[0], "user")
    with django_assert_num_queries(1):
        top = usage_rows(used.profile, SPANS[0], "user", limit=2)
    assert got(top) == got(everyone[:2]) and [r.key for r in top] == [r.key for r in everyone[:2]]
    assert got(usage_rows(used.profile, SPANS[2], "model", limit=1)) == got(
        usage_rows(used.profile, SPANS[2], "model")[:1]
    )


SORTS = [
    [("credits", True), ("label", False)],  # the default: most credits first
    [("label", False)],
    [("label", True)],
    [("plan_credits", False), ("label", False)],
    [("overage_credits", True), ("label", True)],
    [("messages", True), ("label", False)],
    [("events", False), ("label", True)],
]


def python_sorted(rows, orders):
    rows = list(rows)
    for name, descending in reversed(orders):  # as the explorer's table sorts a list
        rows.sort(key=lambda row: getattr(row, name), reverse=descending)
    return rows


@pytest.fixture
def many(used, clock):
    """Usage of 30 more users with names whose code point order is not a dictionary's (capitals, accents), some
    with equal credits, some whose display name is their user name (labelled by the user name alone)."""
    names = [f"{'ABCdéfZz'[n % 8]}{n:02d}" for n in range(30)]
    users = []
    for n, name in enumerate(names):
        user = directory.directory_user_create(
            identity_center=used.ic,
            actor=ACTOR,
            user_name=name,
            display_name=name if n % 5 == 0 else f"{name[0]} person",
            given_name="Some",
            family_name="One",
            email=f"user{n}@example.com",
        )
        users.append(user)
    from subscriptions.services import subscription_subscribe

    clock.set(2026, 11, 29, 9)  # subscribed before their use
    subscription_subscribe(profile=used.profile, users=users, tier="PRO", actor=ACTOR)
    clock.set(2026, 11, 29, 11)
    record(
        used.profile,
        *(
            event(user, f"{1 + n % 4}", occurred_at="2026-11-29T10:00:00Z", messages=n % 3 + 1)
            for n, user in enumerate(users)
        ),
    )
    clock.set(2026, 12, 1, 12)
    return used


@pytest.mark.parametrize("span", [SPANS[0], SPANS[1]], ids=["month", "days"])
def test_usage_by_user_sorts_counts_and_pages_in_the_database_as_the_lists_do(many, span):
    listed = usage_rows(many.profile, span, "user")
    rows = usage_by_user(many.profile, span)
    assert isinstance(rows, UserRows)
    assert len(rows) == len(listed) == 33 and bool(rows)
    assert [(r.key, r.label, r.plan_hundredths, r.overage_hundredths, r.messages, r.events) for r in rows] == [
        (r.key, r.label, r.plan_hundredths, r.overage_hundredths, r.messages, r.events) for r in listed
    ]
    for orders in SORTS:
        rows.sort(orders)
        want = [row.label for row in python_sorted(listed, orders)]
        assert [row.label for row in rows] == want, orders
        assert [row.label for row in rows[5:12]] == want[5:12], orders
        assert rows[-1].label == want[-1] and rows[3].label == want[3]
    total = rows.total("Total")
    assert (total.plan_hundredths, total.overage_hundredths, total.messages, total.events) == tuple(
        map(sum, zip(*got(listed).values(), strict=True))
    )


def test_usage_by_user_with_filters_and_ranges_one_table_cannot_answer(many):
    research = many.groups["Research"]
    rows = usage_by_user(many.profile, SPANS[0], UsageFilters(group_id=research.pk))
    assert got(rows) == got(usage_rows(many.profile, SPANS[0], "user", UsageFilters(group_id=research.pk)))
    narrowed = usage_by_user(many.profile, SPANS[0], UsageFilters(client_type="KIRO_CLI"))
    assert got(narrowed) == expected(many.profile, SPANS[0], "user", client_type="KIRO_CLI")
    both = usage_by_user(many.profile, SPANS[2])  # partial October, whole November: merged in Python
    assert not isinstance(both, UserRows) and got(both) == expected(many.profile, SPANS[2], "user")
    empty = usage_by_user(many.profile, DateRange(D(2026, 9, 1), D(2026, 9, 30)))
    assert len(empty) == 0 and not empty and list(empty) == [] and empty[0:25] == []


def test_a_page_of_users_takes_a_constant_number_of_queries(many, django_assert_num_queries):
    rows = usage_by_user(many.profile, SPANS[0])
    with django_assert_num_queries(3):  # the count, a page, the total
        assert len(rows) == 33
        assert len(rows[25:50]) == 8
        rows.total("Total")

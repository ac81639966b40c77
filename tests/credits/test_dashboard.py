"""The usage dashboard of a profile (issue 8, items 2 and 6): its figures against sums computed straight from the
accepted usage events, the subscriptions per tier, the month-end projection, the date range form, the "usage
dashboard" setting, escaping, a constant query count and who may see it; and the summary on the profile overview.

`history`: ann (Pro) and bob (Pro+) subscribed on 2026-09-20 and used Kiro from September to November (ann beyond
her 1,000 credits in November: overage), cat (Pro) subscribed but never used it (pending); the clock at
2026-11-20 12:00 UTC, so November has 20 days elapsed of 30."""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from credits.dashboard import dashboard, period_starts
from credits.models import ActiveUserCount, Outcome, UsageEvent
from credits.services.rollups import period_start
from credits.usage import DateRange
from directory import services as directory
from subscriptions.models import Subscription, SubscriptionStatus, Tier
from subscriptions.services import (
    profile_settings_update,
    subscription_change_plan,
    subscription_record_activity,
    subscription_subscribe,
)
from tests.credits.conftest import ACTOR, event, record

UTC = datetime.UTC
HTMX = {"HX-Request": "true"}
# Session, user, roles, the header's alert count, profile, the setting, tiers, subscription counts, the daily usage
# rows, the active-user counters, top users (one or two rollup tables), this month's bill (tiers, periods, overage).
DASHBOARD_QUERIES = 15
RANGE = DateRange(datetime.date(2026, 9, 1), datetime.date(2026, 11, 30))
PERIOD_CODES = {"day": "D", "week": "W", "month": "M"}


def url(org, query: str = "") -> str:
    return f"/profiles/{org.profile.profile_id}/dashboard/" + (f"?{query}" if query else "")


def text(response) -> str:
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'").replace(" .", ".")


def at(month: int, day: int, hour: int = 10) -> str:
    return datetime.datetime(2026, month, day, hour, tzinfo=UTC).isoformat()


USES = [  # (user, credits, month, day, client type)
    ("ann", "10.25", 9, 21, "KIRO_IDE"),
    ("ann", "4", 9, 21, "KIRO_CLI"),
    ("bob", "7.5", 9, 22, "KIRO_IDE"),
    ("bob", "30", 9, 30, "KIRO_CLI"),
    ("ann", "12", 10, 1, "KIRO_IDE"),
    ("bob", "2", 10, 5, "KIRO_IDE"),
    ("bob", "3.33", 10, 6, "KIRO_CLI"),
    ("ann", "600", 11, 2, "KIRO_IDE"),
    ("ann", "400", 11, 9, "KIRO_CLI"),  # her 1,000 plan credits of November used up
    ("ann", "50", 11, 16, "KIRO_IDE"),  # overage
    ("ann", "50", 11, 17, "KIRO_CLI"),  # overage
    ("bob", "20", 11, 16, "KIRO_IDE"),
    ("bob", "1.01", 11, 19, "KIRO_CLI"),
]


@pytest.fixture
def history(org, clock):
    clock.set(2026, 9, 20, 9)
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=org.users["bob"], tier="PRO_PLUS", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=org.users["cat"], tier="PRO", actor=ACTOR)
    profile_settings_update(profile=org.profile, changes={"overage_enabled": True}, actor=ACTOR)
    for name, credits, month, day, client in USES:  # each reported as it happens
        clock.set(2026, month, day, 12)
        record(org.profile, event(org.users[name], credits, occurred_at=at(month, day), client_type=client))
    record(org.profile, event(org.users["dan"], "99", occurred_at=at(11, 19)))  # not subscribed: rejected
    clock.set(2026, 11, 20, 12)
    return org


def accepted(org):
    return list(
        UsageEvent.objects.filter(profile=org.profile)
        .exclude(outcome=Outcome.REJECTED)
        .values_list("occurred_at", "user_id", "client_type", "tier_id", "credits", "overage_credits")
    )


def expected_credits(org, period: str) -> tuple[dict, dict, dict]:
    """Credits per period start: in all, per (tier, start), per (client type, start), from the events alone."""
    total, by_tier, by_client = defaultdict(Decimal), defaultdict(Decimal), defaultdict(Decimal)
    for occurred, _, client, tier, credits, _ in accepted(org):
        start = period_start(PERIOD_CODES[period], occurred.astimezone(UTC).date())
        total[start] += credits
        by_tier[(tier, start)] += credits
        by_client[(client, start)] += credits
    return total, by_tier, by_client


def expected_users(org, period: str) -> tuple[dict, dict, dict]:
    """Distinct users per period start: in all, per (client type, start), per (tier, start)."""
    total, by_client, by_tier = defaultdict(set), defaultdict(set), defaultdict(set)
    for occurred, user, client, tier, _, _ in accepted(org):
        start = period_start(PERIOD_CODES[period], occurred.astimezone(UTC).date())
        total[start].add(user)
        by_client[(client, start)].add(user)
        by_tier[(tier, start)].add(user)
    return tuple({key: len(users) for key, users in cells.items()} for cells in (total, by_client, by_tier))


def cells(table, series: list) -> dict:
    return {(s.key, start): v for s in series for start, v in zip(table.starts, s.values, strict=True) if v}


# --- The figures ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_credits_per_period_by_tier_and_client_type_are_the_sums_of_the_accepted_events(history, clock, period):
    dash = dashboard(history.profile, RANGE, period, clock.now)
    total, by_tier, by_client = expected_credits(history, period)
    table = dash.credits
    assert table.starts == period_starts(RANGE, period)
    assert {s: v for s, v in zip(table.starts, table.total.values, strict=True) if v} == dict(total)
    assert cells(table, table.by_tier) == dict(by_tier)
    assert cells(table, table.by_client) == dict(by_client)
    assert [s.label for s in table.by_tier] == ["Pro", "Pro+"]
    assert [s.label for s in table.by_client] == ["Kiro IDE", "Kiro CLI"]
    assert dash.total_credits == sum(total.values()) == Decimal("1190.09")


@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_active_users_per_period_are_the_distinct_users_of_the_accepted_events(history, clock, period):
    dash = dashboard(history.profile, RANGE, period, clock.now)
    total, by_client, by_tier = expected_users(history, period)
    table = dash.active_users
    assert {s: v for s, v in zip(table.starts, table.total.values, strict=True) if v} == total
    assert cells(table, table.by_client) == by_client
    assert cells(table, table.by_tier) == by_tier
    if period == "month":  # both users in each month; both clients each month
        assert table.total.values == [2, 2, 2]


def test_weeks_and_months_the_range_touches_are_counted_whole(history, clock):
    """A range from Wednesday 2026-09-30 shows the ISO week of Monday 2026-09-28, and September, whole."""
    span = DateRange(datetime.date(2026, 9, 30), datetime.date(2026, 10, 1))
    week = dashboard(history.profile, span, "week", clock.now).active_users
    assert week.starts == [datetime.date(2026, 9, 28)]
    assert week.labels == ["W40 2026"]
    assert week.total.values == [2]  # bob on the 30th, ann on the 1st
    month = dashboard(history.profile, span, "month", clock.now).active_users
    assert month.starts == [datetime.date(2026, 9, 1), datetime.date(2026, 10, 1)]
    assert month.total.values == [2, 2]  # the counters of the whole months
    assert (
        ActiveUserCount.objects.filter(period="M", start=datetime.date(2026, 9, 1), client_type="", tier="").get().users
        == 2
    )


def test_top_users_and_overage_of_the_range(history, clock, viewer_client):
    dash = dashboard(history.profile, RANGE, "day", clock.now)
    spent = defaultdict(Decimal)
    overage = Decimal(0)
    for _, user, _, _, credits, over in accepted(history):
        spent[user] += credits
        overage += over
    assert [(row.key, row.credits) for row in dash.top_users] == sorted(spent.items(), key=lambda kv: -kv[1])
    assert overage == dash.overage_credits == Decimal("100.00")
    assert dash.overage_amount == Decimal("4.00")
    words = text(viewer_client.get(url(history, "from=2026-09-01&to=2026-11-30")))
    assert "Credits used 1,190.09 1,090.09 plan · 100.00 overage" in words
    assert "Overage spent $4.00 100.00 credits at $0.0400" in words
    html = viewer_client.get(url(history, "from=2026-09-01&to=2026-11-30")).content.decode()
    ann = history.users["ann"]
    assert f'<a href="/profiles/{history.profile.profile_id}/users/{ann.pk}/">Ann (ann)</a>' in html


def test_subscriptions_per_tier_count_active_and_pending_now(history, clock, viewer_client):
    dash = dashboard(history.profile, RANGE, "day", clock.now)
    counts = {t.code: (t.total, t.active, t.pending) for t in dash.subscriptions}
    assert counts == {"PRO": (2, 1, 1), "PRO_PLUS": (1, 1, 0), "PRO_MAX": (0, 0, 0), "POWER": (0, 0, 0)}
    statuses = {name: history.profile.subscriptions.get(user=history.users[name]).status for name in ("ann", "cat")}
    assert statuses == {"ann": SubscriptionStatus.ACTIVE, "cat": SubscriptionStatus.PENDING}
    words = text(viewer_client.get(url(history)))
    assert "Tier Total Active Pending Pro 2 1 1 Pro+ 1 1 0 Pro Max 0 0 0 Power 0 0 0 All tiers 3 2 1" in words


def test_month_end_projection_is_seats_plus_overage_so_far_spread_over_the_month(history, clock, viewer_client):
    projection = dashboard(history.profile, RANGE, "day", clock.now).projection
    # Seats: ann at Pro ($20) and bob at Pro+ ($40); cat is pending (free). 100 overage credits so far, on the
    # 20th of a 30-day month: 100 credits at $0.04 / 20 days * 30 days = $6.00.
    assert (projection.days_elapsed, projection.days_in_month, projection.seats) == (20, 30, 2)
    assert projection.seats_amount == Decimal("60.00")
    assert (projection.overage_credits, projection.overage_amount) == (Decimal("100.00"), Decimal("4.00"))
    assert projection.projected_overage_credits == Decimal("150.00")
    assert projection.projected_overage_amount == Decimal("6.00")
    assert projection.total == Decimal("66.00")
    words = text(viewer_client.get(url(history)))
    assert "Projected month end $66.00" in words
    assert "$4.00 so far ÷ 20 days elapsed (today included) × 30 days = $6.00" in words  # noqa: RUF001


def test_the_projection_keeps_its_seats_while_the_subscriptions_stay_and_shows_a_change_at_once(history, clock):
    first = dashboard(history.profile, RANGE, "day", clock.now).projection
    with CaptureQueriesContext(connection) as again:
        assert dashboard(history.profile, RANGE, "day", clock.now).projection == first
    assert "subscriptions_subscriptionperiod" not in str(again.captured_queries)  # the seats came from the cache
    clock.set(2026, 11, 20, 13)
    subscription_change_plan(profile=history.profile, users=history.users["ann"], tier="POWER", actor=ACTOR)
    clock.set(2026, 11, 20, 14)
    upgraded = dashboard(history.profile, RANGE, "day", clock.now).projection
    # ann's seat is now at Power ($200) for the whole month (rule 4: an upgrade bills the month at the higher tier).
    assert (upgraded.seats, upgraded.seats_amount) == (2, Decimal("240.00"))
    record(history.profile, event(history.users["cat"], "1", occurred_at=clock.now.isoformat()))  # cat: Active
    assert dashboard(history.profile, RANGE, "day", clock.now).projection.seats == 3


def test_a_change_stamped_earlier_than_the_latest_one_still_shows(history, clock):
    """A writer that read the clock before another one but commits after it (it waited for the lock) leaves the
    latest `updated_at` as it was: the stamp still moves, since the subscription changed status."""
    assert dashboard(history.profile, RANGE, "day", clock.now).projection.seats == 2
    cat = Subscription.objects.get(profile=history.profile, user=history.users["cat"])
    clock.set(2026, 10, 1, 9)  # earlier than the latest change (the history's November events)
    assert subscription_record_activity(subscription_id=cat.pk, at=clock.now)
    clock.set(2026, 11, 20, 12)
    assert dashboard(history.profile, RANGE, "day", clock.now).projection.seats == 3


def test_a_new_tier_rank_counts_the_seats_again(history, clock):
    first = dashboard(history.profile, RANGE, "day", clock.now).projection
    Tier.objects.filter(code="PRO").update(rank=99)  # a superuser's edit in the admin: no subscription changes
    with CaptureQueriesContext(connection) as again:
        dashboard(history.profile, RANGE, "day", clock.now)
    assert "subscriptions_subscriptionperiod" in str(again.captured_queries) and first.seats == 2


def test_the_default_range_is_this_month_and_the_period_switch_keeps_it(history, viewer_client):
    html = viewer_client.get(url(history)).content.decode()
    assert 'name="from" value="2026-11-01"' in html and 'name="to" value="2026-11-30"' in html
    assert "01 Nov 2026 to 30 Nov 2026" in html
    assert 'href="?from=2026-11-01&amp;to=2026-11-30&amp;period=week"' in html
    words = text(viewer_client.get(url(history, "from=2026-09-01&to=2026-11-30&period=month")))
    assert "Credits consumed per month" in words
    assert "Sep 2026 51.75 14.25 37.50 17.75 34.00" in words  # all; Pro, Pro+; IDE, CLI
    assert "Nov 2026 1,121.01 1,100.00 21.01 670.00 451.01" in words


# --- The form ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        (
            "from=2026-11-30&to=2026-11-01",
            "to",
            "The range ends (2026-11-01) before it starts (2026-11-30): swap the dates.",
        ),
        (
            "from=2026-13-01&to=2026-11-01",
            "from",
            "'2026-13-01' is not a date: write it as YYYY-MM-DD, like 2026-11-20.",
        ),
        ("from=2024-01-01&to=2026-11-01", "to", "The range is 1036 days long: at most 366."),
    ],
)
def test_a_bad_range_is_said_at_its_field_with_a_200_page(history, viewer_client, query, field, message):
    response = viewer_client.get(url(history, query))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="dashboard-{field}-error" role="alert"' in html
    assert message in text(response)
    assert "Fix the dates above to see the figures" in text(response)
    assert 'class="chart"' not in html


def test_a_range_without_usage_shows_the_empty_state(history, viewer_client):
    words = text(viewer_client.get(url(history, "from=2026-01-01&to=2026-01-31")))
    assert (
        "No usage between 1 Jan 2026 and 31 Jan 2026: events posted to the metering API appear here at once." in words
    )
    assert "Active users per day" not in words
    assert "Subscriptions per tier" in words  # the current state is still shown


def test_htmx_gets_the_body_fragment(history, viewer_client):
    response = viewer_client.get(url(history, "from=2026-10-01&to=2026-10-31&period=week"), headers=HTMX)
    html = response.content.decode()
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="dashboard-body"')
    assert "Credits consumed per ISO week" in html
    assert "HX-Request" in response["Vary"]


def test_the_user_activity_report_form_points_at_the_report(history, viewer_client):
    html = viewer_client.get(url(history)).content.decode()
    assert f'action="/profiles/{history.profile.profile_id}/user-activity-report/"' in html
    assert '<label for="report-date">Day (UTC)</label>' in html
    assert '<option value="KIRO_CLI">Kiro CLI</option>' in html


# --- Escaping, the setting, queries, access ------------------------------------------------------------------


def test_names_are_escaped_in_the_top_users_table_and_the_chart(history, viewer_client):
    directory.directory_user_update(user=history.users["ann"], actor=ACTOR, display_name="<script>alert(1)</script>")
    html = viewer_client.get(url(history)).content.decode()
    assert "<script>alert(1)" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt; (ann)") >= 3  # table, chart label, chart tooltips


def test_with_the_setting_off_a_notice_replaces_the_figures_and_no_usage_is_read(history, viewer_client):
    profile_settings_update(profile=history.profile, changes={"usage_dashboard": False}, actor=ACTOR)
    with CaptureQueriesContext(connection) as queries:
        response = viewer_client.get(url(history))
    assert response.status_code == 200
    words = text(response)
    assert "The usage dashboard is off for this profile" in words
    assert "Administrators can turn it on in the profile's settings ; ask one of them." in words
    assert f'href="/profiles/{history.profile.profile_id}/settings/#usage-dashboard"' in response.content.decode()
    assert "Credits used" not in words and 'class="chart"' not in response.content.decode()
    read = " ".join(q["sql"] for q in queries.captured_queries)
    assert "credits_" not in read.replace("credits_notification", "")
    assert "subscriptions_subscription" not in read


def test_the_page_reads_a_constant_number_of_queries(
    history, clock, viewer_client, django_assert_max_num_queries, django_assert_num_queries
):
    query = "from=2026-09-01&to=2026-11-30"
    with django_assert_max_num_queries(DASHBOARD_QUERIES) as few:
        assert viewer_client.get(url(history, query)).status_code == 200
    assert "UsageEvent" not in str(few.captured_queries) and "credits_usageevent" not in str(few.captured_queries)
    people = [
        directory.directory_user_create(
            identity_center=history.profile.identity_center,
            actor=ACTOR,
            user_name=f"user{i}",
            display_name=f"User {i}",
            given_name="User",
            family_name=str(i),
            email=f"user{i}@example.com",
        )
        for i in range(15)
    ]
    clock.set(2026, 9, 20, 9)
    subscription_subscribe(profile=history.profile, users=people, tier="POWER", actor=ACTOR)
    for month, day in ((9, 25), (10, 3), (10, 17), (11, 4), (11, 18)):
        clock.set(2026, month, day, 12)
        record(
            history.profile,
            *[
                event(person, "1.5", occurred_at=at(month, day), client_type=client)
                for person in people
                for client in ("KIRO_IDE", "KIRO_CLI")
            ],
        )
    clock.set(2026, 11, 20, 12)
    with django_assert_num_queries(len(few)):
        response = viewer_client.get(url(history, query))
    assert "Top 10 users by credits" in text(response)
    with django_assert_max_num_queries(DASHBOARD_QUERIES):
        assert viewer_client.get(url(history, query + "&period=week")).status_code == 200


def test_viewers_may_see_the_dashboard_and_the_metering_role_may_not(history, viewer_client, client, metering_user):
    assert viewer_client.get(url(history)).status_code == 200
    client.force_login(metering_user)
    assert client.get(url(history)).status_code == 403
    client.logout()
    assert client.get(url(history))["Location"].startswith("/login/")
    assert viewer_client.get("/profiles/NOSUCH/dashboard/").status_code == 404
    assert viewer_client.post(url(history)).status_code == 405


def test_the_profile_tabs_link_the_dashboard(history, viewer_client):
    html = viewer_client.get(url(history)).content.decode()
    assert f'<a href="/profiles/{history.profile.profile_id}/dashboard/" aria-current="page">Dashboard</a>' in html


# --- The profile overview ------------------------------------------------------------------------------------


def test_the_overview_summarizes_this_month_and_links_the_dashboard(history, viewer_client):
    words = text(viewer_client.get(f"/profiles/{history.profile.profile_id}/"))
    assert "Usage in November 2026 Open the usage dashboard →" in words
    assert "Credits used 1,121.01 Active users 2 Overage credits 100.00" in words


def test_the_overview_has_no_summary_when_the_setting_is_off(history, viewer_client):
    profile_settings_update(profile=history.profile, changes={"usage_dashboard": False}, actor=ACTOR)
    with CaptureQueriesContext(connection) as queries:
        words = text(viewer_client.get(f"/profiles/{history.profile.profile_id}/"))
    assert "Open the usage dashboard" not in words
    assert "credits_profiledailyusage" not in " ".join(q["sql"] for q in queries.captured_queries)

"""Chargeback (issue 8, item 4): a month's bill, seats and overage, attributed to groups (credits/chargeback.py).

The rule: each user's seat and overage go to ONE line: the assigned group giving the user its tier (highest tier,
ties to the alphabetically first name), or "Direct subscriptions (no group)". The lines add up to the bill.

The clock of tests/subscriptions/conftest.py is at 2026-11-15 12:00 UTC; `org` has Engineering (ann, bob) and
Research (bob, cat), unassigned; overage is off until a test turns it on."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.test import Client

from credits.chargeback import DIRECT_LABEL, ChargebackLine, _share_overage_amounts, chargeback, charged_group
from directory import services as directory
from subscriptions.billing import profile_bill
from subscriptions.calendar import parse_month
from subscriptions.services import (
    group_assign,
    profile_settings_update,
    subscription_subscribe,
    subscription_unsubscribe,
)
from tests.credits.conftest import ACTOR, event, record
from tests.credits.test_pages import text
from tests.factories import DirectoryUserFactory, ProfileFactory

NOVEMBER, OCTOBER = parse_month("2026-11"), parse_month("2026-10")
PAGE_QUERIES = 12  # session, user, roles, profile, the header's count (page only), the bill's 3, the chargeback's 4


def url(profile, suffix: str = "chargeback/") -> str:
    return f"/profiles/{profile.profile_id}/{suffix}"


def overage_on(profile) -> None:
    profile_settings_update(profile=profile, changes={"overage_enabled": True}, actor=ACTOR)


def use(profile, user, *amounts) -> None:
    for amount in amounts:
        result = record(profile, event(user, amount))
        assert result.status == "accepted", result


def summary(result) -> dict[str, tuple]:
    """label -> (seats per tier code, seat amount, overage credits, overage amount, total)."""
    return {
        line.label: (line.seats, line.seat_amount, line.overage_credits, line.overage_amount, line.total)
        for line in result.lines
    }


def assert_adds_up_to_the_bill(profile, month) -> None:
    result, bill = chargeback(profile, month), profile_bill(profile, month)
    assert sum((line.total for line in result.lines), Decimal("0.00")) == bill.total
    assert result.totals.total == bill.total
    assert sum(line.seat_count for line in result.lines) == bill.seats
    assert sum((line.overage_credits for line in result.lines), Decimal("0.00")) == bill.overage_credits
    assert result.reconciled


@pytest.fixture
def teams(org):
    """Engineering (ann, bob) at Pro, Research (bob, cat) at Pro+, overage on; every member has used Kiro, bob 150
    credits beyond his Pro+ allowance (2,000)."""
    overage_on(org.profile)
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO_PLUS", actor=ACTOR)
    use(org.profile, org.users["ann"], "10")
    use(org.profile, org.users["bob"], "2000", "150")
    use(org.profile, org.users["cat"], "5")
    return org


# --- The rule ------------------------------------------------------------------------------------------------


def test_a_user_in_two_assigned_groups_is_charged_to_the_higher_tier_group_with_the_overage(teams):
    assert summary(chargeback(teams.profile, NOVEMBER)) == {
        "Engineering": ({"PRO": 1}, Decimal("20.00"), Decimal("0.00"), Decimal("0.00"), Decimal("20.00")),
        "Research": ({"PRO_PLUS": 2}, Decimal("80.00"), Decimal("150.00"), Decimal("6.00"), Decimal("86.00")),
    }
    assert_adds_up_to_the_bill(teams.profile, NOVEMBER)


def test_a_tie_between_groups_goes_to_the_alphabetically_first(org):
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO_PLUS", actor=ACTOR)
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO_PLUS", actor=ACTOR)
    use(org.profile, org.users["bob"], "1")
    assert summary(chargeback(org.profile, NOVEMBER)) == {
        "Engineering": ({"PRO_PLUS": 1}, Decimal("40.00"), Decimal("0.00"), Decimal("0.00"), Decimal("40.00")),
    }


def test_alphabetical_order_ignores_case():
    groups = [(2, "beta", "b"), (2, "Alpha", "a"), (2, "alpine", "c"), (1, "Aardvark", "d")]
    assert charged_group(None, groups) == "a"
    assert charged_group(None, []) is None


def test_direct_subscriptions_go_to_the_direct_line(org):
    eve = directory.directory_user_create(
        identity_center=org.ic,
        actor=ACTOR,
        user_name="eve",
        display_name="Eve",
        given_name="Eve",
        family_name="Tester",
        email="eve@example.com",
    )
    subscription_subscribe(profile=org.profile, users=eve, tier="PRO_MAX", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)  # no group assigned
    use(org.profile, eve, "1")
    use(org.profile, org.users["ann"], "1")
    assert summary(chargeback(org.profile, NOVEMBER)) == {
        DIRECT_LABEL: (
            {"PRO": 1, "PRO_MAX": 1},
            Decimal("120.00"),
            Decimal("0.00"),
            Decimal("0.00"),
            Decimal("120.00"),
        ),
    }
    assert chargeback(org.profile, NOVEMBER).lines[0].group is None


def test_a_direct_tier_higher_than_every_group_goes_to_the_direct_line_with_its_overage(org):
    overage_on(org.profile)
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO_PLUS", actor=ACTOR)
    use(org.profile, org.users["ann"], "2000", "25")
    use(org.profile, org.users["bob"], "1")
    assert summary(chargeback(org.profile, NOVEMBER)) == {
        "Engineering": ({"PRO": 1}, Decimal("20.00"), Decimal("0.00"), Decimal("0.00"), Decimal("20.00")),
        DIRECT_LABEL: ({"PRO_PLUS": 1}, Decimal("40.00"), Decimal("25.00"), Decimal("1.00"), Decimal("41.00")),
    }
    assert [line.label for line in chargeback(org.profile, NOVEMBER)] == ["Engineering", DIRECT_LABEL]
    assert_adds_up_to_the_bill(org.profile, NOVEMBER)


def test_a_direct_tier_equal_to_a_groups_goes_to_the_group(org):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    use(org.profile, org.users["ann"], "1")
    assert list(summary(chargeback(org.profile, NOVEMBER))) == ["Engineering"]


def test_memberships_are_taken_as_they_are_now(teams):
    """bob leaves Research: his month (billed at Pro+, the highest tier he held) goes to Engineering now."""
    directory.group_members_remove(group=teams.groups["Research"], users=[teams.users["bob"]], actor=ACTOR)
    lines = summary(chargeback(teams.profile, NOVEMBER))
    assert lines["Engineering"][:4] == ({"PRO": 1, "PRO_PLUS": 1}, Decimal("60.00"), Decimal("150.00"), Decimal("6.00"))
    assert lines["Research"][:3] == ({"PRO_PLUS": 1}, Decimal("40.00"), Decimal("0.00"))
    assert_adds_up_to_the_bill(teams.profile, NOVEMBER)


def test_a_canceled_user_in_no_assigned_group_goes_to_the_direct_line(org):
    subscription_subscribe(profile=org.profile, users=org.users["cat"], tier="PRO", actor=ACTOR)
    use(org.profile, org.users["cat"], "1")
    subscription_unsubscribe(profile=org.profile, users=org.users["cat"], actor=ACTOR)
    assert list(summary(chargeback(org.profile, NOVEMBER))) == [DIRECT_LABEL]
    assert_adds_up_to_the_bill(org.profile, NOVEMBER)


def test_pending_subscriptions_and_empty_months_charge_nothing(teams):
    subscription_subscribe(profile=teams.profile, users=teams.users["ann"], tier="POWER", actor=ACTOR)
    assert chargeback(teams.profile, OCTOBER).lines == []
    assert chargeback(teams.profile, OCTOBER).totals.total == Decimal("0.00")
    assert_adds_up_to_the_bill(teams.profile, OCTOBER)


# --- The sum equals the bill ----------------------------------------------------------------------------------


def test_overage_cents_are_shared_so_the_lines_add_up_to_the_rounded_total():
    lines = [ChargebackLine(group=None, overage_credits=Decimal("0.13")) for _ in range(3)]
    _share_overage_amounts(lines, Decimal("0.048"))  # 0.00624 each, 0.01872 in all: 0.02
    assert sorted(line.overage_amount for line in lines) == [Decimal("0.00"), Decimal("0.01"), Decimal("0.01")]


def test_govcloud_chargeback_adds_up_to_the_bill_to_the_cent(db, clock):
    """GovCloud: prices times 1.2 ($24 a Pro seat, $0.048 an overage credit). Three groups of one user, each 0.13
    credits beyond the allowance: rounding each line (0.00624 → 0.01) would make 0.03; the bill says 0.02."""
    profile = ProfileFactory(name="Gov", region="us-gov-west-1")
    overage_on(profile)
    for name in ("Alpha", "Bravo", "Charlie"):
        user = DirectoryUserFactory(identity_center=profile.identity_center, user_name=name.lower())
        group = directory.directory_group_create(
            identity_center=profile.identity_center, actor=ACTOR, display_name=name
        )
        directory.group_members_add(group=group, users=[user], actor=ACTOR)
        group_assign(profile=profile, group=group, tier="PRO", actor=ACTOR)
        use(profile, user, "1000", "0.13")
    bill = profile_bill(profile, NOVEMBER)
    assert (bill.total, bill.overage_amount) == (Decimal("72.02"), Decimal("0.02"))
    result = chargeback(profile, NOVEMBER)
    assert [line.seat_amount for line in result] == [Decimal("24.00")] * 3
    assert sorted(line.overage_amount for line in result) == [Decimal("0.00"), Decimal("0.01"), Decimal("0.01")]
    assert_adds_up_to_the_bill(profile, NOVEMBER)


def test_many_users_in_many_groups_add_up_to_the_bill(org):
    overage_on(org.profile)
    ic = org.ic
    groups = [
        directory.directory_group_create(identity_center=ic, actor=ACTOR, display_name=f"Team {n}") for n in range(4)
    ]
    users = [DirectoryUserFactory(identity_center=ic) for _ in range(24)]
    for n, group in enumerate(groups):
        directory.group_members_add(group=group, users=users[n * 5 : n * 5 + 9], actor=ACTOR)  # overlapping
        group_assign(profile=org.profile, group=group, tier=["PRO", "PRO_PLUS", "PRO_PLUS", "POWER"][n], actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=users[20:], tier="PRO_MAX", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=users[:3], tier="POWER", actor=ACTOR)
    for n, user in enumerate(users):
        use(org.profile, user, "900", f"{n * 37 % 500 + 0.37:.2f}", "1700", "8000.01")
    assert_adds_up_to_the_bill(org.profile, NOVEMBER)
    labels = [line.label for line in chargeback(org.profile, NOVEMBER)]
    assert labels == ["Team 0", "Team 1", "Team 2", "Team 3", DIRECT_LABEL]


# --- The page and the CSV -------------------------------------------------------------------------------------


def test_viewer_sees_the_chargeback_page_with_its_rule_and_totals(viewer_client, teams):
    response = viewer_client.get(url(teams.profile))
    assert response.status_code == 200
    words = text(response)
    assert "Chargeback for November 2026" in words
    assert "Group Seats Seat amount Overage Total Pro seats Pro+ seats Credits Amount" in words
    assert "Engineering 1 0 $20.00 0.00 $0.00 $20.00" in words
    assert "Research 0 2 $80.00 150.00 $6.00 $86.00" in words
    assert "Total 1 2 $100.00 150.00 $6.00 $106.00" in words
    assert "The total equals the bill for November 2026 : $106.00." in words
    assert "the group assigned at the highest tier among the user's groups" in words
    assert "the one whose name comes first alphabetically" in words
    assert f"go to {DIRECT_LABEL}" in words
    assert "taken as they are now" in words
    html = response.content.decode()
    assert f'<a href="/profiles/{teams.profile.profile_id}/chargeback/" aria-current="page">Chargeback</a>' in html
    assert '<label for="chargeback-month">Month (YYYY-MM)</label>' in html


def test_the_month_parameter_chooses_the_month_and_an_empty_one_says_what_to_do(viewer_client, teams):
    response = viewer_client.get(url(teams.profile) + "?month=2026-10")
    assert response.status_code == 200
    words = text(response)
    assert "Chargeback for October 2026" in words
    assert "Nothing to charge back in October 2026" in words
    assert "Download CSV" not in words


def test_a_bad_month_is_said_at_the_field(viewer_client, teams):
    response = viewer_client.get(url(teams.profile) + "?month=2026-13")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'aria-invalid="true"' in html
    assert "'2026-13' is not a month: write it as YYYY-MM, like 2026-11." in text(response)
    csv_response = viewer_client.get(url(teams.profile, "chargeback.csv") + "?month=nope")
    assert csv_response.status_code == 400
    assert csv_response.content.decode() == "'nope' is not a month: write it as YYYY-MM, like 2026-11.\n"


def test_the_csv_has_exactly_the_rows_of_the_page(viewer_client, teams):
    response = viewer_client.get(url(teams.profile, "chargeback.csv") + "?month=2026-11")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="chargeback-{teams.profile.profile_id}-2026-11.csv"'
    )
    assert list(csv.reader(io.StringIO(response.content.decode()))) == [
        [
            "Group",
            "Pro seats",
            "Pro+ seats",
            "Seat amount (USD)",
            "Overage credits",
            "Overage amount (USD)",
            "Total (USD)",
        ],
        ["Engineering", "1", "0", "20.00", "0.00", "0.00", "20.00"],
        ["Research", "0", "2", "80.00", "150.00", "6.00", "86.00"],
        ["Total", "1", "2", "100.00", "150.00", "6.00", "106.00"],
    ]


def test_the_csv_neutralises_cells_a_spreadsheet_would_run(viewer_client, teams):
    directory.directory_group_update(group=teams.groups["Engineering"], actor=ACTOR, display_name='=HYPERLINK("x")')
    directory.directory_group_update(group=teams.groups["Research"], actor=ACTOR, display_name="@SUM(A1)")
    minus = directory.directory_group_create(identity_center=teams.ic, actor=ACTOR, display_name="-2+3")
    directory.group_members_add(group=minus, users=[teams.users["cat"]], actor=ACTOR)
    group_assign(profile=teams.profile, group=minus, tier="POWER", actor=ACTOR)
    rows = list(csv.reader(io.StringIO(viewer_client.get(url(teams.profile, "chargeback.csv")).content.decode())))
    assert [row[0] for row in rows] == ["Group", "'-2+3", '\'=HYPERLINK("x")', "'@SUM(A1)", "Total"]


def test_an_empty_month_csv_has_only_the_header(viewer_client, teams):
    rows = list(
        csv.reader(
            io.StringIO(viewer_client.get(url(teams.profile, "chargeback.csv") + "?month=2026-10").content.decode())
        )
    )
    assert rows == [["Group", "Seat amount (USD)", "Overage credits", "Overage amount (USD)", "Total (USD)"]]


# --- Access and query budget ----------------------------------------------------------------------------------


@pytest.fixture
def metering_session(metering_user):
    client = Client()
    client.force_login(metering_user)
    return client


def test_the_metering_role_may_not_see_the_chargeback(metering_session, teams):
    assert metering_session.get(url(teams.profile)).status_code == 403
    assert metering_session.get(url(teams.profile, "chargeback.csv")).status_code == 403


def test_unknown_or_other_profiles_are_404_and_only_get_is_allowed(viewer_client, admin_client, teams):
    assert viewer_client.get("/profiles/NOSUCHPROFILE/chargeback/").status_code == 404
    assert viewer_client.get("/profiles/NOSUCHPROFILE/chargeback.csv").status_code == 404
    assert admin_client.post(url(teams.profile)).status_code == 405
    assert admin_client.post(url(teams.profile, "chargeback.csv")).status_code == 405


def test_the_page_and_csv_queries_do_not_grow_with_users(viewer_client, org, django_assert_max_num_queries):
    overage_on(org.profile)
    users = [DirectoryUserFactory(identity_center=org.ic) for _ in range(60)]
    groups = [
        directory.directory_group_create(identity_center=org.ic, actor=ACTOR, display_name=f"Team {n}")
        for n in range(6)
    ]
    for n, group in enumerate(groups):
        directory.group_members_add(group=group, users=users[n * 10 : n * 10 + 15], actor=ACTOR)
        group_assign(profile=org.profile, group=group, tier=["PRO", "PRO_PLUS", "PRO_MAX"][n % 3], actor=ACTOR)
    for user in users:
        record(org.profile, event(user, "900"), event(user, "5000"), event(user, "200"))
    result = chargeback(org.profile, NOVEMBER)
    assert sum(line.seat_count for line in result) == 60
    with django_assert_max_num_queries(PAGE_QUERIES):
        response = viewer_client.get(url(org.profile))
    assert response.status_code == 200
    assert text(response).count("Team ") == 6
    with django_assert_max_num_queries(PAGE_QUERIES):
        assert viewer_client.get(url(org.profile, "chargeback.csv")).status_code == 200
    assert_adds_up_to_the_bill(org.profile, NOVEMBER)

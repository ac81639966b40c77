"""The Kiro user activity report (DOMAIN.md §7; issue 8 item 5): the CSV a day per client type read from the
rollups (credits/reports.py), its export command, API operation and console download, and `import_user_report`
bringing such files back as usage history (credits/report_import.py)."""

from __future__ import annotations

import csv
import datetime
import io
import os
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Sum

from credits.models import Balance, DailyUsage, ProfileBalance, UsageEvent
from credits.reports import HEADER, user_report
from credits.selectors import balance_mismatches
from credits.services import subscription_set_overage_cap
from credits.services.rollups import Use, rollups_add, rollups_differences
from directory import services as directory
from kiroconsole.models import AuditEvent
from subscriptions.models import Subscription
from subscriptions.services import profile_settings_update, subscription_subscribe
from tests.credits.conftest import ACTOR, event, record
from tests.factories import DirectoryUserFactory

pytestmark = pytest.mark.django_db

HEADER_LINE = (
    "Date,UserId,Client_Type,Chat_Conversations,Credits_Used,Overage_Cap,Overage_Credits_Used,Overage_Enabled,"
    "ProfileId,Subscription_Tier,Total_Messages,New_User,User_Email,Usage_Limit"
)
OCT3 = datetime.date(2026, 10, 3)
NOV2 = datetime.date(2026, 11, 2)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def used(org, clock):
    """Production (now 2026-11-15 12:00 UTC, overage on) with ann at Pro (1,000 credits, own cap 500) and bob at
    Pro+ since October 1st, and their use on October 3rd and November 2nd, in the IDE and the CLI."""
    clock.set(2026, 10, 1)
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=org.users["bob"], tier="PRO_PLUS", actor=ACTOR)
    clock.set(2026, 11, 15, 12, 0)
    profile_settings_update(profile=org.profile, changes={"overage_enabled": True}, actor=ACTOR)
    ann = Subscription.objects.get(profile=org.profile, user=org.users["ann"])
    subscription_set_overage_cap(subscription=ann, cap="500", actor=ACTOR)
    ann_user, bob = org.users["ann"], org.users["bob"]
    results = record(
        org.profile,
        event(ann_user, "250.50", occurred_at="2026-10-03T09:00:00Z", messages=4),
        event(ann_user, "100", occurred_at="2026-10-03T10:00:00Z", model="claude-sonnet-4.5", messages=2),
        event(ann_user, "30", occurred_at="2026-10-03T11:00:00Z", client_type="KIRO_CLI"),
        event(bob, "10", occurred_at="2026-10-03T23:59:59Z", messages=3),
        event(ann_user, "900", occurred_at="2026-11-02T08:00:00Z", messages=5),
        event(ann_user, "150", occurred_at="2026-11-02T09:00:00Z", messages=6),  # beyond 1,000: overage
        event(ann_user, "5", occurred_at="2026-11-02T10:00:00Z", client_type="KIRO_CLI"),  # fits: plan
        event(bob, "7.25", occurred_at="2026-11-02T12:00:00Z", client_type="KIRO_CLI", messages=2),
    )
    assert [r.outcome for r in results] == ["PLAN"] * 5 + ["OVERAGE", "PLAN", "PLAN"]
    return org


def lines_of(report) -> list[str]:
    return "".join(report.lines()).splitlines()


def user_id(org, name: str) -> str:
    return f"{org.ic.identity_store_id}.{org.users[name].pk}"


def export(profile, day: str, *extra: str) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command(
            "export_user_report", "--profile", profile.profile_id, "--date", day, *extra, stdout=out, stderr=err
        )
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), err.getvalue()


def import_(profile, *args: str) -> tuple[int, str, list[str]]:
    out, err = StringIO(), StringIO()
    try:
        call_command("import_user_report", *args, "--profile", profile.profile_id, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), [*err.getvalue().splitlines(), str(exc)]
    return 0, out.getvalue(), err.getvalue().splitlines()


# --- The report -------------------------------------------------------------------------------------------------


def test_the_report_has_kiros_header_and_a_row_per_user_summed_over_models(used):
    arn = used.profile.arn
    ide = user_report(profile=used.profile, day=OCT3, client_type="KIRO_IDE")
    assert ide.filename == f"KIRO_IDE_{used.profile.account.account_id}_user_report_202610030000.csv"
    assert lines_of(ide) == [
        HEADER_LINE,
        *sorted(
            [
                f"2026-10-03,{user_id(used, 'ann')},KIRO_IDE,2,350.50,500.00,0.00,true,{arn},PRO,6,true,"
                "ann@example.com,1000",
                f"2026-10-03,{user_id(used, 'bob')},KIRO_IDE,1,10.00,,0.00,true,{arn},PRO_PLUS,3,true,"
                "bob@example.com,2000",
            ],
            key=lambda line: line.split(",")[1].split(".")[1],  # by user id
        ),
    ]
    assert ",".join(HEADER) == HEADER_LINE
    cli = user_report(profile=used.profile, day=OCT3, client_type="KIRO_CLI")
    assert lines_of(cli)[1:] == [
        f"2026-10-03,{user_id(used, 'ann')},KIRO_CLI,1,30.00,500.00,0.00,true,{arn},PRO,1,true,ann@example.com,1000"
    ]


def test_credits_used_counts_plan_and_overage_and_new_user_only_the_first_day(used):
    arn = used.profile.arn
    ide = user_report(profile=used.profile, day=NOV2, client_type="KIRO_IDE")
    assert lines_of(ide)[1:] == [
        f"2026-11-02,{user_id(used, 'ann')},KIRO_IDE,2,1050.00,500.00,150.00,true,{arn},PRO,11,false,"
        "ann@example.com,1000"
    ]
    assert ide.count == 1
    cli = lines_of(user_report(profile=used.profile, day=NOV2, client_type="KIRO_CLI"))[1:]
    # bob's first CLI day, but not his first day in the profile: not new
    assert [line.split(",")[11] for line in cli] == ["false", "false"]


def test_a_day_without_use_has_only_the_header(used):
    assert lines_of(user_report(profile=used.profile, day=datetime.date(2026, 10, 4), client_type="KIRO_IDE")) == [
        HEADER_LINE
    ]
    assert lines_of(user_report(profile=used.other, day=OCT3, client_type="KIRO_IDE")) == [HEADER_LINE]


def test_the_highest_tier_of_the_day_is_the_rows_tier(org):
    ann = org.users["ann"]
    rollups_add(
        [
            Use(org.profile.pk, ann.pk, OCT3, "KIRO_IDE", "auto", "PRO", 1000, 0, 1),
            Use(org.profile.pk, ann.pk, OCT3, "KIRO_IDE", "auto", "POWER", 200, 0, 1),
        ]
    )
    [row] = lines_of(user_report(profile=org.profile, day=OCT3, client_type="KIRO_IDE"))[1:]
    assert row.split(",")[9:11] == ["POWER", "2"] and row.endswith(",10000") and ",12.00," in row


def test_an_email_starting_with_a_formula_is_written_as_text(used):
    directory.directory_user_update(user=used.users["ann"], actor=ACTOR, email="=1+2@example.com")
    [row] = list(
        csv.reader(io.StringIO("".join(user_report(profile=used.profile, day=NOV2, client_type="KIRO_IDE").lines())))
    )[1:]
    assert row[12] == "'=1+2@example.com"


def test_a_day_of_sixty_users_takes_a_constant_number_of_queries(org, django_assert_max_num_queries):
    users = DirectoryUserFactory.create_batch(60, identity_center=org.ic)
    rollups_add([Use(org.profile.pk, u.pk, OCT3, "KIRO_IDE", "auto", "PRO", 100, 0, 1) for u in users])
    report = user_report(profile=org.profile, day=OCT3, client_type="KIRO_IDE")
    with django_assert_max_num_queries(3):  # settings, tiers, the rows
        lines = list(report.lines())
    assert len(lines) == 61
    with django_assert_max_num_queries(6):  # the command: the profile, then each file's
        assert export(org.profile, "2026-10-03", "--client-type", "KIRO_IDE")[0] == 0


# --- export_user_report ---------------------------------------------------------------------------------------


def test_the_export_writes_a_file_per_client_type(used, in_tmp):
    os.mkdir("out")
    status, out, _ = export(used.profile, "2026-10-03", "--output", "out")
    account = used.profile.account.account_id
    ide = os.path.join("out", f"KIRO_IDE_{account}_user_report_202610030000.csv")
    cli = os.path.join("out", f"KIRO_CLI_{account}_user_report_202610030000.csv")
    assert (status, out) == (0, f"{ide}: 2 rows\n{cli}: 1 row\n")
    with open(ide, encoding="utf-8", newline="") as file:
        assert file.read() == "".join(user_report(profile=used.profile, day=OCT3, client_type="KIRO_IDE").lines())
    status, out, _ = export(used.profile, "2026-10-03", "--client-type", "kiro_cli")
    assert (status, out) == (0, f"./KIRO_CLI_{account}_user_report_202610030000.csv: 1 row\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("2026-10-32",), "--date: '2026-10-32' is not a date: give the day as YYYY-MM-DD."),
        (("2026-11-16",), "--date: 2026-11-16 is in the future: there is no report for it yet."),
        (
            ("2026-10-03", "--client-type", "PLUGIN"),
            "--client-type: 'PLUGIN' is not a client type: give KIRO_IDE or KIRO_CLI.",
        ),
        (("2026-10-03", "--output", "nowhere"), "--output: 'nowhere' is not a folder."),
    ],
)
def test_the_export_refuses_bad_arguments_with_status_2(used, args, message):
    assert export(used.profile, *args) == (2, "", message)


def test_the_export_refuses_an_unknown_profile(used):
    with pytest.raises(CommandError, match="No Kiro profile 'nope'") as exc:
        call_command("export_user_report", "--profile", "nope", "--date", "2026-10-03")
    assert exc.value.returncode == 2


# --- The API and the console ----------------------------------------------------------------------------------


def test_the_api_answers_the_csv(used, api_client_for, viewer_user):
    api = api_client_for(viewer_user)
    url = f"/api/v1/profiles/{used.profile.profile_id}/user-activity-report"
    response = api.get(url, {"date": "2026-11-02", "client_type": "KIRO_IDE"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    name = f"KIRO_IDE_{used.profile.account.account_id}_user_report_202611020000.csv"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    body = b"".join(response.streaming_content).decode()
    assert body == "".join(user_report(profile=used.profile, day=NOV2, client_type="KIRO_IDE").lines())
    assert api.get(url, {"date": "2026-11-02"}).status_code == 200  # client_type: KIRO_IDE by default


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({}, {"date": ["Give the day of the report as YYYY-MM-DD."]}),
        ({"date": "2026-13-01"}, {"date": ["'2026-13-01' is not a date: give the day as YYYY-MM-DD."]}),
        (
            {"date": "2026-11-02", "client_type": "EMACS"},
            {"client_type": ["'EMACS' is not a client type: give KIRO_IDE or KIRO_CLI."]},
        ),
    ],
)
def test_the_api_answers_422_for_bad_parameters(used, admin_api, params, detail):
    response = admin_api.get(f"/api/v1/profiles/{used.profile.profile_id}/user-activity-report", params)
    assert (response.status_code, response.json()) == (422, {"detail": detail})


def test_the_api_answers_404_for_an_unknown_profile(used, admin_api):
    response = admin_api.get("/api/v1/profiles/nope/user-activity-report", {"date": "2026-11-02"})
    assert response.status_code == 404


def test_the_metering_role_may_not_read_the_report(used, metering_client):
    response = metering_client.get(
        f"/api/v1/profiles/{used.profile.profile_id}/user-activity-report", {"date": "2026-11-02"}
    )
    assert response.status_code == 403


def test_the_console_downloads_the_report(used, viewer_client):
    url = f"/profiles/{used.profile.profile_id}/user-activity-report/"
    response = viewer_client.get(url, {"date": "2026-10-03", "client_type": "KIRO_CLI"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="KIRO_CLI_')
    assert b"".join(response.streaming_content).decode().splitlines()[1].startswith("2026-10-03,")
    bad = viewer_client.get(url, {"date": "03/10/2026"})
    assert bad.status_code == 400
    assert "&#x27;03/10/2026&#x27; is not a date: give the day as YYYY-MM-DD." in bad.content.decode()
    assert viewer_client.get("/profiles/nope/user-activity-report/", {"date": "2026-10-03"}).status_code == 404


# --- import_user_report: the round trip ---------------------------------------------------------------------


def sums(profile) -> dict:
    return {
        (row["day"], row["user_id"], row["client_type"]): (row["p"], row["o"], row["m"], row["e"])
        for row in DailyUsage.objects.filter(profile=profile)
        .values("day", "user_id", "client_type")
        .annotate(p=Sum("plan_hundredths"), o=Sum("overage_hundredths"), m=Sum("messages"), e=Sum("events"))
    }


def exported(profile, *days: str) -> list[str]:
    for day in days:
        assert export(profile, day)[0] == 0
    return sorted(name for name in os.listdir(".") if name.endswith(".csv"))


def state() -> tuple:
    return (
        sorted(map(str, UsageEvent.objects.values_list())),
        sorted(map(str, Balance.objects.values_list())),
        sorted(map(str, ProfileBalance.objects.values_list())),
        sorted(map(str, DailyUsage.objects.values_list())),
        AuditEvent.objects.count(),
    )


def test_exported_reports_imported_into_another_profile_give_the_same_usage(used):
    files = exported(used.profile, "2026-10-03", "2026-11-02")
    assert len(files) == 4
    status, out, errors = import_(used.other, *files, "--from-profile", used.profile.arn)
    assert (status, out, errors) == (
        0,
        "imported 6 rows (plan credits 1302.75, overage credits 150.00), unchanged 0, skipped 0 without credits\n",
        [],
    )
    assert sums(used.other) == sums(used.profile)
    assert rollups_differences() == []
    assert balance_mismatches() == []
    assert ProfileBalance.objects.get(profile=used.other).overage_used == Decimal("150.00")
    events = UsageEvent.objects.filter(profile=used.other)
    assert {(e.source, e.model, e.subscription_id) for e in events} == {("report", "report", None)}
    ann_nov = events.filter(user=used.users["ann"], occurred_at__date=NOV2, client_type="KIRO_IDE")
    assert sorted(
        (e.idempotency_key.rsplit(":", 1)[1], e.outcome, e.credits, e.messages, e.conversations) for e in ann_nov
    ) == [
        ("overage", "OVERAGE", Decimal("150.00"), 0, 0),
        ("plan", "PLAN", Decimal("900.00"), 11, 2),
    ]
    audit = AuditEvent.objects.get(action="usage.report_import")
    assert audit.after["imported"] == 6 and [f["file"] for f in audit.after["files"]] == files
    # The copy's report is the original's, but for what is the profile's own: Overage_Cap, Overage_Enabled, ProfileId.
    for day in (OCT3, NOV2):
        for client_type in ("KIRO_IDE", "KIRO_CLI"):
            original, copy = (
                [[cell for i, cell in enumerate(r) if i not in (5, 7, 8)] for r in csv.reader(lines_of(report))]
                for report in (
                    user_report(profile=used.profile, day=day, client_type=client_type),
                    user_report(profile=used.other, day=day, client_type=client_type),
                )
            )
            assert copy == original


def test_importing_the_same_files_again_changes_nothing(used):
    files = exported(used.profile, "2026-10-03", "2026-11-02")
    assert import_(used.other, *files, "--from-profile", used.profile.arn)[0] == 0
    before = state()
    status, out, errors = import_(used.other, *files, "--from-profile", used.profile.arn)
    assert (status, out, errors) == (
        0,
        "imported 0 rows (plan credits 0.00, overage credits 0.00), unchanged 6, skipped 0 without credits\n",
        [],
    )
    assert state()[:4] == before[:4]


def test_imported_use_counts_in_the_subscriptions_balances(used, clock):
    clock.set(2026, 10, 1)
    subscription_subscribe(profile=used.other, users=used.users["ann"], tier="PRO", actor=ACTOR)
    clock.set(2026, 11, 15, 12, 0)
    files = exported(used.profile, "2026-11-02")
    assert import_(used.other, *files, "--from-profile", used.profile.arn)[0] == 0
    balance = Balance.objects.get(subscription__profile=used.other, subscription__user=used.users["ann"])
    assert (balance.allowance, balance.plan_used, balance.overage_used) == (
        Decimal("1000.00"),
        Decimal("905.00"),
        Decimal("150.00"),
    )
    assert balance_mismatches() == [] and rollups_differences() == []


def report_file(name: str, *rows: str, header: str = HEADER_LINE) -> str:
    with open(name, "w", encoding="utf-8", newline="") as file:
        file.write("\n".join([header, *rows]) + "\n")
    return name


def row(org, **cells: str) -> str:
    values = {
        "Date": "2026-10-03",
        "UserId": user_id(org, "ann"),
        "Client_Type": "KIRO_IDE",
        "Chat_Conversations": "3",
        "Credits_Used": "12.50",
        "Overage_Cap": "",
        "Overage_Credits_Used": "0.00",
        "Overage_Enabled": "false",
        "ProfileId": org.other.arn,
        "Subscription_Tier": "PRO",
        "Total_Messages": "7",
        "New_User": "true",
        "User_Email": "ann@example.com",
        "Usage_Limit": "1000",
    }
    values.update(cells)
    return ",".join(values[column] for column in HEADER)


def test_history_beyond_the_allowance_raises_it_to_the_plan_credits_used(org, clock):
    clock.set(2026, 10, 1)
    subscription_subscribe(profile=org.other, users=org.users["ann"], tier="PRO", actor=ACTOR)
    clock.set(2026, 11, 15, 12, 0)
    name = report_file(
        "r.csv",
        row(org, Credits_Used="1500"),
        row(org, Date="2026-10-04", Credits_Used="20", Overage_Credits_Used="20"),
    )
    assert import_(org.other, name)[0] == 0
    balance = Balance.objects.get(subscription__profile=org.other)
    assert (balance.allowance, balance.plan_used, balance.overage_used) == (
        Decimal("1500.00"),
        Decimal("1500.00"),
        Decimal("20.00"),
    )
    assert balance_mismatches() == [] and rollups_differences() == []


def test_a_row_of_zero_credits_is_skipped_and_said(org):
    name = report_file("r.csv", row(org), row(org, UserId=user_id(org, "bob"), Credits_Used="0", Total_Messages="4"))
    status, out, _ = import_(org.other, name)
    assert (status, out) == (
        0,
        "imported 1 rows (plan credits 12.50, overage credits 0.00), unchanged 0, "
        "skipped 1 without credits (4 messages not counted)\n",
    )
    assert DailyUsage.objects.filter(profile=org.other).count() == 1


def test_a_dry_run_writes_nothing(org):
    name = report_file("r.csv", row(org))
    before = state()
    out, err = StringIO(), StringIO()
    call_command("import_user_report", name, "--profile", org.other.profile_id, "--dry-run", stdout=out, stderr=err)
    assert out.getvalue().startswith("would import 1 rows (plan credits 12.50")
    assert state() == before


def test_real_exports_per_model_columns_are_ignored_and_new_user_may_be_missing(org):
    header = HEADER_LINE.replace(",New_User", "") + ",auto_messages,claude-sonnet-4.5_messages"
    line = row(org).replace(",true,ann@", ",ann@") + ",5,2"
    assert import_(org.other, report_file("r.csv", line, header=header))[0] == 0
    assert DailyUsage.objects.get(profile=org.other).messages == 7


# --- import_user_report: every bad input -----------------------------------------------------------------------


def refused(org, *names: str) -> list[str]:
    before = state()
    status, out, errors = import_(org.other, *names)
    assert (status, out) == (1, "")
    assert state() == before
    return errors


@pytest.mark.parametrize(
    ("cells", "error"),
    [
        ({"Date": "2026-10-3"}, "Date: '2026-10-3' is not a date: like 2026-10-03"),
        ({"Date": "2026-02-30"}, "Date: '2026-02-30' is not a date: like 2026-10-03"),
        ({"Date": "2026-11-16"}, "Date: 2026-11-16 is in the future"),
        ({"UserId": "ann"}, "UserId: 'ann' is not <identity store id>.<user id>, like {store}.<uuid>"),
        (
            {"UserId": "d-0000000000.{ann}"},
            "UserId: the identity store 'd-0000000000' is not this profile's directory ({store})",
        ),
        (
            {"UserId": "{store}.00000000-0000-0000-0000-000000000001"},
            "UserId: no user 00000000-0000-0000-0000-000000000001 in the directory {store}",
        ),
        ({"Client_Type": "PLUGIN"}, "Client_Type: 'PLUGIN' is not a client type: KIRO_IDE or KIRO_CLI"),
        ({"Subscription_Tier": "GOLD"}, "Subscription_Tier: 'GOLD' is not a tier code: POWER, PRO, PRO_MAX, PRO_PLUS"),
        ({"Credits_Used": "-1"}, "Credits_Used: '-1' is not an amount of credits: like 12.50 (at most two decimals)"),
        (
            {"Credits_Used": "1.005"},
            "Credits_Used: '1.005' is not an amount of credits: like 12.50 (at most two decimals)",
        ),
        (
            {"Overage_Credits_Used": "x"},
            "Overage_Credits_Used: 'x' is not an amount of credits: like 12.50 (at most two decimals)",
        ),
        ({"Overage_Credits_Used": "12.51"}, "Overage_Credits_Used: 12.51 is more than Credits_Used"),
        ({"Chat_Conversations": "-2"}, "Chat_Conversations: '-2' is not a count: a whole number, 0 or more"),
        ({"Total_Messages": "1.5"}, "Total_Messages: '1.5' is not a count: a whole number, 0 or more"),
        ({"Usage_Limit": "lots"}, "Usage_Limit: 'lots' is not a count: a whole number, 0 or more"),
        ({"Overage_Cap": "none"}, "Overage_Cap: 'none' is not an amount of credits: empty or like 100.00"),
        ({"Overage_Enabled": "yes"}, "Overage_Enabled: 'yes' is not true or false"),
        ({"New_User": "1"}, "New_User: '1' is not true or false"),
    ],
)
def test_a_bad_cell_is_reported_and_nothing_is_written(org, cells, error):
    store, ann = org.ic.identity_store_id, str(org.users["ann"].pk)
    cells = {k: v.replace("{store}", store).replace("{ann}", ann) for k, v in cells.items()}
    name = report_file("r.csv", row(org, Date="2026-10-02"), row(org, **cells))
    assert refused(org, name) == [f"r.csv:3: {error.replace('{store}', store)}", "1 error: nothing was written."]


def test_every_issue_of_every_file_is_reported_in_order(org):
    first = report_file("a.csv", row(org, Credits_Used="x", Client_Type="WEB"))
    second = report_file("b.csv", row(org, Date="2026-10-04"), row(org, Date="soon"))
    assert refused(org, first, second) == [
        "a.csv:2: Client_Type: 'WEB' is not a client type: KIRO_IDE or KIRO_CLI",
        "a.csv:2: Credits_Used: 'x' is not an amount of credits: like 12.50 (at most two decimals)",
        "b.csv:3: Date: 'soon' is not a date: like 2026-10-03",
        "3 errors: nothing was written.",
    ]


def test_a_header_that_is_not_the_reports_is_refused(org):
    name = report_file("r.csv", "x", header=HEADER_LINE.replace(",Credits_Used,", ",Credits,"))
    assert refused(org, name) == [
        "r.csv:1: Credits: unknown column: the columns are "
        + ", ".join(c for c in HEADER if c != "New_User")
        + " or New_User",
        "r.csv:1: Credits_Used: missing column",
        "2 errors: nothing was written.",
    ]


def test_a_file_of_another_profile_is_refused_once(org):
    name = report_file(
        "r.csv", row(org, ProfileId=org.profile.arn), row(org, ProfileId=org.profile.arn, Date="2026-10-04")
    )
    assert refused(org, name) == [
        f"r.csv:2: ProfileId: the report is of the profile {org.profile.arn!r}, not of this one ({org.other.arn}): "
        "nothing of it can be imported here (another profile's reports need --from-profile)",
        "1 error: nothing was written.",
    ]
    other = "arn:aws:codewhisperer:us-east-1:123456789012:profile/KIROREAL0001"
    assert refused(org, name, "--from-profile", other)[0] == (
        f"r.csv:2: ProfileId: the report is of the profile {org.profile.arn!r}, not of {other}: nothing of it can "
        "be imported here (another profile's reports need --from-profile)"
    )
    assert import_(org.other, name, "--from-profile", org.profile.arn)[0] == 0


def test_the_same_user_day_and_client_twice_with_other_values_is_refused(org):
    first = report_file("a.csv", row(org))
    second = report_file("b.csv", row(org, Credits_Used="13"))
    assert refused(org, first, second) == [
        "b.csv:2: UserId: this user's KIRO_IDE use on 2026-10-03 is already on a.csv line 2 with other values",
        "1 error: nothing was written.",
    ]


def test_a_row_imported_before_with_other_values_is_a_conflict(org):
    assert import_(org.other, report_file("a.csv", row(org)))[0] == 0
    ann = org.users["ann"].pk
    assert refused(org, report_file("b.csv", row(org, Total_Messages="8"))) == [
        "b.csv:2: -: this user's KIRO_IDE use on 2026-10-03 was imported before with other values "
        f"(keys report:2026-10-03:{ann}:KIRO_IDE:plan/overage): nothing of it can change",
        "1 error: nothing was written.",
    ]


def test_a_report_of_use_the_console_metered_is_refused(used):
    files = exported(used.profile, "2026-10-03")
    status, _, errors = import_(used.profile, files[0])
    assert status == 1
    assert errors[0].startswith(f"{files[0]}:2: UserId: the console already metered this user's")
    assert errors[0].endswith("importing the report would count it twice")

"""The usage explorer (issue 8, item 3): its page (every grouping, the filters, errors at the fields, the total, htmx
fragments, a query budget that does not grow with users), its CSV (the table's rows, made safe for spreadsheets) and
`GET /api/v1/profiles/{id}/usage` (the same figures and validation, 422 naming the field, 404, the OpenAPI schema).

`used`: ann (Pro), bob (Pro+) and cat (Pro Max through Research) use Kiro in November 2026; the clock is at
28 November, so the default range is November and the events are neither before the subscriptions (the 15th at
noon) nor in the future. Engineering is (ann, bob), Research (bob, cat)."""

from __future__ import annotations

import csv
import datetime
import io
import json
import re
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from credits import api_usage, explorer
from credits.models import ClientType, credits_of
from credits.usage import (
    GROUP_BY,
    NO_GROUP,
    DateRange,
    UsageFilters,
    UsageRow,
    UserRows,
    usage_by_user,
    usage_rows,
    user_id_text,
)
from directory import services as directory
from subscriptions.models import AiModel, Profile
from subscriptions.services import subscription_subscribe
from tests.credits.conftest import ACTOR, event, record, use_in_november

D = datetime.date
NOVEMBER = DateRange(D(2026, 11, 1), D(2026, 11, 30))
HTMX = {"HX-Request": "true"}
# session, user, roles, profile, the header's notification count, the tier catalogue (once a minute), the models,
# the directory's groups, the user named, one aggregate query (two more grouped by group: the total counts users once)
PAGE_QUERIES = 11
API_QUERIES = 7  # token, its user's roles, profile, tiers, models, the group named, one aggregate query (two by group)


@pytest.fixture
def used(metered, clock):
    return use_in_november(
        metered, clock, now=(2026, 11, 28, 12), bob_last="2026-11-27T23:00:00Z", cat_at="2026-11-27T09:00:00Z"
    )


@pytest.fixture
def viewer_client(used, viewer_user):
    """Logged in at the clock's time (a session lasts 12 hours: one opened at the real time may have ended by then)."""
    client = Client()
    client.force_login(viewer_user)
    return client


def url(org, suffix: str = "/", **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/profiles/{org.profile.profile_id}/usage{suffix}" + (f"?{query}" if query else "")


def api_url(org, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/v1/profiles/{org.profile.profile_id}/usage" + (f"?{query}" if query else "")


def strip(html: str) -> str:
    text = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", text).replace("&#x27;", "'").replace("&amp;", "&").strip()


def body_rows(response) -> list[tuple[str, list[str]]]:
    """The usage table's body rows: the attributes of each and the text of its cells."""
    html = response.content.decode()
    body = html[html.index('<table class="data-table usage-table"') :]
    body = body[body.index("<tbody>") : body.index("</tbody>")]
    return [
        (re.search(r"<tr([^>]*)>", row).group(1),
         [strip(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)])
        for row in body.split("</tr>")[:-1]
    ]  # fmt: skip


def table(response) -> list[list[str]]:
    """The usage table's rows (without the pinned total), as the text of their cells."""
    return [cells for css, cells in body_rows(response) if "pinned-row" not in css]


def total(response) -> list[str]:
    """The total row, pinned below the rows."""
    [cells] = [cells for css, cells in body_rows(response) if "pinned-row" in css]
    assert body_rows(response)[-1][1] == cells
    return cells


def header(response) -> list[str]:
    html = response.content.decode()
    head = html[html.index('<table class="data-table usage-table"') :]
    head = head[head.index("<thead>") : head.index("</thead>")]
    return [strip(cell) for cell in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)]


def credits(value: Decimal) -> str:
    return f"{value:,.2f}"


def expected_rows(org, group_by: str, span=NOVEMBER, filters=None) -> list[list[str]]:
    rows = usage_rows(org.profile, span, group_by, filters)
    names = dict(AiModel.objects.values_list("code", "name"))
    return [
        [
            names.get(row.key, row.label) if group_by == "model" else row.label,
            credits(row.plan_credits),
            credits(row.overage_credits),
            credits(row.credits),
            f"{row.messages:,}",
            f"{row.events:,}",
        ]
        for row in rows
    ]


def csv_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


# --- The page -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group_by", list(GROUP_BY))
def test_the_page_shows_each_grouping_with_the_figures_of_usage_rows(viewer_client, used, group_by):
    response = viewer_client.get(url(used, group_by=group_by))
    assert response.status_code == 200
    assert header(response) == [GROUP_BY[group_by], "Plan credits", "Overage credits", "Total credits", "Messages",
                                "Events"]  # fmt: skip
    rows = table(response)
    assert rows == expected_rows(used, group_by)
    assert len(rows) >= 2  # a test that can't pass on an empty table


def test_the_figures_and_labels_of_the_groupings(viewer_client, used):
    by_user = table(viewer_client.get(url(used, group_by="user")))
    assert by_user[0] == ["Ann (ann)", "993.00", "20.00", "1,013.00", "6", "3"]  # the overage, then the plan again
    by_model = table(viewer_client.get(url(used, group_by="model")))
    assert [row[0] for row in by_model] == ["Auto", "Claude Sonnet 4.5"]  # the catalogue's names
    by_client = table(viewer_client.get(url(used, group_by="client_type")))
    assert [row[0] for row in by_client] == ["Kiro IDE", "Kiro CLI"]
    by_group = table(viewer_client.get(url(used, group_by="group")))
    assert [row[0] for row in by_group] == ["Engineering", "Research"]  # everyone is in a group


def test_users_link_to_their_subscription_page(viewer_client, used):
    html = viewer_client.get(url(used, group_by="user")).content.decode()
    ann = used.users["ann"]
    assert f'<a href="/profiles/{used.profile.profile_id}/users/{ann.pk}/">Ann (ann)</a>' in html


def test_the_defaults_are_this_month_by_day(viewer_client, used):
    response = viewer_client.get(url(used))
    html = response.content.decode()
    assert 'name="from" value="2026-11-01"' in html and 'name="to" value="2026-11-30"' in html
    assert '<option value="day" selected>Day</option>' in html
    assert "By day, 01 Nov 2026 to 30 Nov 2026" in strip(html)
    assert [row[0] for row in table(response)] == ["2026-11-16", "2026-11-18", "2026-11-20", "2026-11-27"]


def test_the_total_row_sums_the_rows_below_them_whatever_the_sort(viewer_client, used):
    response = viewer_client.get(url(used, group_by="tier"))
    assert total(response) == ["Total", "1,005.75", "20.00", "1,025.75", "10", "6"]
    assert "2 results" in strip(response.content.decode())  # Pro and Pro Max: the total is no result
    assert total(viewer_client.get(url(used, group_by="day", sort="-credits"))) == total(response)


def test_grouped_by_group_a_user_in_two_groups_counts_once_in_the_total(viewer_client, used):
    response = viewer_client.get(url(used, group_by="group"))
    rows = table(response)
    assert rows[0][0] == "Engineering" and rows[0][3] == "1,021.75"  # ann and bob
    assert rows[1][0] == "Research" and rows[1][3] == "12.75"  # bob and cat
    assert total(response)[3] == "1,025.75"  # not 1,034.50: bob counts once


def test_a_range_and_filters_narrow_the_table(viewer_client, used):
    ann, research = used.users["ann"], used.groups["Research"]
    rows = table(viewer_client.get(url(used, user="ANN", group_by="client_type")))
    assert rows == expected_rows(used, "client_type", filters=UsageFilters(user_id=ann.pk))
    rows = table(viewer_client.get(url(used, group="research", group_by="user")))
    assert [row[0] for row in rows] == ["Bob (bob)", "Cat (cat)"]
    assert rows == expected_rows(used, "user", filters=UsageFilters(group_id=research.pk))
    rows = table(viewer_client.get(url(used, tier="PRO_MAX", model="claude-sonnet-4.5", group_by="user")))
    assert rows == [["Bob (bob)", "8.75", "0.00", "8.75", "2", "2"]]
    rows = table(viewer_client.get(url(used, client_type="KIRO_CLI", group_by="day")))
    assert [row[0] for row in rows] == ["2026-11-20", "2026-11-27"]
    rows = table(viewer_client.get(url(used, **{"from": "2026-11-17", "to": "2026-11-19"})))
    assert rows == [["2026-11-18", "7.50", "0.00", "7.50", "1", "1"]]


def test_no_usage_says_what_to_do(viewer_client, used):
    response = viewer_client.get(url(used, **{"from": "2026-10-01", "to": "2026-10-31"}))
    assert response.status_code == 200
    words = strip(response.content.decode())
    assert "No usage in this profile from 01 Oct 2026 to 31 Oct 2026" in words
    assert "Download CSV" not in words and "pinned-row" not in response.content.decode()
    filtered = strip(viewer_client.get(url(used, user="dan")).content.decode())
    assert "No usage matches these filters" in filtered


BAD = [
    ({"from": "2026-11-30", "to": "2026-11-01"}, "to", "before it starts"),
    ({"from": "2026-13-01"}, "from", "is not a date"),
    ({"from": "1999-12-01", "to": "1999-12-31"}, "from", "too early"),
    ({"from": "2026-01-01", "to": "2027-06-30"}, "to", "at most 366"),
    ({"from": "2030-01-01", "to": "2030-01-31"}, "to", "more than a year ahead"),
    ({"user": "nobody"}, "user", "No user named 'nobody'"),
    ({"group": "Nowhere"}, "group", "No group named 'Nowhere'"),
    ({"tier": "GOLD"}, "tier", "'GOLD' is not a tier"),
    ({"client_type": "KIRO_WEB"}, "client_type", "'KIRO_WEB' is not a client type"),
    ({"model": "gpt-5"}, "model", "'gpt-5' is not a model"),
    ({"group_by": "month"}, "group_by", "'month' is not a grouping"),
]
BAD_IDS = [f"{field}-{i}" for i, (_, field, _) in enumerate(BAD)]


@pytest.mark.parametrize(("params", "field", "message"), BAD, ids=BAD_IDS)
def test_bad_input_is_said_at_its_field_on_a_200_page(viewer_client, used, params, field, message):
    response = viewer_client.get(url(used, **params))
    assert response.status_code == 200
    html = response.content.decode()
    error = re.search(rf'<p class="error" id="id_{field}_error">([^<]*)</p>', html)
    assert error, html
    assert message in error.group(1).replace("&#x27;", "'")
    assert 'class="field field-invalid"' in html and 'aria-invalid="true"' in html
    assert "usage-table" not in html and "field to fix above" in strip(html)


def test_a_deleted_user_is_found_for_their_history(viewer_client, used):
    directory.directory_user_delete(user=used.users["cat"], actor=ACTOR)
    rows = table(viewer_client.get(url(used, user="cat", group_by="user")))
    assert rows == [["Cat (cat)", "4.00", "0.00", "4.00", "2", "1"]]


def test_many_groups_make_the_group_field_a_name_input(viewer_client, used, monkeypatch):
    html = viewer_client.get(url(used)).content.decode()
    assert '<select name="group"' in html and '<option value="Research">Research</option>' in html
    monkeypatch.setattr(explorer, "GROUP_SELECT_MAX", 1)
    response = viewer_client.get(url(used, group="RESEARCH", group_by="user"))
    html = response.content.decode()
    assert re.search(r'<input type="text" name="group" value="RESEARCH"', html)
    assert [row[0] for row in table(response)] == ["Bob (bob)", "Cat (cat)"]
    bad = viewer_client.get(url(used, group="Nowhere")).content.decode()
    assert 'id="id_group_error">No group named' in bad


def test_the_table_sorts_by_any_column_and_pages_by_50(viewer_client, many):
    response = viewer_client.get(url(many, group_by="user", sort="label"))
    rows = table(response)
    assert len(rows) == 50 and rows[0][0] == "Ann (ann)" and rows[1][0] == "Bob (bob)"
    assert "63 results · page 1 of 2" in strip(response.content.decode())
    second = table(viewer_client.get(url(many, group_by="user", sort="label", page=2)))
    assert len(second) == 13
    by_events = table(viewer_client.get(url(many, group_by="user", sort="-events")))
    assert by_events[0][0] == "Ann (ann)"  # 3 events, the most
    by_credits = table(viewer_client.get(url(many, group_by="user", sort="credits")))
    assert by_credits[0][3] == "1.00"


def test_htmx_requests_get_fragments(viewer_client, used):
    swap = viewer_client.get(url(used, group_by="user"), headers={**HTMX, "HX-Target": "usage-explorer"})
    html = swap.content.decode()
    assert swap.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<div id="usage-explorer">') and "Ann (ann)" in html
    assert "HX-Request" in swap["Vary"]
    invalid = viewer_client.get(url(used, tier="GOLD"), headers={**HTMX, "HX-Target": "usage-explorer"})
    assert 'id="id_tier_error"' in invalid.content.decode() and "<html" not in invalid.content.decode()
    sort = viewer_client.get(url(used, group_by="user", sort="label"), headers={**HTMX, "HX-Target": "table-main"})
    html = sort.content.decode()
    assert html.lstrip().startswith('<section id="table-main"') and "<form" not in html
    assert "/usage.csv?group_by=user&amp;sort=label" in html  # the CSV link carries the sort


def test_the_usage_tab_is_current(viewer_client, used):
    html = viewer_client.get(url(used)).content.decode()
    assert f'<a href="/profiles/{used.profile.profile_id}/usage/" aria-current="page">Usage</a>' in html


# --- The CSV --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("group_by", list(GROUP_BY))
def test_the_csv_has_the_rows_of_the_table(viewer_client, used, group_by):
    page = viewer_client.get(url(used, group_by=group_by))
    response = viewer_client.get(url(used, ".csv", group_by=group_by))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = csv_of(response)
    assert rows[0] == [GROUP_BY[group_by], "Plan credits", "Overage credits", "Total credits", "Messages", "Events"]
    shown = [[cell.replace(",", "") for cell in row] for row in table(page)]
    assert rows[1:-1] == shown
    assert rows[-1] == [cell.replace(",", "") for cell in total(page)]


def test_the_csv_is_an_attachment_named_for_profile_range_and_grouping(viewer_client, used):
    response = viewer_client.get(url(used, ".csv", **{"from": "2026-11-02", "to": "2026-11-27", "group_by": "model"}))
    disposition = response["Content-Disposition"]
    profile_id = used.profile.profile_id
    assert disposition == f'attachment; filename="usage-{profile_id}-2026-11-02-to-2026-11-27-by-model.csv"'
    assert csv_of(response)[-1] == ["Total", "1005.75", "20.00", "1025.75", "10", "6"]


def test_the_csv_follows_the_filters_and_the_sort(viewer_client, used):
    response = viewer_client.get(url(used, ".csv", group="Research", group_by="user", sort="label"))
    assert csv_of(response) == [
        ["User", "Plan credits", "Overage credits", "Total credits", "Messages", "Events"],
        ["Bob (bob)", "8.75", "0.00", "8.75", "2", "2"],
        ["Cat (cat)", "4.00", "0.00", "4.00", "2", "1"],
        ["Total", "12.75", "0.00", "12.75", "4", "3"],
    ]


def test_the_page_links_the_csv_of_its_filter(viewer_client, used):
    html = viewer_client.get(url(used, group="Research", group_by="user")).content.decode()
    assert f'href="/profiles/{used.profile.profile_id}/usage.csv?group=Research&amp;group_by=user" download' in html


def test_the_csv_neutralises_formulas(viewer_client, used):
    directory.directory_user_update(user=used.users["ann"], actor=ACTOR, display_name="=cmd()")
    directory.directory_group_update(group=used.groups["Research"], actor=ACTOR, display_name="@SUM(A1)")
    by_user = csv_of(viewer_client.get(url(used, ".csv", group_by="user")))
    assert by_user[1][0] == "'=cmd() (ann)"
    by_group = csv_of(viewer_client.get(url(used, ".csv", group_by="group")))
    assert "'@SUM(A1)" in [row[0] for row in by_group]
    assert all(not row[0].startswith(("=", "@", "+", "-")) for row in by_user + by_group)


def test_a_bad_csv_question_is_400_with_the_errors(viewer_client, used):
    response = viewer_client.get(url(used, ".csv", tier="GOLD", user="nobody"))
    assert response.status_code == 400
    assert "tier: 'GOLD' is not a tier" in response.content.decode()
    assert "user: No user named 'nobody'" in response.content.decode()


# --- The API --------------------------------------------------------------------------------------------------


@pytest.fixture
def viewer_api(api_client_for, viewer_user):
    return api_client_for(viewer_user)


@pytest.mark.parametrize("group_by", list(GROUP_BY))
def test_the_api_answers_the_figures_of_usage_rows(viewer_api, used, group_by):
    response = viewer_api.get(api_url(used, group_by=group_by))
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["profile_id"], data["from"], data["to"], data["group_by"]) == (
        used.profile.profile_id,
        "2026-11-01",
        "2026-11-30",
        group_by,
    )
    rows = usage_rows(used.profile, NOVEMBER, group_by)
    assert [row["key"] for row in data["rows"]] == [
        None if r.key is None else (r.key.isoformat() if isinstance(r.key, D) else str(r.key)) for r in rows
    ]
    figures = [
        (r["plan_credits"], r["overage_credits"], r["credits"], r["messages"], r["events"]) for r in data["rows"]
    ]
    assert figures == [
        (f"{r.plan_credits:.2f}", f"{r.overage_credits:.2f}", f"{r.credits:.2f}", r.messages, r.events) for r in rows
    ]
    assert data["total"] == {
        "plan_credits": "1005.75",
        "overage_credits": "20.00",
        "credits": "1025.75",
        "messages": 10,
        "events": 6,
    }


def test_the_api_rows_name_their_keys(viewer_api, used):
    data = viewer_api.get(api_url(used, group_by="user", group="Research")).json()
    bob = used.users["bob"]
    assert data["rows"][0] == {
        "key": str(bob.pk),
        "label": "Bob (bob)",
        "plan_credits": "8.75",
        "overage_credits": "0.00",
        "credits": "8.75",
        "messages": 2,
        "events": 2,
    }
    models = viewer_api.get(api_url(used, group_by="model", client_type="kiro_ide")).json()["rows"]
    assert [(row["key"], row["label"]) for row in models] == [
        ("auto", "Auto"),
        ("claude-sonnet-4.5", "Claude Sonnet 4.5"),
    ]
    assert viewer_api.get(api_url(used, user=str(used.users["cat"].pk))).json()["total"]["credits"] == "4.00"


def test_the_api_puts_users_in_no_group_under_null(viewer_api, used):
    directory.group_members_remove(group=used.groups["Research"], users=[used.users["cat"]], actor=ACTOR)
    rows = viewer_api.get(api_url(used, group_by="group")).json()["rows"]
    assert rows[-1]["key"] is None and rows[-1]["label"] == NO_GROUP


@pytest.mark.parametrize(("params", "field", "message"), BAD, ids=BAD_IDS)
def test_bad_api_input_is_422_naming_the_field(viewer_api, used, params, field, message):
    response = viewer_api.get(api_url(used, **params))
    assert response.status_code == 422, response.content
    detail = response.json()["detail"]
    assert list(detail) == [field]
    assert message in detail[field][0]


def test_the_api_says_every_bad_field_at_once(viewer_api, used):
    detail = viewer_api.get(api_url(used, tier="GOLD", model="gpt-5", group_by="week")).json()["detail"]
    assert set(detail) == {"tier", "model", "group_by"}


def test_an_unknown_or_deleted_profile_is_404(viewer_api, used):
    assert viewer_api.get("/api/v1/profiles/NOSUCH/usage").status_code == 404
    Profile.objects.filter(pk=used.other.pk).update(deleted_at=timezone.now())
    assert viewer_api.get(f"/api/v1/profiles/{used.other.profile_id}/usage").status_code == 404
    assert viewer_api.get(f"/profiles/{used.other.profile_id}/usage/").status_code in (302, 404)  # no session here


def test_the_openapi_document_describes_the_usage_endpoint(anonymous, db):
    document = anonymous.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/profiles/{profile_id}/usage"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert names == {"profile_id", "from", "to", "group_by", "user", "group", "tier", "client_type", "model"}
    schema_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[-1]]
    assert set(schema["properties"]) == {"profile_id", "from", "to", "group_by", "rows", "total"}
    assert "422" in operation["responses"]


# --- Who may ------------------------------------------------------------------------------------------------


def test_viewers_may_read_the_page_the_csv_and_the_api(viewer_client, viewer_api, used):
    assert viewer_client.get(url(used)).status_code == 200
    assert viewer_client.get(url(used, ".csv")).status_code == 200
    assert viewer_api.get(api_url(used)).status_code == 200


def test_the_metering_role_may_not(metering_user, metering_client, used):
    session = Client()
    session.force_login(metering_user)
    assert session.get(url(used)).status_code == 403
    assert session.get(url(used, ".csv")).status_code == 403
    assert metering_client.get(api_url(used)).status_code == 403


def test_anonymous_is_sent_to_log_in_and_the_api_is_401(anonymous, used):
    assert anonymous.get(url(used)).status_code == 302
    assert anonymous.get(api_url(used)).status_code == 401


def test_another_profile_shows_only_its_own_usage(viewer_client, used):
    other = f"/profiles/{used.other.profile_id}/usage/?group_by=user"
    assert "No usage in this profile" in strip(viewer_client.get(other).content.decode())


# --- Queries --------------------------------------------------------------------------------------------------


def make_people(org, prefix: str, count: int) -> list:
    return [
        directory.directory_user_create(
            identity_center=org.profile.identity_center,
            actor=ACTOR,
            user_name=f"{prefix}{i:02d}",
            display_name=f"{prefix.title()} {i:02d}",
            given_name=prefix.title(),
            family_name=f"{i:02d}",
            email=f"{prefix}{i:02d}@example.com",
        )
        for i in range(count)
    ]


@pytest.fixture
def many(used, clock):
    """63 users with usage: ann, bob, cat and 60 more at Pro (since the 28th at noon), one event of 1 credit each."""
    people = make_people(used, "user", 60)
    subscription_subscribe(profile=used.profile, users=people, tier="PRO", actor=ACTOR)
    directory.group_members_add(group=used.groups["Engineering"], users=people[:30], actor=ACTOR)
    clock.set(2026, 11, 28, 12, 30)
    record(used.profile, *(event(person, "1", occurred_at="2026-11-28T12:10:00Z") for person in people))
    return used


@pytest.mark.parametrize("group_by", list(GROUP_BY))
def test_the_page_takes_a_constant_number_of_queries(viewer_client, many, group_by, django_assert_max_num_queries):
    with django_assert_max_num_queries(PAGE_QUERIES):
        response = viewer_client.get(url(many, group_by=group_by, user="user07" if group_by == "day" else ""))
    assert response.status_code == 200
    with django_assert_max_num_queries(PAGE_QUERIES):
        assert viewer_client.get(url(many, ".csv", group_by=group_by)).status_code == 200


def test_the_query_count_does_not_grow_with_users(viewer_client, used, clock, django_assert_num_queries):
    with CaptureQueriesContext(connection) as few:
        viewer_client.get(url(used, group_by="user"))
    subscription_subscribe(profile=used.profile, users=[used.users["cat"]], tier="PRO", actor=ACTOR)
    people = make_people(used, "p", 60)
    subscription_subscribe(profile=used.profile, users=people, tier="PRO", actor=ACTOR)
    clock.set(2026, 11, 28, 12, 30)
    record(used.profile, *(event(person, "2", occurred_at="2026-11-28T12:10:00Z") for person in people))
    with django_assert_num_queries(len(few.captured_queries)):
        response = viewer_client.get(url(used, group_by="user"))
    assert len(table(response)) == 50


def test_the_api_takes_a_constant_number_of_queries(viewer_api, many, django_assert_max_num_queries):
    for group_by in GROUP_BY:
        with django_assert_max_num_queries(API_QUERIES):
            assert len(viewer_api.get(api_url(many, group_by=group_by, group="Engineering")).json()["rows"]) >= 1


def test_client_types_of_the_select_are_the_models(viewer_client, used):
    html = viewer_client.get(url(used)).content.decode()
    for value, label in ClientType.choices:
        assert f'<option value="{value}">{label}</option>' in html
    assert '<option value="claude-sonnet-4.5">Claude Sonnet 4.5</option>' in html


@pytest.mark.parametrize("hundredths", [0, 1, 9, 10, 99, 100, 101, 123456, 10**15 + 7, -1, -99, -100, -123456])
def test_the_api_writes_credits_as_their_decimal_with_two_places(hundredths):
    assert api_usage._credits(hundredths) == f"{credits_of(hundredths):.2f}"


def test_a_user_id_is_written_as_its_uuid_from_either_database_form():
    user_id = uuid.uuid4()
    assert user_id_text(user_id.hex) == str(user_id)  # SQLite: 32 hex digits
    assert user_id_text(user_id) == str(user_id)  # PostgreSQL: a UUID


def test_the_rows_are_written_as_the_json_encoder_writes_them():
    rows = [
        UsageRow(key=None, label=NO_GROUP, plan_hundredths=0, overage_hundredths=0),
        UsageRow(key=D(2026, 11, 3), label="2026-11-03", plan_hundredths=150, overage_hundredths=7, messages=3),
        UsageRow(key=uuid.uuid4(), label='Zoë "the" \\ </script>\n 😀 (zoe)', plan_hundredths=10**12, events=9),
        UsageRow(key="claude-sonnet-4.5", label="Claude Sonnet 4.5", overage_hundredths=1),
        UsageRow(key="KIRO_CLI", label="Kiro CLI", plan_hundredths=-250, overage_hundredths=99, messages=-1),
        UsageRow(key="PRO", label="Pro", plan_hundredths=5, overage_hundredths=-1005),
    ]
    as_dicts = [{"key": api_usage._key(row.key), "label": row.label, **api_usage._figures(row)} for row in rows]
    assert api_usage.rows_json(rows) == json.JSONEncoder().encode(as_dicts)
    assert api_usage.rows_json([]) == "[]"


def test_every_row_by_user_is_written_as_the_json_encoder_writes_it(viewer_api, used):
    answer = viewer_api.get(api_url(used, group_by="user"))
    by_user = usage_by_user(used.profile, NOVEMBER)
    assert isinstance(by_user, UserRows)
    as_dicts = [{"key": str(row.key), "label": row.label, **api_usage._figures(row)} for row in by_user]
    assert as_dicts and answer.json()["rows"] == as_dicts
    assert f'"rows": {json.JSONEncoder().encode(as_dicts)}, "total": ' in answer.content.decode()

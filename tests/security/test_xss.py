"""Issue 9 items 1 and 2: hostile text is shown as text, and exported as text.

Names, descriptions and group names full of HTML arrive by every door (the console's forms, the import commands,
SCIM, the JSON API). Every page that shows them must show them escaped: the raw markup never appears in a body,
its escaped form does. The CSV exports carry the text, but a cell a spreadsheet would run as a formula (it starts
with = + - @, a tab or a carriage return) gets a leading quote (kiroconsole/csv_safe.py).
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils.html import escape

from directory import services as directory
from directory.models import DirectoryGroup, DirectoryUser
from subscriptions.services import group_assign, subscription_subscribe
from tests.credits.conftest import event, record
from tests.subscriptions.conftest import ACTOR

CHANNELS = ("form", "import", "scim", "api")


def user_name_of(channel: str) -> str:
    return f"mallory.{channel}"


def display_name_of(channel: str) -> str:
    return f"<script>alert('{channel}')</script>"


def given_name_of(channel: str) -> str:
    return f'"><img src=x onerror=alert("{channel}")>'


def group_name_of(channel: str) -> str:
    return f'"><img src=x onerror=alert(1)> {channel}'


def description_of(channel: str) -> str:
    return f"<script>alert('{channel} description')</script>"


HOSTILE = [f(c) for c in CHANNELS for f in (display_name_of, given_name_of, group_name_of, description_of)]


def by_form(client, ic) -> None:
    response = client.post(
        "/directory/users/new/",
        {
            "identity_center": ic.pk,
            "user_name": user_name_of("form"),
            "display_name": display_name_of("form"),
            "given_name": given_name_of("form"),
            "family_name": "Form",
            "email": "mallory.form@example.com",
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()
    response = client.post(
        "/directory/groups/new/",
        {"identity_center": ic.pk, "display_name": group_name_of("form"), "description": description_of("form")},
    )
    assert response.status_code == 302, response.content.decode()


def by_import(tmp_path) -> None:
    def rows(*lines: list[str]) -> str:
        out = StringIO()
        csv.writer(out).writerows(lines)
        return out.getvalue()

    users = tmp_path / "users.csv"
    users.write_text(
        rows(
            ["user_name", "display_name", "given_name", "family_name", "email"],
            [user_name_of("import"), display_name_of("import"), given_name_of("import"), "Import", "mi@example.com"],
        )
    )
    groups = tmp_path / "groups.csv"
    groups.write_text(
        rows(["display_name", "description"], [group_name_of("import"), description_of("import")]),
    )
    call_command("import_users", str(users), stdout=StringIO(), stderr=StringIO())
    call_command("import_groups", str(groups), stdout=StringIO(), stderr=StringIO())


def by_scim(ic) -> None:
    _, raw = directory.scim_token_create(identity_center=ic, actor=ACTOR)
    scim = Client(headers={"Authorization": f"Bearer {raw}"})
    user = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name_of("scim"),
        "displayName": display_name_of("scim"),
        "name": {"givenName": given_name_of("scim"), "familyName": "Scim"},
        "emails": [{"value": "ms@example.com", "type": "work", "primary": True}],
        "active": True,
    }
    response = scim.post("/scim/v2/Users", json.dumps(user), content_type="application/scim+json")
    assert response.status_code == 201, response.content.decode()
    group = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": group_name_of("scim")}
    response = scim.post("/scim/v2/Groups", json.dumps(group), content_type="application/scim+json")
    assert response.status_code == 201, response.content.decode()
    # SCIM has no group description: give the SCIM group one through the service, as the other doors do.
    directory.directory_group_update(
        group=DirectoryGroup.objects.get(display_name=group_name_of("scim")),
        actor=ACTOR,
        description=description_of("scim"),
    )


def by_api(api) -> None:
    user = {
        "user_name": user_name_of("api"),
        "display_name": display_name_of("api"),
        "given_name": given_name_of("api"),
        "family_name": "Api",
        "email": "ma@example.com",
    }
    response = api.post("/api/v1/users", user, content_type="application/json")
    assert response.status_code == 201, response.content.decode()
    group = {"display_name": group_name_of("api"), "description": description_of("api")}
    response = api.post("/api/v1/groups", group, content_type="application/json")
    assert response.status_code == 201, response.content.decode()


@pytest.fixture
def hostile(org, admin_client, admin_api, tmp_path):
    """A hostile user and group by each door, each user in its group, subscribed at Pro in Production (the group
    assigned too) with some usage this month."""
    by_form(admin_client, org.ic)
    by_import(tmp_path)
    by_scim(org.ic)
    by_api(admin_api)
    users = {c: DirectoryUser.objects.get(user_name=user_name_of(c)) for c in CHANNELS}
    groups = {c: DirectoryGroup.objects.get(display_name=group_name_of(c)) for c in CHANNELS}
    for channel in CHANNELS:
        assert users[channel].display_name == display_name_of(channel), "the door stored the text as sent"
        assert users[channel].given_name == given_name_of(channel)
        assert groups[channel].description == description_of(channel)
        directory.group_members_add(group=groups[channel], users=[users[channel]], actor=ACTOR)
        group_assign(profile=org.profile, group=groups[channel], tier="PRO", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=list(users.values()), tier="PRO", actor=ACTOR)
    for n, user in enumerate(users.values(), start=1):
        record(org.profile, event(user, Decimal(10 * n)))
    return SimpleNamespace(profile=org.profile, users=users, groups=groups)


def check(response, *expected: str) -> str:
    """No hostile text raw anywhere in the body; each of `expected` there in its escaped form."""
    assert response.status_code == 200, response.status_code
    body = response.content.decode()
    for text in HOSTILE:
        assert text not in body, f"unescaped: {text!r} in {response.wsgi_request.path}"
    for text in expected:
        assert escape(text) in body, f"missing: {escape(text)!r} in {response.wsgi_request.path}"
    return body


ALL_DISPLAY_NAMES = [display_name_of(c) for c in CHANNELS]
ALL_GROUP_NAMES = [group_name_of(c) for c in CHANNELS]


def test_hostile_names_are_escaped_in_the_directory(admin_client, hostile):
    check(admin_client.get("/directory/users/"), *ALL_DISPLAY_NAMES)
    check(admin_client.get("/directory/groups/"), *ALL_GROUP_NAMES)
    check(admin_client.get("/directory/groups/suggest/", {"group": "img"}), *ALL_GROUP_NAMES)
    for channel in CHANNELS:
        user, group = hostile.users[channel], hostile.groups[channel]
        check(
            admin_client.get(f"/directory/users/{user.pk}/"),
            display_name_of(channel),
            given_name_of(channel),
            group_name_of(channel),
        )
        check(admin_client.get(f"/directory/users/{user.pk}/edit/"), display_name_of(channel), given_name_of(channel))
        check(admin_client.get(f"/directory/users/{user.pk}/delete/"), display_name_of(channel))
        check(
            admin_client.get(f"/directory/groups/{group.pk}/"),
            group_name_of(channel),
            description_of(channel),
            display_name_of(channel),
        )
        check(admin_client.get(f"/directory/groups/{group.pk}/edit/"), group_name_of(channel), description_of(channel))
        check(admin_client.get(f"/directory/groups/{group.pk}/delete/"), group_name_of(channel))
        check(admin_client.get(f"/directory/groups/{group.pk}/members/{user.pk}/remove/"), group_name_of(channel))
    # The member search (its htmx fragment and its page): the other doors' users are candidates.
    group = hostile.groups["form"]
    for headers in ({}, {"HX-Request": "true"}):
        check(
            admin_client.get(f"/directory/groups/{group.pk}/members/search/", {"q": "mallory"}, headers=headers),
            display_name_of("api"),
        )


def test_hostile_names_are_escaped_in_the_profile_tabs_and_dialogs(admin_client, hostile):
    base = f"/profiles/{hostile.profile.profile_id}"
    check(admin_client.get(f"{base}/"))
    for headers in ({}, {"HX-Request": "true"}):
        check(admin_client.get(f"{base}/users/", headers=headers), *ALL_DISPLAY_NAMES)
        check(admin_client.get(f"{base}/groups/", headers=headers), *ALL_GROUP_NAMES)
    check(admin_client.get(f"{base}/groups/suggest/", {"group": "img"}), *ALL_GROUP_NAMES)
    ids = [str(u.pk) for u in hostile.users.values()]
    for headers in ({}, {"HX-Request": "true"}):
        check(admin_client.get(f"{base}/users/change-plan/", {"users": ids}, headers=headers))
        check(admin_client.get(f"{base}/users/unsubscribe/", {"users": ids}, headers=headers))
        check(
            admin_client.get(f"{base}/subscribe/", {"step": "who", "tier": "PRO_PLUS", "q": "img"}, headers=headers),
        )
        check(
            admin_client.get(
                f"{base}/subscribe/",
                {"step": "who", "tier": "PRO_PLUS", "kind": "groups", "q": "img"},
                headers=headers,
            ),
            *ALL_GROUP_NAMES,
        )
        check(
            admin_client.get(
                f"{base}/subscribe/",
                {
                    "step": "confirm",
                    "tier": "PRO_PLUS",
                    "kind": "groups",
                    "groups": [str(g.pk) for g in hostile.groups.values()],
                },
                headers=headers,
            ),
            *ALL_GROUP_NAMES,
        )
        for channel in CHANNELS:
            group = hostile.groups[channel]
            for page in ("change-plan", "unassign", "overage-cap"):
                check(admin_client.get(f"{base}/groups/{group.pk}/{page}/", headers=headers), group_name_of(channel))
    for channel in CHANNELS:
        user = hostile.users[channel]
        check(
            admin_client.get(f"{base}/users/{user.pk}/"),
            display_name_of(channel),
            group_name_of(channel),
        )
    check(admin_client.get(f"{base}/bill/"))


def test_hostile_names_are_escaped_in_usage_dashboard_and_chargeback(admin_client, hostile):
    base = f"/profiles/{hostile.profile.profile_id}"
    check(admin_client.get(f"{base}/usage/", {"group_by": "user"}), *ALL_DISPLAY_NAMES)
    check(admin_client.get(f"{base}/usage/", {"group_by": "group"}), *ALL_GROUP_NAMES)
    check(
        admin_client.get(f"{base}/usage/", {"group_by": "user"}, headers={"HX-Request": "true"}),
        *ALL_DISPLAY_NAMES,
    )
    # A filter naming the hostile group echoes it back at the field and in the results' heading.
    check(
        admin_client.get(f"{base}/usage/", {"group_by": "user", "group": group_name_of("scim")}), group_name_of("scim")
    )
    body = check(admin_client.get(f"{base}/dashboard/"), *ALL_DISPLAY_NAMES)
    chart = body.split('<title id="chart-top-users-title">', 1)[1].split("</svg>", 1)[0]
    for name in ALL_DISPLAY_NAMES:  # the bars' labels of the top users' chart, not only its table
        assert escape(name) in chart
    check(admin_client.get(f"{base}/dashboard/", headers={"HX-Request": "true"}), *ALL_DISPLAY_NAMES)
    check(admin_client.get(f"{base}/chargeback/"), *ALL_GROUP_NAMES)


def test_hostile_names_are_escaped_in_the_audit_log(admin_client, hostile):
    from kiroconsole.models import AuditEvent

    check(admin_client.get("/audit/"), group_name_of("api"))
    events = AuditEvent.objects.filter(target_type__in=["directoryuser", "directorygroup"], action__endswith="create")
    assert events.count() >= 2 * len(CHANNELS)
    for audit_event in events:
        check(admin_client.get(f"/audit/{audit_event.pk}/"))


ADMIN_CHANGELISTS = {
    "/admin/directory/directoryuser/": ALL_DISPLAY_NAMES,
    "/admin/directory/directorygroup/": ALL_GROUP_NAMES,
    "/admin/directory/groupmembership/": [],
    "/admin/subscriptions/subscription/": [],
    "/admin/subscriptions/groupassignment/": ALL_GROUP_NAMES,
    "/admin/kiroconsole/auditevent/": [],
    "/admin/credits/usageevent/": [],
    "/admin/credits/balance/": [],
}


@pytest.mark.parametrize("url", sorted(ADMIN_CHANGELISTS))
def test_hostile_names_are_escaped_in_the_admin(admin_client, hostile, url):
    check(admin_client.get(url), *ADMIN_CHANGELISTS[url])


def test_hostile_names_are_escaped_in_the_admin_change_forms(admin_client, hostile):
    for channel in CHANNELS:
        user, group = hostile.users[channel], hostile.groups[channel]
        check(admin_client.get(f"/admin/directory/directoryuser/{user.pk}/change/"), display_name_of(channel))
        check(
            admin_client.get(f"/admin/directory/directorygroup/{group.pk}/change/"),
            group_name_of(channel),
            description_of(channel),
        )


def test_csv_exports_are_downloads_not_pages(admin_client, hostile, clock):
    base = f"/profiles/{hostile.profile.profile_id}"
    day = f"{clock.now:%Y-%m-%d}"
    for url in (f"{base}/usage.csv", f"{base}/chargeback.csv", f"{base}/user-activity-report/?date={day}"):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].startswith("text/csv"), url
        assert response["Content-Disposition"].startswith("attachment"), url


# --- Item 2: CSV injection ---------------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tX", "\rX"]


def cells(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.fixture
def formulas(org):
    """A user and a group per formula start, stored as is (written past the services' trimming, as a legacy
    database or a lenient identity provider could leave them), subscribed in Production through the group, with
    usage today."""
    users, groups = [], []
    for n, text in enumerate(FORMULAS):
        user = directory.directory_user_create(
            identity_center=org.ic,
            actor=ACTOR,
            user_name=f"formula{n}",
            display_name=f"Formula {n}",
            given_name="Formula",
            family_name="Tester",
            email=f"formula{n}@example.com",
        )
        group = directory.directory_group_create(identity_center=org.ic, actor=ACTOR, display_name=f"Formula group {n}")
        directory.group_members_add(group=group, users=[user], actor=ACTOR)
        group_assign(profile=org.profile, group=group, tier="PRO", actor=ACTOR)
        DirectoryUser.objects.filter(pk=user.pk).update(display_name=text, email=text)
        DirectoryGroup.objects.filter(pk=group.pk).update(display_name=text)
        users.append(user)
        groups.append(group)
    for n, user in enumerate(users, start=1):
        record(org.profile, event(user, Decimal(n)))
    return SimpleNamespace(profile=org.profile, users=users, groups=groups)


def assert_neutralised(rows: list[list[str]], column: int, starts_with: bool = False) -> None:
    values = [row[column] for row in rows[1:]]
    for text in FORMULAS:
        quoted = "'" + text
        found = [v for v in values if (v.startswith(quoted) if starts_with else v == quoted)]
        assert found, f"{quoted!r} not in {values!r}"
    for value in values:
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


def test_usage_csv_neutralises_formulas_in_user_and_group_names(admin_client, formulas):
    base = f"/profiles/{formulas.profile.profile_id}"
    # Grouped by user the label is "display name (user name)": it starts with the display name.
    assert_neutralised(cells(admin_client.get(f"{base}/usage.csv", {"group_by": "user"})), 0, starts_with=True)
    assert_neutralised(cells(admin_client.get(f"{base}/usage.csv", {"group_by": "group"})), 0)


def test_chargeback_csv_neutralises_formulas_in_group_names(admin_client, formulas):
    rows = cells(admin_client.get(f"/profiles/{formulas.profile.profile_id}/chargeback.csv"))
    assert_neutralised(rows, 0)


def test_user_activity_report_neutralises_formulas_in_emails(admin_client, formulas, clock):
    response = admin_client.get(
        f"/profiles/{formulas.profile.profile_id}/user-activity-report/", {"date": f"{clock.now:%Y-%m-%d}"}
    )
    rows = cells(response)
    assert_neutralised(rows, rows[0].index("User_Email"))


def test_the_api_report_neutralises_formulas_too(admin_api, formulas, clock):
    response = admin_api.get(
        f"/api/v1/profiles/{formulas.profile.profile_id}/user-activity-report", {"date": f"{clock.now:%Y-%m-%d}"}
    )
    rows = cells(response)
    assert_neutralised(rows, rows[0].index("User_Email"))

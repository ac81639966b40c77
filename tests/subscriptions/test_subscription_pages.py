"""The subscription pages of a profile: the Users and Groups tabs (query budgets that do not grow with rows), the
subscribe, change-plan and unsubscribe dialogs (as pages without JavaScript and as htmx fragments), a group's
change of plan and unassignment, the profile page's counts, the bill preview, and what each role may do there.

The clock of tests/subscriptions/conftest.py is at 2026-11-15 12:00 UTC: downgrades and cancellations take effect
on 1 December 2026."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from directory import services as directory
from kiroconsole.models import AuditEvent
from subscriptions.models import GroupAssignment, Subscription
from subscriptions.services import (
    group_assign,
    subscription_change_plan,
    subscription_record_activity,
    subscription_subscribe,
    subscription_unsubscribe,
)
from tests.factories import ProfileFactory
from tests.subscriptions.conftest import ACTOR

HTMX = {"HX-Request": "true"}
TIMES = "\N{MULTIPLICATION SIGN}"
USERS_TAB_QUERIES = 9  # session, user, roles, unread alerts, profile, tiers, count, a page of rows, their group sources
GROUPS_TAB_QUERIES = (
    7  # session, user, roles, unread alerts, profile, count, a page of assignments (with tier and member count)
)


def url(profile, path: str = "") -> str:
    return f"/profiles/{profile.profile_id}/{path}"


def text(response) -> str:
    """The response's HTML with tags removed and white space collapsed, to match sentences."""
    html = response.content.decode()
    flat = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    return flat.replace(" .", ".").replace(" ,", ",").replace(" :", ":").replace("&#x27;", "'")


def rows(response) -> dict[str, str]:
    """The Users tab's rows as text, by user name."""
    html = response.content.decode()
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    found = {}
    for row in re.findall(r"<tr.*?</tr>", body, flags=re.S):
        cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        match = re.search(r'href="/directory/users/[^"]+/">([^<]+)<', row)
        if match:
            found[match.group(1)] = cells
    return found


def sub(org, name, profile=None) -> Subscription:
    return Subscription.objects.get(profile=profile or org.profile, user=org.users[name])


def ids(org, *names) -> str:
    return "&".join(f"users={org.users[name].pk}" for name in names)


@pytest.fixture
def subscribed(org):
    """Engineering (ann, bob) assigned at Pro+; cat subscribed directly at Pro Max, then moved down to Pro from the
    1st; bob unsubscribed (his group no longer counts); ann has used Kiro."""
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO_PLUS", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=[org.users["cat"]], tier="PRO_MAX", actor=ACTOR)
    subscription_change_plan(profile=org.profile, users=[org.users["cat"]], tier="PRO", actor=ACTOR)
    subscription_unsubscribe(profile=org.profile, users=[org.users["bob"]], actor=ACTOR)
    assert subscription_record_activity(subscription_id=sub(org, "ann").pk, at=timezone.now())
    return org


# --- Every page, every role ---------------------------------------------------------------------------------


def page_urls(org) -> list[str]:
    group = org.groups["Engineering"].pk
    return [
        url(org.profile),
        url(org.profile, "users/"),
        url(org.profile, "groups/"),
        url(org.profile, "bill/"),
        url(org.profile, "groups/suggest/?group=eng"),
    ] + [
        url(org.profile, path)
        for path in (
            "subscribe/",
            f"users/change-plan/?{ids(org, 'ann')}",
            f"users/unsubscribe/?{ids(org, 'ann')}",
            f"groups/{group}/change-plan/",
            f"groups/{group}/unassign/",
        )
    ]


READ_PAGES = 5  # the first five of page_urls: the rest are the write dialogs


@pytest.mark.parametrize("persona", ["admin_client", "support_client", "viewer_client"])
def test_every_page_renders_for_each_role_that_reads(request, subscribed, persona):
    client = request.getfixturevalue(persona)
    for i, address in enumerate(page_urls(subscribed)):
        response = client.get(address)
        expected = 200 if i < READ_PAGES or persona != "viewer_client" else 403
        assert response.status_code == expected, (persona, address, response.status_code)


def test_viewer_sees_no_write_controls_and_may_not_post(viewer_client, subscribed):
    org = subscribed
    for path in ("", "users/", "groups/"):
        html = viewer_client.get(url(org.profile, path)).content.decode()
        assert "Subscribe" not in re.sub(r"<[^>]+>", "", html).replace("Subscribed (UTC)", ""), path
        assert 'type="checkbox"' not in html
        assert "bulk-form" not in html
        assert "change-plan" not in html and "unassign" not in html
    group = org.groups["Engineering"].pk
    before = list(Subscription.objects.values_list("pk", "status", "tier_id", "next_tier_id"))
    for path, data in [
        ("subscribe/", {"tier": "PRO", "kind": "users", "users": [org.users["cat"].pk]}),
        ("users/change-plan/", {"tier": "POWER", "users": [org.users["ann"].pk]}),
        ("users/unsubscribe/", {"users": [org.users["ann"].pk]}),
        (f"groups/{group}/change-plan/", {"tier": "POWER"}),
        (f"groups/{group}/unassign/", {}),
    ]:
        response = viewer_client.post(url(org.profile, path), data)
        assert response.status_code == 403, path
        assert b"Not allowed" in response.content
    assert list(Subscription.objects.values_list("pk", "status", "tier_id", "next_tier_id")) == before
    assert GroupAssignment.objects.get(group=group).tier_id == "PRO_PLUS"


def test_posts_need_the_csrf_token(admin_user, subscribed):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post(url(subscribed.profile, "users/unsubscribe/"), {"users": [subscribed.users["ann"].pk]})
    assert response.status_code == 403
    assert sub(subscribed, "ann").status == "ACTIVE"


def test_pages_of_an_unknown_profile_are_404(admin_client, db):
    for path in ("users/", "groups/", "bill/", "subscribe/", "users/change-plan/"):
        assert admin_client.get(f"/profiles/NOSUCHPROFILE/{path}").status_code == 404


def test_the_tabs_lead_to_each_page_of_the_profile(viewer_client, subscribed):
    html = viewer_client.get(url(subscribed.profile, "groups/")).content.decode()
    nav = html[html.index('<nav class="tabs" aria-label="Profile">') :]
    nav = nav[: nav.index("</nav>")]
    links = re.findall(r'href="([^"]+)"[^>]*>([^<]+)<', nav)
    assert [name for _, name in links] == [
        "Overview",
        "Dashboard",
        "Usage",
        "Users",
        "Groups",
        "Settings",
        "Bill",
        "Chargeback",
    ]
    assert [href for href, _ in links] == [
        url(subscribed.profile, p)
        for p in ("", "dashboard/", "usage/", "users/", "groups/", "settings/", "bill/", "chargeback/")
    ]
    assert re.search(r'href="[^"]+/groups/" aria-current="page"', nav)


# --- The Users tab ----------------------------------------------------------------------------------------


def test_users_tab_shows_status_tier_next_tier_sources_and_dates(viewer_client, subscribed):
    org = subscribed
    directory.directory_user_update(user=org.users["cat"], actor=ACTOR, active=False)
    found = rows(viewer_client.get(url(org.profile, "users/")))
    assert list(found) == ["ann", "bob", "cat"]
    assert found["ann"] == "ann Ann · Usage of ann Active Pro+ — Engineering · Pro+ 2026-11-15 2026-11-15"
    assert found["bob"] == (
        "bob Bob · Usage of bob Canceled access until 2026-12-01 Pro+ — Engineering · Pro+ "
        "Unsubscribed: its groups count again once subscribed directly 2026-11-15 Never"
    )
    assert found["cat"] == (
        "cat Cat · Usage of cat Pending ⚠ Deactivated in the directory Pro Max Pro from 2026-12-01 "
        "Direct · Pro 2026-11-15 Never"
    )


def test_users_tab_after_the_first_shows_the_lower_tier(viewer_client, viewer_user, subscribed, clock):
    clock.set(2026, 12, 2)
    viewer_client.force_login(viewer_user)  # the session of 15 November has expired
    found = rows(viewer_client.get(url(subscribed.profile, "users/")))
    assert "Pending Pro — Direct · Pro" in found["cat"]
    assert "access ended 2026-12-01" in found["bob"]


def test_users_tab_filters_by_status_tier_group_and_search(viewer_client, viewer_user, subscribed, clock):
    org = subscribed
    users = url(org.profile, "users/")
    assert list(rows(viewer_client.get(users + "?status=CANCELED"))) == ["bob"]
    assert list(rows(viewer_client.get(users + "?status=PENDING"))) == ["cat"]
    assert list(rows(viewer_client.get(users + "?tier=PRO_PLUS"))) == ["ann", "bob"]
    assert list(rows(viewer_client.get(users + "?tier=PRO_MAX"))) == ["cat"]
    assert list(rows(viewer_client.get(users + "?tier=PRO"))) == []
    clock.set(2026, 12, 1)  # cat's downgrade takes effect: the tier filter follows the time
    viewer_client.force_login(viewer_user)
    assert list(rows(viewer_client.get(users + "?tier=PRO"))) == ["cat"]
    assert list(rows(viewer_client.get(users + "?tier=PRO_MAX"))) == []
    # The group filter takes a group's id (links from the Groups tab) or its name; the box shows the name.
    research = org.groups["Research"]
    response = viewer_client.get(users + f"?group={research.pk}")
    assert list(rows(response)) == ["bob", "cat"]
    assert 'value="Research"' in response.content.decode()
    assert list(rows(viewer_client.get(users + "?group=engineering"))) == ["ann", "bob"]
    response = viewer_client.get(users + "?group=Nope")
    assert list(rows(response)) == []
    assert "0 results" in text(response)
    assert list(rows(viewer_client.get(users + "?q=CAT@example"))) == ["cat"]
    assert list(rows(viewer_client.get(users + "?q=a&status=ACTIVE"))) == ["ann"]


def test_users_tab_counts_what_each_filter_lists(viewer_client, viewer_user, subscribed, clock):
    """The total is counted apart from the page (on the subscriptions' indexes): it must agree with the rows."""
    users = url(subscribed.profile, "users/")

    def total(query: str) -> str:
        return re.search(r"(\d+) results?", text(viewer_client.get(users + query))).group(1)

    assert total("") == "3"
    assert total("?status=ACTIVE") == "1"
    assert total("?tier=PRO_PLUS") == "2"
    assert total("?tier=PRO_MAX") == "1"  # cat's downgrade to Pro is not due yet
    assert total("?tier=PRO") == "0"
    assert total("?q=CAT@example") == "1"
    assert total("?q=a&status=ACTIVE") == "1"
    assert total("?group=engineering&tier=PRO_PLUS") == "2"
    clock.set(2026, 12, 1)  # due: cat counts at Pro now
    viewer_client.force_login(viewer_user)
    assert total("?tier=PRO") == "1"
    assert total("?tier=PRO_MAX") == "0"
    assert total("?tier=PRO&status=PENDING") == "1"


def test_users_tab_sorts(viewer_client, subscribed):
    users = url(subscribed.profile, "users/")
    assert list(rows(viewer_client.get(users + "?sort=-user"))) == ["cat", "bob", "ann"]
    assert list(rows(viewer_client.get(users + "?sort=status"))) == ["ann", "bob", "cat"]  # Active, Canceled, Pending
    assert list(rows(viewer_client.get(users + "?sort=-tier"))) == ["cat", "ann", "bob"]  # Pro Max, then Pro+ by name
    for column in ("subscribed_at", "-last_active_at"):
        assert viewer_client.get(users + f"?sort={column}").status_code == 200


def test_group_filter_suggests_the_profiles_directory_groups(viewer_client, subscribed):
    other_directory = ProfileFactory(region="us-gov-east-1")
    directory.directory_group_create(
        identity_center=other_directory.identity_center, actor=ACTOR, display_name="Research (gov)"
    )
    response = viewer_client.get(url(subscribed.profile, "groups/suggest/?group=EAR"))
    assert re.findall(r'<option value="([^"]+)">', response.content.decode()) == ["Research"]
    assert viewer_client.get(url(subscribed.profile, "groups/suggest/?group=")).content.strip() == b""


def make_subscriptions(org, n: int) -> None:
    people = [
        directory.directory_user_create(
            identity_center=org.ic,
            actor=ACTOR,
            user_name=f"person{i:03d}",
            display_name=f"Person {i}",
            given_name="Person",
            family_name=f"{i}",
            email=f"person{i:03d}@example.com",
        )
        for i in range(n)
    ]
    half = len(people) // 2
    subscription_subscribe(profile=org.profile, users=people[:half], tier="PRO", actor=ACTOR)
    directory.group_members_add(group=org.groups["Research"], users=people[half:], actor=ACTOR)
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO_MAX", actor=ACTOR)


def test_users_tab_queries_do_not_grow_with_rows(admin_client, org, django_assert_num_queries):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO_PLUS", actor=ACTOR)
    users = url(org.profile, "users/")
    with django_assert_num_queries(USERS_TAB_QUERIES):
        assert len(rows(admin_client.get(users))) == 2
    make_subscriptions(org, 20)
    with django_assert_num_queries(USERS_TAB_QUERIES):
        assert len(rows(admin_client.get(users))) == 23  # 2 + 20 + cat (Research)
    with django_assert_num_queries(USERS_TAB_QUERIES - 1):  # a fragment: no header, so no unread count
        assert admin_client.get(users + "?sort=-tier&status=PENDING&tier=PRO_MAX", headers=HTMX).status_code == 200
    with django_assert_num_queries(USERS_TAB_QUERIES + 1):  # the group named
        assert len(rows(admin_client.get(users + "?group=Research"))) == 12
    # A search asks SQLite's full-text index once whether it narrows the term, for the page and the count alike.
    with django_assert_num_queries(USERS_TAB_QUERIES + (connection.vendor == "sqlite")):
        assert len(rows(admin_client.get(users + "?q=person&tier=PRO_MAX"))) == 10


def test_users_tab_has_a_row_budget_at_fifty_rows(viewer_client, org, django_assert_max_num_queries):
    make_subscriptions(org, 60)
    with django_assert_max_num_queries(USERS_TAB_QUERIES):
        response = viewer_client.get(url(org.profile, "users/"))
    assert len(rows(response)) == 50
    assert "62 results · page 1 of 2" in text(response)


def test_users_tab_for_htmx_is_the_table_fragment(viewer_client, subscribed):
    response = viewer_client.get(url(subscribed.profile, "users/?status=ACTIVE"), headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="table-main"')
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_row_checkboxes_are_labelled_and_belong_to_the_bulk_form(admin_client, subscribed):
    html = admin_client.get(url(subscribed.profile, "users/")).content.decode()
    boxes = re.findall(
        r'<input type="checkbox" name="users" value="([^"]+)" form="bulk-form" aria-label="([^"]+)">', html
    )
    assert [label for _, label in boxes] == ["Select ann", "Select bob", "Select cat"]
    assert '<form id="bulk-form"' in html
    assert 'data-select-all="users" aria-label="Select every user on this page"' in html


# --- The Groups tab ---------------------------------------------------------------------------------------


def test_groups_tab_lists_assigned_groups_with_member_counts(admin_client, subscribed):
    org = subscribed
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)
    html = admin_client.get(url(org.profile, "groups/")).content.decode()
    body = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[html.index("<tbody>") : html.index("</tbody>")]))
    assert (
        "Engineering 2 Pro+ No cap Set cap of Engineering 2026-11-15 Subscriptions of Engineering "
        "Change plan of Engineering Unassign Engineering" in body
    )
    assert "Research 2 Pro No cap Set cap of Research 2026-11-15" in body
    research = org.groups["Research"].pk
    assert f'href="{url(org.profile, "users/")}?group={research}"' in html
    assert f'hx-get="{url(org.profile, f"groups/{research}/change-plan/")}"' in html


def test_groups_tab_queries_do_not_grow_with_rows(viewer_client, org, django_assert_num_queries):
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    with django_assert_num_queries(GROUPS_TAB_QUERIES):
        viewer_client.get(url(org.profile, "groups/"))
    for i in range(20):
        group = directory.directory_group_create(identity_center=org.ic, actor=ACTOR, display_name=f"Team {i}")
        directory.group_members_add(group=group, users=[org.users["ann"], org.users["cat"]], actor=ACTOR)
        group_assign(profile=org.profile, group=group, tier="PRO", actor=ACTOR)
    with django_assert_num_queries(GROUPS_TAB_QUERIES):
        response = viewer_client.get(url(org.profile, "groups/"))
    assert "21 results" in text(response)


# --- The subscribe dialog ---------------------------------------------------------------------------------


def test_subscribe_step_one_shows_each_tier_with_credits_and_price(admin_client, org):
    response = admin_client.get(url(org.profile, "subscribe/"))
    page = text(response)
    assert "Pro 1,000 credits a month $20.00 per user a month" in page
    assert "Power 10,000 credits a month $200.00 per user a month" in page
    assert "Choose a tier" in page and "Choose a tier." not in page  # no error before trying
    assert 'aria-current="step"><span class="step-number">1</span> Tier' in response.content.decode()


def test_subscribe_prices_include_the_govcloud_multiplier(admin_client, db):
    gov = ProfileFactory(region="us-gov-west-1")
    page = text(admin_client.get(url(gov, "subscribe/")))
    assert "Pro 1,000 credits a month $24.00 per user a month" in page
    assert "Power 10,000 credits a month $240.00 per user a month" in page
    assert f"GovCloud Region: the list prices {TIMES} 1.2." in page


def test_subscribe_without_a_tier_says_so_at_the_tier(admin_client, org):
    response = admin_client.get(url(org.profile, "subscribe/?step=who&kind=users"))
    html = response.content.decode()
    assert response.status_code == 200
    assert re.search(r'<fieldset class="tier-cards field-invalid".*Choose a tier\.</p>\s*</fieldset>', html, re.S)


def test_subscribe_step_two_finds_users_and_keeps_the_picks(admin_client, org):
    ann, cat, dan = org.users["ann"], org.users["cat"], org.users["dan"]
    subscribe = url(org.profile, "subscribe/")
    response = admin_client.get(subscribe + "?tier=PRO&q=example.com")
    page = text(response)
    assert "Tier: Pro · 1,000 credits a month" in page
    html = response.content.decode()
    assert re.findall(r'name="add" value="([^"]+)"', html) == [str(u.pk) for u in (ann, org.users["bob"], cat)]
    assert "Deactivated: can't be subscribed" in page  # dan
    # Add ann: she is among the chosen (a hidden field carries her), no longer among the matches.
    response = admin_client.get(subscribe + f"?tier=PRO&q=example.com&add={ann.pk}")
    html = response.content.decode()
    assert f'<input type="hidden" name="users" value="{ann.pk}">' in html
    assert str(ann.pk) not in re.findall(r'name="add" value="([^"]+)"', html)
    assert "Chosen users (1)" in text(response)
    # Add cat, remove ann.
    response = admin_client.get(subscribe + f"?tier=PRO&q=example.com&users={ann.pk}&add={cat.pk}&remove={ann.pk}")
    assert re.findall(r'<input type="hidden" name="users" value="([^"]+)">', response.content.decode()) == [str(cat.pk)]
    # The type-ahead's fragment: only the matches.
    response = admin_client.get(
        subscribe + f"?tier=PRO&q=da&users={ann.pk}", headers={**HTMX, "HX-Target": "subscribe-candidates"}
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="subscribe-candidates"')
    assert "dan" in html and "Chosen" not in html
    assert str(dan.pk) not in re.findall(r'name="add" value="([^"]+)"', html)
    # Next without anyone chosen: the error is at the chosen list.
    response = admin_client.get(subscribe + "?tier=PRO&step=confirm")
    assert "Choose at least one user." in text(response)
    assert 'class="chosen field-invalid"' in response.content.decode()


def test_subscribe_confirmation_says_what_happens_to_each_user(admin_client, subscribed):
    org = subscribed
    response = admin_client.get(
        url(org.profile, f"subscribe/?tier=PRO_MAX&step=confirm&{ids(org, 'ann', 'bob', 'cat')}")
    )
    page = text(response)
    assert "Subscribe 3 users directly at Pro Max: 5,000 credits a month, $100.00 per user a month once active." in page
    assert "ann Ann Upgraded to Pro Max now." in page
    assert "bob Bob Canceled this month: reactivated, with its groups counting again." in page
    assert "cat Cat Already at Pro Max: no change of tier." in page
    assert "Subscribe 3 users" in page


def test_subscribing_users_reports_the_changes(admin_client, subscribed):
    org = subscribed
    directory.directory_user_create(
        identity_center=org.ic,
        actor=ACTOR,
        user_name="eve",
        display_name="Eve",
        given_name="Eve",
        family_name="Tester",
        email="eve@example.com",
    )
    eve = org.ic.users.get(user_name="eve")
    data = {"tier": "PRO", "kind": "users", "users": [eve.pk, org.users["ann"].pk]}
    response = admin_client.post(url(org.profile, "subscribe/"), data, follow=True)
    assert response.redirect_chain[-1][0] == url(org.profile, "users/")
    assert "Subscribed eve at Pro; 1 user already had a higher tier." in text(response)
    eve_sub = Subscription.objects.get(profile=org.profile, user=eve)
    assert (eve_sub.status, eve_sub.tier_id, eve_sub.direct_tier_id) == ("PENDING", "PRO", "PRO")
    assert sub(org, "ann").tier_id == "PRO_PLUS"  # Engineering keeps her at Pro+
    event = AuditEvent.objects.filter(action="subscription.subscribe").order_by("-pk").first()
    assert event.source == "web" and event.actor_label == "alice.admin"


def test_subscribing_a_deactivated_user_shows_the_error_at_the_users(admin_client, org):
    data = {"tier": "PRO", "kind": "users", "users": [org.users["dan"].pk]}
    response = admin_client.post(url(org.profile, "subscribe/"), data)
    assert response.status_code == 200
    assert "dan is deactivated: reactivate the user before subscribing it." in text(response)
    assert not Subscription.objects.filter(user=org.users["dan"]).exists()


def test_assigning_a_group_subscribes_its_members(admin_client, subscribed):
    org = subscribed
    research = org.groups["Research"]
    response = admin_client.get(url(org.profile, "subscribe/?tier=PRO&kind=groups&q=e"))
    html = response.content.decode()
    assert "Assigned at Pro+: change its plan in the Groups tab" in text(response)  # Engineering
    assert re.findall(r'name="add" value="([^"]+)"', html) == [str(research.pk)]
    response = admin_client.get(url(org.profile, f"subscribe/?tier=PRO&kind=groups&step=confirm&groups={research.pk}"))
    assert "Assign 1 group at Pro" in text(response)
    assert "Research 2 members" in text(response)
    response = admin_client.post(
        url(org.profile, "subscribe/"), {"tier": "PRO", "kind": "groups", "groups": [research.pk]}, follow=True
    )
    assert response.redirect_chain[-1][0] == url(org.profile, "groups/")
    # bob unsubscribed directly (his groups don't count); cat has Pro Max until the 1st, Pro from then on.
    assert "Assigned Research at Pro. No subscription changed." in text(response)
    assert GroupAssignment.objects.get(profile=org.profile, group=research).tier_id == "PRO"
    assert sub(org, "bob").status == "CANCELED"


def test_assigning_a_group_with_new_members_lists_them(admin_client, org):
    response = admin_client.post(
        url(org.profile, "subscribe/"),
        {"tier": "PRO_PLUS", "kind": "groups", "groups": [org.groups["Engineering"].pk]},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "kiro:changed"
    html = response.content.decode()
    assert '<div id="messages" hx-swap-oob="innerHTML">' in html
    assert "Assigned Engineering at Pro+. Subscribed ann and bob at Pro+." in html


def test_assigning_a_group_twice_is_an_error_and_writes_nothing(admin_client, subscribed):
    org = subscribed
    groups = [org.groups["Research"].pk, org.groups["Engineering"].pk]
    response = admin_client.post(url(org.profile, "subscribe/"), {"tier": "PRO", "kind": "groups", "groups": groups})
    assert response.status_code == 200
    assert "The group Engineering is already assigned in this profile." in text(response)
    assert not GroupAssignment.objects.filter(group=org.groups["Research"]).exists()  # all or nothing


def test_subscribe_dialog_with_htmx_is_a_fragment(admin_client, org):
    response = admin_client.get(url(org.profile, "subscribe/"), headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="subscribe-dialog"')
    assert '<h2 id="dialog-title">Subscribe users or groups</h2>' in html
    assert "<html" not in html


# --- Change plan ------------------------------------------------------------------------------------------


def test_change_plan_dialog_says_upgrade_now_or_downgrade_from_the_first(admin_client, subscribed):
    org = subscribed
    response = admin_client.get(url(org.profile, f"users/change-plan/?{ids(org, 'cat')}"))
    html = response.content.decode()

    def card(code):
        found = re.search(rf'id="tier-{code}-details">(.*?)</label>', html, re.S)
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1))).strip()

    assert card("POWER").endswith("Upgrade: applies now.")
    assert card("PRO_MAX").endswith("No change of tier.")
    assert card("PRO").endswith("Downgrade: from 1 December 2026; the current tier stays until then.")
    assert "cat Pro Max, Pro from 1 December 2026" in text(response)

    # ann is in Engineering at Pro+: below that she keeps Pro+ through the group.
    response = admin_client.get(url(org.profile, f"users/change-plan/?{ids(org, 'ann')}"))
    html = response.content.decode()
    assert card("PRO").endswith("No change of tier. ⚠ ann keeps Pro+ through a group: the highest source wins.")


def test_change_plan_of_several_users_counts_each_direction(admin_client, subscribed):
    org = subscribed
    response = admin_client.get(url(org.profile, f"users/change-plan/?{ids(org, 'ann', 'cat', 'bob')}"))
    page = text(response)
    assert "Change the plan of ann and cat" in page
    assert "Left out, canceled: bob. Subscribe them again instead." in page
    assert "1 user moves down on 1 December 2026 · 1 user unchanged." in page  # Pro: ann keeps Pro+ (group)
    assert "1 user moves up now · 1 user unchanged." in page  # Pro Max: cat's downgrade is undone
    assert "2 users move up now." in page  # Power


def test_changing_plans_down_schedules_the_next_tier(admin_client, subscribed):
    org = subscribed
    subscription_subscribe(profile=org.profile, users=[org.users["ann"]], tier="POWER", actor=ACTOR)
    response = admin_client.post(
        url(org.profile, "users/change-plan/"), {"tier": "PRO_MAX", "users": [org.users["ann"].pk]}, headers=HTMX
    )
    assert response["HX-Trigger"] == "kiro:changed"
    assert "ann moves down to Pro Max on 1 December 2026." in response.content.decode()
    s = sub(org, "ann")
    assert (s.tier_id, s.next_tier_id, s.next_tier_from.isoformat()) == (
        "POWER",
        "PRO_MAX",
        "2026-12-01T00:00:00+00:00",
    )
    assert "Power Pro Max from 2026-12-01" in rows(admin_client.get(url(org.profile, "users/")))["ann"]


def test_changing_plans_in_bulk(admin_client, subscribed):
    org = subscribed
    response = admin_client.post(
        url(org.profile, "users/change-plan/"),
        {"tier": "POWER", "users": [org.users["ann"].pk, org.users["cat"].pk]},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == url(org.profile, "users/")
    assert "Upgraded ann and cat to Power now." in text(response)
    assert {sub(org, n).tier_id for n in ("ann", "cat")} == {"POWER"}


def test_change_plan_without_a_tier_shows_the_error_at_the_tiers(admin_client, subscribed):
    org = subscribed
    response = admin_client.post(url(org.profile, "users/change-plan/"), {"users": [org.users["ann"].pk]})
    assert response.status_code == 200
    assert re.search(
        r'<fieldset class="tier-cards field-invalid".*Choose a tier\.</p>\s*</fieldset>',
        response.content.decode(),
        re.S,
    )
    response = admin_client.post(url(org.profile, "users/change-plan/"), {"tier": "PRO"})
    assert "Choose at least one user: tick them in the Users tab." in text(response)
    response = admin_client.post(
        url(org.profile, "users/change-plan/"), {"tier": "PRO", "users": [org.users["bob"].pk]}
    )
    assert "None of these users is subscribed: subscribe them instead." in text(response)


# --- Unsubscribe ------------------------------------------------------------------------------------------


def test_unsubscribe_confirmation_says_until_when_and_about_groups(admin_client, subscribed):
    org = subscribed
    page = text(admin_client.get(url(org.profile, f"users/unsubscribe/?{ids(org, 'ann', 'cat', 'bob')}")))
    assert "Unsubscribe ann and cat?" in page
    assert "They keep access and their current tier's credits until 1 December 2026, 00:00 UTC, then lose it." in page
    assert (
        "ann stays unsubscribed even while its groups are assigned (Engineering), "
        "until it is subscribed directly again." in page
    )
    assert "Already canceled, left out: bob (access until 1 December 2026)." in page
    assert "Unsubscribe 2 users" in page


def test_unsubscribing_users_reports_the_access_date(admin_client, subscribed):
    org = subscribed
    response = admin_client.post(
        url(org.profile, "users/unsubscribe/"), {"users": [org.users["ann"].pk, org.users["cat"].pk]}, follow=True
    )
    assert "Unsubscribed ann and cat: access until 1 December 2026." in text(response)
    for name in ("ann", "cat"):
        s = sub(org, name)
        assert (s.status, s.access_until.isoformat(), s.direct_opt_out) == (
            "CANCELED",
            "2026-12-01T00:00:00+00:00",
            True,
        )
    assert "Canceled access until 2026-12-01" in rows(admin_client.get(url(org.profile, "users/")))["ann"]


# --- A group's plan and unassignment -------------------------------------------------------------------------


def test_group_change_plan_dialog_counts_members_who_move(admin_client, subscribed):
    org = subscribed
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)
    response = admin_client.get(url(org.profile, f"groups/{org.groups['Research'].pk}/change-plan/"))
    page = text(response)
    # Research: bob (unsubscribed: not counted) and cat (Pro Max now, Pro directly from the 1st).
    assert "Research (2 members) is at Pro." in page
    assert "Pro 1,000 credits a month $20.00 per user a month The group's tier now." in page
    assert "Upgrade: applies to its members now. Its subscribed members: 1 member moves up now." in page  # Power
    assert "Upgrade: applies to its members now. Its subscribed members: 1 member unchanged." in page  # Pro Max
    assert 'id="tier-PRO" value="PRO" checked' in response.content.decode()


def test_changing_a_groups_plan(admin_client, subscribed):
    org = subscribed
    engineering = org.groups["Engineering"]
    address = url(org.profile, f"groups/{engineering.pk}/change-plan/")
    response = admin_client.get(address)
    assert (
        "Pro 1,000 credits a month $20.00 per user a month Downgrade: from 1 December 2026; members keep Pro+ until "
        "then. Its subscribed members: 1 member moves down on 1 December 2026." in text(response)
    )
    response = admin_client.post(address, {"tier": "PRO_PLUS"})
    assert "Engineering is already at Pro+: choose another tier." in text(response)
    response = admin_client.post(address, {"tier": "PRO"}, follow=True)
    assert response.redirect_chain[-1][0] == url(org.profile, "groups/")
    assert "Engineering is now at Pro: ann moves down to Pro on 1 December 2026." in text(response)
    assert (sub(org, "ann").tier_id, sub(org, "ann").next_tier_id) == ("PRO_PLUS", "PRO")


def test_unassign_confirmation_counts_who_loses_and_who_falls_back(admin_client, subscribed):
    org = subscribed
    directory.group_members_add(group=org.groups["Engineering"], users=[org.users["cat"]], actor=ACTOR)
    page = text(admin_client.get(url(org.profile, f"groups/{org.groups['Engineering'].pk}/unassign/")))
    # ann: Engineering only → loses it; cat: Pro Max now, Pro directly → falls back; bob unsubscribed: not counted.
    assert "1 member loses its subscription: access until 1 December 2026, 00:00 UTC." in page
    assert "1 falls back to a lower tier from another source on 1 December 2026." in page
    assert "0 keep their tier from another source." in page


def test_unassigning_a_group(admin_client, subscribed):
    org = subscribed
    response = admin_client.post(url(org.profile, f"groups/{org.groups['Engineering'].pk}/unassign/"), headers=HTMX)
    assert response["HX-Trigger"] == "kiro:changed"
    assert "Unassigned Engineering. Unsubscribed ann: access until 1 December 2026." in response.content.decode()
    assert not GroupAssignment.objects.filter(profile=org.profile).exists()
    assert admin_client.get(url(org.profile, f"groups/{org.groups['Engineering'].pk}/unassign/")).status_code == 404


# --- The profile page and the bill ------------------------------------------------------------------------


def test_profile_page_counts_subscriptions_per_tier_and_status(viewer_client, subscribed, django_assert_num_queries):
    org = subscribed
    response = viewer_client.get(url(org.profile))
    html = response.content.decode()
    table = html[html.index('<table class="data-table counts-table">') : html.index("</table>")]
    cells = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", table)).strip()
    assert cells == (
        "Tier Pending Active Canceled Total Pro 0 0 0 0 Pro+ 0 1 1 2 Pro Max 1 0 0 1 Power 0 0 0 0 All tiers 1 1 1 3"
    )
    assert f'href="{url(org.profile, "users/")}?tier=PRO_MAX&amp;status=PENDING"' in table
    assert "3 in all" in text(response)


def test_bill_page_lists_tiers_overage_total_and_the_rule(viewer_client, subscribed):
    org = subscribed
    response = viewer_client.get(url(org.profile, "bill/"))
    page = text(response)
    assert "Bill for November 2026" in page
    assert "Pro+ (2,000 credits a month) 1 seat $40.00 $40.00" in page  # ann, Active; cat is Pending
    assert "Overage (credits beyond the allowance) 0.00 credits $0.04 $0.00" in page
    assert "Total 1 seat $40.00" in page
    assert "at the highest tier it held in that month" in page
    html = response.content.decode()
    assert 'href="?month=2026-10"' in html and 'href="?month=2026-12"' in html
    page = text(viewer_client.get(url(org.profile, "bill/?month=2026-10")))
    assert "No subscription was Active in October 2026" in page
    assert "Total 0 seats $0.00" in page


def test_bill_page_for_a_govcloud_profile_applies_the_multiplier(viewer_client, db, clock):
    gov = ProfileFactory(region="us-gov-west-1")
    person = directory.directory_user_create(
        identity_center=gov.identity_center,
        actor=ACTOR,
        user_name="gina",
        display_name="Gina",
        given_name="Gina",
        family_name="Tester",
        email="gina@example.com",
    )
    subscription_subscribe(profile=gov, users=[person], tier="PRO", actor=ACTOR)
    subscription_record_activity(subscription_id=Subscription.objects.get(profile=gov).pk, at=timezone.now())
    page = text(viewer_client.get(url(gov, "bill/?month=2026-11")))
    assert "Pro (1,000 credits a month) 1 seat $24.00 $24.00" in page
    assert "$0.048" in page
    assert f"every price is the list price {TIMES} 1.2" in page


@pytest.mark.parametrize("month", ["2026-13", "november", "1999-01"])
def test_bill_page_with_a_bad_month_says_how_to_write_it(viewer_client, org, month):
    response = viewer_client.get(url(org.profile, f"bill/?month={month}"))
    assert response.status_code == 400
    assert f"'{month}' is not a month: write it as YYYY-MM, like 2026-11." in text(response).replace("&#x27;", "'")
    assert "Total" not in text(response)


def test_assigning_an_empty_group_says_members_will_follow(admin_client, org):
    empty = directory.directory_group_create(identity_center=org.ic, actor=ACTOR, display_name="Newcomers")
    page = text(admin_client.get(url(org.profile, f"subscribe/?tier=PRO&kind=groups&step=confirm&groups={empty.pk}")))
    assert "Newcomers 0 members No members yet: members it gains are subscribed at once." in page
    response = admin_client.post(
        url(org.profile, "subscribe/"), {"tier": "PRO", "kind": "groups", "groups": [empty.pk]}, follow=True
    )
    assert (
        "Assigned Newcomers at Pro. No subscription changed. No members yet: members it gains are subscribed at once."
        in text(response)
    )


# --- A user's page ----------------------------------------------------------------------------------------


def test_a_users_page_lists_its_subscriptions_in_every_profile(viewer_client, subscribed):
    org = subscribed
    subscription_subscribe(profile=org.other, users=[org.users["cat"]], tier="POWER", actor=ACTOR)
    response = viewer_client.get(f"/directory/users/{org.users['cat'].pk}/")
    page = text(response)
    assert "Subscriptions Profile Status Tier Next tier Sources Subscribed (UTC) Last active (UTC)" in page
    assert "Europe eu-central-1 Usage and caps in Europe Pending Power — Direct · Power 2026-11-15 Never" in page
    assert (
        "Production us-east-1 Usage and caps in Production Pending Pro Max Pro from 2026-12-01 "
        "Direct · Pro 2026-11-15 Never" in page
    )
    assert f'href="{url(org.profile, "users/")}?q=cat"' in response.content.decode()
    page = text(viewer_client.get(f"/directory/users/{org.users['ann'].pk}/"))
    assert (
        "Production us-east-1 Usage and caps in Production Active Pro+ — Engineering · Pro+ 2026-11-15 2026-11-15"
        in page
    )
    page = text(viewer_client.get(f"/directory/users/{org.users['bob'].pk}/"))
    assert "Canceled access until 2026-12-01" in page and "Unsubscribed directly" in page
    page = text(viewer_client.get(f"/directory/users/{org.users['dan'].pk}/"))
    assert "Not subscribed in any profile." in page


def test_the_directory_does_not_import_subscriptions():
    """STYLE.md: dependencies point one way; the directory learns of subscriptions only through its signals."""
    import ast
    from pathlib import Path

    import directory

    for path in Path(directory.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n == "subscriptions" or n.startswith("subscriptions.") for n in names), path

"""The credits pages: a subscription's page (use against the allowance, caps, latest events) and its user-cap
form, an assigned group's cap dialog, the alerts (the header's count, the list, marking them read) and the Django
admin of the credits models. What each role may do there; query budgets that don't grow with rows.

The clock of tests/subscriptions/conftest.py is at 2026-11-15 12:00 UTC; `metered` has ann at Pro (1,000 credits)
and bob at Pro+ (2,000) subscribed directly in Production; Engineering is (ann, bob), Research (bob, cat)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client

from credits.models import Notification, Outcome
from credits.services import group_assignment_set_overage_cap, subscription_set_overage_cap
from kiroconsole.models import AuditEvent
from subscriptions.models import GroupAssignment, Subscription
from subscriptions.services import group_assign, profile_settings_update
from tests.credits.conftest import ACTOR, event, record

HTMX = {"HX-Request": "true"}
SUBSCRIPTION_PAGE_QUERIES = 15  # see credits/views/subscription.py: constant, whatever the user's history
NOTIFICATIONS_QUERIES = 7  # session, user, roles, the header's count, profiles of the filter, count, a page of rows


def page(org, name: str = "ann", path: str = "") -> str:
    return f"/profiles/{org.profile.profile_id}/users/{org.users[name].pk}/{path}"


def group_page(org, name: str) -> str:
    return f"/profiles/{org.profile.profile_id}/groups/{org.groups[name].pk}/overage-cap/"


def text(response) -> str:
    """The response's HTML without tags, white space collapsed."""
    html = response.content.decode()
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#x27;", "'").replace(" .", ".")


def sub(org, name: str = "ann") -> Subscription:
    return Subscription.objects.get(profile=org.profile, user=org.users[name])


def overage(org, shared_cap=None) -> None:
    changes = {"overage_enabled": True}
    if shared_cap is not None:
        changes["overage_shared_cap"] = shared_cap
    profile_settings_update(profile=org.profile, changes=changes, actor=ACTOR)


def use(org, name: str, *amounts) -> None:
    for amount in amounts:
        record(org.profile, event(org.users[name], amount))


def audits(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


@pytest.fixture
def metering_client(metering_user):  # a console session of the metering role (the API's fixture is a token)
    client = Client()
    client.force_login(metering_user)
    return client


# --- A subscription's page ----------------------------------------------------------------------------------


def test_subscription_page_shows_this_months_use_against_the_allowance(viewer_client, metered):
    use(metered, "ann", "400", "212.50")
    response = viewer_client.get(page(metered))
    assert response.status_code == 200
    html, words = response.content.decode(), text(response)
    assert '<progress id="plan-bar" class="usage-bar" max="1000.00" value="612.50"' in html
    assert '<label for="plan-bar" class="usage-label">Plan credits used</label>' in html
    assert "612.50 of 1,000.00 credits (61%) · 387.50 left" in words
    assert "Use in November 2026" in words
    assert "Allowance 1,000.00 credits (Pro)" in words
    assert "Status Active" in words  # the first accepted event activated it
    assert "Access now Allowed May use Kiro." in words
    assert "Sources Direct · Pro" in words


def test_subscription_page_lists_the_latest_twenty_events_newest_first(viewer_client, metered, clock):
    for minute in range(25):
        clock.set(2026, 11, 15, 12, minute)
        use(metered, "ann", f"{minute + 1}")
    clock.set(2026, 11, 15, 13, 0)
    response = viewer_client.get(page(metered))
    html = response.content.decode()
    body = html[html.index('<table class="data-table events-table">') :]
    body = body[: body.index("</table>")]
    times = re.findall(r"2026-11-15 12:(\d\d):00", body)
    assert times == [f"{m:02d}" for m in range(24, 4, -1)]  # 20 events, the latest first
    assert "25.00" in body and "Kiro IDE" in body and "<code>auto</code>" in body


def test_a_refused_event_shows_its_reason(viewer_client, metered):
    use(metered, "ann", "990")
    result = record(metered.profile, event(metered.users["ann"], "20"))  # overage is off
    assert result.outcome == Outcome.REJECTED
    words = text(viewer_client.get(page(metered)))
    assert "Refused The month's credits are used up and overage is off." in words
    assert "Overages are off in this profile" in words


def test_subscription_page_shows_each_cap_and_the_effective_one(viewer_client, metered):
    org = metered
    overage(org, shared_cap="500")
    engineering, _ = group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    research, _ = group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)
    group_assignment_set_overage_cap(assignment=engineering, cap="100", actor=ACTOR)
    group_assignment_set_overage_cap(assignment=research, cap="250", actor=ACTOR)
    subscription_set_overage_cap(subscription=sub(org, "bob"), cap="200", actor=ACTOR)
    use(org, "bob", "2000", "50")  # 50 of overage
    words = text(viewer_client.get(page(org, "bob")))
    assert "User's own 200.00" in words
    assert "Group 250.00 Engineering · 100.00 Research · 250.00 The highest of 2 group caps applies." in words
    assert "Shared (whole profile) 500.00 50.00 overage credits used by the profile this month." in words
    assert "Effective for this user 200.00 150.00 overage credits left, while the shared cap holds." in words
    assert "50.00 of 200.00 credits (25%)" in words  # the overage bar
    assert "Access now Allowed May use Kiro, as overage" in words


def test_a_user_without_caps_has_no_effective_cap(viewer_client, metered):
    overage(metered)
    words = text(viewer_client.get(page(metered)))
    assert "User's own None" in words
    assert "Group None Not in an assigned group." in words
    assert "Effective for this user No cap No user or group cap." in words
    assert 'id="overage-bar"' not in viewer_client.get(page(metered)).content.decode()


def test_a_user_without_a_subscription_in_the_profile_is_404(viewer_client, metered):
    assert viewer_client.get(page(metered, "cat")).status_code == 404
    other = f"/profiles/{metered.other.profile_id}/users/{metered.users['ann'].pk}/"
    assert viewer_client.get(other).status_code == 404
    assert viewer_client.get(f"/profiles/NOSUCH/users/{metered.users['ann'].pk}/").status_code == 404


def test_subscription_page_queries_do_not_grow_with_events_or_groups(
    viewer_client, metered, django_assert_max_num_queries, django_assert_num_queries
):
    org = metered
    use(org, "bob", "1")
    with django_assert_max_num_queries(SUBSCRIPTION_PAGE_QUERIES) as few:
        assert viewer_client.get(page(org, "bob")).status_code == 200
    for assignment in (org.groups["Engineering"], org.groups["Research"]):
        group_assign(profile=org.profile, group=assignment, tier="PRO", actor=ACTOR)
    use(org, "bob", *["1"] * 40)
    with django_assert_num_queries(len(few)):
        assert viewer_client.get(page(org, "bob")).status_code == 200


def test_viewer_sees_the_caps_but_no_form(viewer_client, metered):
    html = viewer_client.get(page(metered)).content.decode()
    assert "Overage caps" in html
    assert 'name="overage_cap"' not in html
    assert "Only administrators change caps." in html


def test_the_user_page_links_to_each_subscription_page(viewer_client, metered):
    html = viewer_client.get(f"/directory/users/{metered.users['ann'].pk}/").content.decode()
    assert f'href="{page(metered)}"' in html


# --- A user's cap -------------------------------------------------------------------------------------------


def test_administrator_sets_a_users_cap_without_javascript(admin_client, metered):
    response = admin_client.post(page(metered, path="overage-cap/"), {"overage_cap": "1,250.50"})
    assert response.status_code == 302
    assert response["Location"] == page(metered) + "#caps"
    assert sub(metered).overage_cap == Decimal("1250.50")
    [audit] = audits("subscription.overage_cap")
    assert (audit.before["overage_cap"], audit.after["overage_cap"]) == (None, "1250.50")
    assert audit.actor_label == "alice.admin"
    words = text(admin_client.get(response["Location"]))
    assert "Set ann's overage cap to 1,250.50 credits a month." in words
    assert 'value="1250.50"' in admin_client.get(page(metered)).content.decode()


def test_administrator_sets_a_users_cap_with_htmx(admin_client, metered):
    overage(metered)
    use(metered, "ann", "1000")
    response = admin_client.post(page(metered, path="overage-cap/"), {"overage_cap": "0"}, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="panel" id="caps"')
    assert "<html" not in html
    assert "✓ ann may use no overage now (cap 0.00 credits a month)." in text(response)
    # The access line changes too (out of band): the cap of 0 leaves no overage.
    assert '<span id="access-now" hx-swap-oob="true">' in html
    assert "Refused The user's overage cap would be exceeded." in text(response)
    assert sub(metered).overage_cap == Decimal("0")


def test_remove_clears_the_users_cap(admin_client, metered):
    subscription_set_overage_cap(subscription=sub(metered), cap="40", actor=ACTOR)
    response = admin_client.post(page(metered, path="overage-cap/"), {"overage_cap": "40.00", "remove": "1"})
    assert response.status_code == 302
    assert sub(metered).overage_cap is None
    assert audits("subscription.overage_cap")[-1].after["overage_cap"] is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "A cap cannot be negative: 0 means no overage at all."),
        ("abc", "&#x27;abc&#x27; is not a number of credits."),
        ("1.234", "Credits have at most two decimals."),
        ("NaN", "&#x27;NaN&#x27; is not a number of credits."),
        ("1e12", "Use a cap below"),
    ],
)
def test_a_bad_cap_shows_a_clear_error_and_changes_nothing(admin_client, metered, value, message):
    subscription_set_overage_cap(subscription=sub(metered), cap="40", actor=ACTOR)
    before = len(audits("subscription.overage_cap"))
    for headers in ({}, HTMX):
        response = admin_client.post(page(metered, path="overage-cap/"), {"overage_cap": value}, headers=headers)
        assert response.status_code == 200
        html = response.content.decode()
        assert message in html
        assert 'id="id_overage_cap_error" role="alert"' in html
        assert 'aria-invalid="true"' in html
    assert sub(metered).overage_cap == Decimal("40.00")
    assert len(audits("subscription.overage_cap")) == before


@pytest.mark.parametrize("persona", ["viewer_client", "support_client"])
def test_only_administrators_change_a_users_cap(request, metered, persona):
    client = request.getfixturevalue(persona)
    response = client.post(page(metered, path="overage-cap/"), {"overage_cap": "10"})
    assert response.status_code == 403
    assert sub(metered).overage_cap is None
    assert not audits("subscription.overage_cap")


def test_the_cap_form_needs_the_csrf_token(admin_user, metered):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(page(metered, path="overage-cap/"), {"overage_cap": "10"}).status_code == 403
    assert sub(metered).overage_cap is None


def test_the_metering_role_has_no_pages(metering_client, metered):
    for address in (page(metered), page(metered, path="overage-cap/"), group_page(metered, "Engineering")):
        assert metering_client.get(address).status_code == 403
    assert metering_client.get("/notifications/").status_code == 403
    assert metering_client.post("/notifications/read-all/").status_code == 403


# --- A group's cap ------------------------------------------------------------------------------------------


@pytest.fixture
def assigned(metered):
    group_assign(profile=metered.profile, group=metered.groups["Engineering"], tier="PRO_PLUS", actor=ACTOR)
    return metered


def test_group_cap_page_says_the_rule(admin_client, assigned):
    response = admin_client.get(group_page(assigned, "Engineering"))
    assert response.status_code == 200
    words = text(response)
    assert "Engineering (2 members, Pro+) has no overage cap." in words
    assert "A member of several capped groups gets the highest of their caps; groups without a cap don't lift it." in (
        words.replace("&#x27;", "'")
    )
    assert "Every cap that applies must hold: the user's own cap, this group cap and the profile's shared cap" in words
    assert "Overages are off in this profile" in words


def test_administrator_sets_a_group_cap_without_javascript(admin_client, assigned):
    response = admin_client.post(group_page(assigned, "Engineering"), {"overage_cap": "300"})
    assert response.status_code == 302
    assert response["Location"] == f"/profiles/{assigned.profile.profile_id}/groups/"
    assert GroupAssignment.objects.get(group=assigned.groups["Engineering"]).overage_cap == Decimal("300.00")
    [audit] = audits("group_assignment.overage_cap")
    assert audit.after == {"overage_cap": "300.00", "group": "Engineering"}
    words = text(admin_client.get(response["Location"]))
    assert "Engineering now has an overage cap of 300.00 credits a month per member." in words
    assert "300.00 credits Change cap of Engineering" in words  # the Groups tab's column


def test_administrator_sets_a_group_cap_in_the_dialog(admin_client, assigned):
    dialog = admin_client.get(group_page(assigned, "Engineering"), headers=HTMX)
    assert dialog.content.decode().lstrip().startswith('<div id="group-overage-cap"')
    bad = admin_client.post(group_page(assigned, "Engineering"), {"overage_cap": "-1"}, headers=HTMX)
    assert bad.status_code == 200
    assert "A cap cannot be negative" in bad.content.decode()
    assert not audits("group_assignment.overage_cap")
    done = admin_client.post(group_page(assigned, "Engineering"), {"overage_cap": "0"}, headers=HTMX)
    assert done.status_code == 200
    assert done["HX-Trigger"] == "kiro:changed"
    assert "Engineering now has an overage cap of 0" in done.content.decode()
    assert GroupAssignment.objects.get(group=assigned.groups["Engineering"]).overage_cap == Decimal("0.00")
    admin_client.post(group_page(assigned, "Engineering"), {"remove": "1"})
    assert GroupAssignment.objects.get(group=assigned.groups["Engineering"]).overage_cap is None


def test_groups_tab_shows_the_cap_and_links_its_dialog_for_administrators_only(
    admin_client, support_client, viewer_client, assigned
):
    groups = f"/profiles/{assigned.profile.profile_id}/groups/"
    link = f'hx-get="{group_page(assigned, "Engineering")}"'
    assert link in admin_client.get(groups).content.decode()
    for client in (support_client, viewer_client):
        html = client.get(groups).content.decode()
        assert "No cap" in html
        assert link not in html


@pytest.mark.parametrize("persona", ["viewer_client", "support_client"])
def test_only_administrators_change_a_group_cap(request, assigned, persona):
    client = request.getfixturevalue(persona)
    assert client.get(group_page(assigned, "Engineering")).status_code == 403
    assert client.post(group_page(assigned, "Engineering"), {"overage_cap": "5"}).status_code == 403
    assert GroupAssignment.objects.get(group=assigned.groups["Engineering"]).overage_cap is None


def test_the_cap_of_an_unassigned_group_is_404(admin_client, assigned):
    assert admin_client.get(group_page(assigned, "Research")).status_code == 404


# --- Alerts -------------------------------------------------------------------------------------------------


def alerts(org) -> None:
    """Four alerts: ann crosses 50%, then 75% and 90% of her allowance at once; bob crosses 50%."""
    use(org, "ann", "500", "400")
    use(org, "bob", "1000")


def unread_in_header(response) -> str:
    match = re.search(r'<a id="notification-link"[^>]*>(.*?)</a>', response.content.decode(), flags=re.S)
    assert match, "no notification link in the header"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def test_the_header_counts_unread_alerts_for_every_reader(viewer_client, support_client, metered):
    assert unread_in_header(viewer_client.get("/")) == "Notifications"
    alerts(metered)
    for client in (viewer_client, support_client):
        assert unread_in_header(client.get("/")) == "Notifications 4 unread"


def test_the_header_count_costs_one_query_and_none_in_fragments(
    viewer_client, metered, django_assert_num_queries, django_assert_max_num_queries
):
    alerts(metered)
    users = f"/profiles/{metered.profile.profile_id}/users/"
    with django_assert_max_num_queries(20) as full:
        viewer_client.get(users)
    with django_assert_max_num_queries(20) as fragment:
        viewer_client.get(users, headers=HTMX)
    counts = [q["sql"] for q in full.captured_queries if "credits_notification" in q["sql"]]
    assert len(counts) == 1 and "COUNT(" in counts[0].upper()
    assert not [q for q in fragment.captured_queries if "credits_notification" in q["sql"]]


def test_notifications_are_listed_newest_first(viewer_client, metered, clock):
    use(metered, "ann", "500")
    Notification.objects.update(created_at=clock.now)  # (the model's default reads the real clock)
    clock.set(2026, 11, 16, 9, 0)
    use(metered, "ann", "400")
    Notification.objects.filter(threshold__gt=50).update(created_at=clock.now)
    response = viewer_client.get("/notifications/")
    assert response.status_code == 200
    words = text(response)
    assert words.index("2026-11-16 09:00") < words.index("2026-11-15 12:00")
    assert "ann has used 90% of the November 2026 allowance in Production (900.00 of 1,000.00 credits)." in words
    assert "Usage and caps of ann" in words
    assert f'href="{page(metered)}"' in response.content.decode()
    assert "Mark read" not in words  # viewers don't mark alerts
    assert "Administrators mark them read, for everyone." in words


def test_notifications_filter_by_profile_and_status(viewer_client, metered):
    alerts(metered)
    Notification.objects.filter(message__startswith="bob").update(read_at=metered.profile.created_at)
    base = "/notifications/"
    assert "4 results" in text(viewer_client.get(base))
    assert "3 results" in text(viewer_client.get(base + "?state=unread"))
    assert "1 result" in text(viewer_client.get(base + "?state=read"))
    assert "4 results" in text(viewer_client.get(base + f"?profile={metered.profile.profile_id}"))
    assert "0 results" in text(viewer_client.get(base + f"?profile={metered.other.profile_id}"))
    fragment = viewer_client.get(base + "?state=unread", headers=HTMX)
    assert fragment.content.decode().lstrip().startswith('<section id="table-main"')


def test_notifications_list_has_a_query_budget(viewer_client, metered, django_assert_max_num_queries):
    for month in range(1, 11):  # 60 alerts, over ten months
        for threshold in (50, 75, 90, 100):
            Notification.objects.create(
                key=f"t:{month}:{threshold}",
                profile=metered.profile,
                subscription=sub(metered),
                kind="ALLOWANCE",
                month=f"2026-{month:02d}-01",
                threshold=threshold,
                message=f"ann crossed {threshold}% in month {month}",
            )
    with django_assert_max_num_queries(NOTIFICATIONS_QUERIES):
        response = viewer_client.get("/notifications/")
    assert "40 results" in text(response)


def test_administrator_marks_an_alert_read(admin_client, metered):
    alerts(metered)
    first = Notification.objects.filter(read_at__isnull=True).first()
    response = admin_client.post(f"/notifications/{first.pk}/read/", {"next": "/notifications/?state=unread"})
    assert response.status_code == 302
    assert response["Location"] == "/notifications/?state=unread"
    first.refresh_from_db()
    assert first.read_at is not None
    [audit] = audits("notification.read")
    assert audit.target_id == str(first.pk)
    assert unread_in_header(admin_client.get("/")) == "Notifications 3 unread"
    # Again: nothing changes, nothing is recorded.
    admin_client.post(f"/notifications/{first.pk}/read/")
    assert len(audits("notification.read")) == 1


def test_marking_read_with_htmx_updates_the_header_and_reloads_the_table(admin_client, metered):
    alerts(metered)
    first = Notification.objects.first()
    response = admin_client.post(f"/notifications/{first.pk}/read/", headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "kiro:changed"
    html = response.content.decode()
    assert '<div id="messages" hx-swap-oob="innerHTML">' in html
    assert 'hx-swap-oob="outerHTML"' in html and '<span class="count-badge">3</span>' in html


def test_mark_all_read(admin_client, metered):
    alerts(metered)
    response = admin_client.post("/notifications/read-all/", {"next": "https://evil.example/"})
    assert response.status_code == 302
    assert response["Location"] == "/notifications/"  # never off the site
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    [audit] = audits("notification.read_all")
    assert audit.after["count"] == 4
    assert unread_in_header(admin_client.get("/")) == "Notifications"
    again = admin_client.post("/notifications/read-all/", follow=True)
    assert "Nothing to mark: every alert was already read." in text(again)
    assert len(audits("notification.read_all")) == 1


@pytest.mark.parametrize("persona", ["viewer_client", "support_client"])
def test_only_administrators_mark_alerts_read(request, metered, persona):
    alerts(metered)
    client = request.getfixturevalue(persona)
    first = Notification.objects.first()
    assert client.post(f"/notifications/{first.pk}/read/").status_code == 403
    assert client.post("/notifications/read-all/").status_code == 403
    assert Notification.objects.filter(read_at__isnull=True).count() == 4


def test_the_profile_page_links_its_alerts(viewer_client, metered):
    html = viewer_client.get(f"/profiles/{metered.profile.profile_id}/").content.decode()
    assert f'href="/notifications/?profile={metered.profile.profile_id}"' in html


# --- The Django admin ---------------------------------------------------------------------------------------

ADMIN_LISTS = [
    "/admin/credits/usageevent/",
    "/admin/credits/balance/",
    "/admin/credits/profilebalance/",
    "/admin/credits/notification/",
]


@pytest.mark.parametrize("url", ADMIN_LISTS)
def test_support_reads_the_credits_models_in_the_admin(support_client, metered, url):
    overage(metered)
    use(metered, "ann", "600", "500")
    response = support_client.get(url)
    assert response.status_code == 200
    assert f'href="{url}add/"' not in response.content.decode()
    assert b'name="action"' not in response.content  # no action: nothing to change


def test_usage_events_are_read_only_and_searchable_in_the_admin(admin_client, metered):
    use(metered, "ann", "5")
    use(metered, "bob", "7")
    events = "/admin/credits/usageevent/"
    key = metered.profile.usage_events.get(user=metered.users["bob"]).idempotency_key
    assert "1 result" in text(admin_client.get(events + f"?q={key}"))
    assert "1 result" in text(admin_client.get(events + "?q=an"))  # a user name's start: ann
    assert "2 results" in text(admin_client.get(events + "?month=2026-11&outcome__exact=PLAN"))
    assert "0 results" in text(admin_client.get(events + "?month=2026-10"))
    pk = metered.profile.usage_events.first().pk
    change = admin_client.get(f"{events}{pk}/change/")
    assert change.status_code == 200
    assert b'name="credits"' not in change.content
    assert admin_client.post(f"{events}{pk}/delete/").status_code == 403
    assert admin_client.get(events + "add/").status_code == 403


def test_administrators_mark_notifications_read_in_the_admin(admin_client, metered):
    alerts(metered)
    ids = [str(pk) for pk in Notification.objects.values_list("pk", flat=True)]
    response = admin_client.post(
        "/admin/credits/notification/", {"action": "mark_read", "_selected_action": ids}, follow=True
    )
    assert "Marked 4 notifications read." in text(response)
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    assert len(audits("notification.read")) == 4
    assert audits("notification.read")[0].source == "admin"

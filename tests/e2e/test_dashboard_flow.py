"""The usage dashboard in the browser: an administrator opens the dashboard of a profile with usage (axe checks
it), changes the date range with the form and sees the figures change, switches to weeks, downloads the user
activity report CSV from the dashboard, and the page is saved to test-artifacts/screenshots/dashboard.png."""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.e2e.helpers import check_a11y, login, profile_on_new_directory, screenshot, url_of
from tests.factories import PASSWORD

PEOPLE = ("maya.chen", "omar.haddad", "lena.berg", "raj.patel", "zoe.<b>kim</b>")


@pytest.fixture
def organization(roles, catalogues):
    """A profile with overages on; five people subscribed at Pro and Pro+ in the previous month, who used Kiro on
    both clients last month and this month (maya beyond her allowance this month)."""
    from credits.events import event_parse
    from credits.services import usage_record
    from directory import services as directory
    from kiroconsole.audit import Actor
    from subscriptions.models import AiModel
    from subscriptions.services import profile_settings_update, subscription_subscribe

    actor = Actor.for_command("test")
    profile = profile_on_new_directory(
        account_id="333333333333",
        account_name="Acme analytics",
        identity_store_id="d-3333333333",
        profile_name="Analytics (US)",
    )
    profile_settings_update(profile=profile, changes={"overage_enabled": True}, actor=actor)
    people = [
        directory.directory_user_create(
            identity_center=profile.identity_center,
            user_name=name.replace("<b>", "").replace("</b>", ""),
            display_name=name.split(".")[0].title() + " " + name.split(".")[1].title(),
            given_name=name.split(".")[0].title(),
            family_name=name.split(".")[1].title(),
            email=f"{name.replace('<b>', '').replace('</b>', '')}@acme.example",
            actor=actor,
        )
        for name in PEOPLE
    ]
    now = timezone.now()
    this_month = now.date().replace(day=1)
    last_month = (this_month - datetime.timedelta(days=1)).replace(day=1)
    start = datetime.datetime.combine(last_month, datetime.time(0, 5), tzinfo=datetime.UTC)
    for i, person in enumerate(people):
        tier = "PRO" if i % 2 == 0 else "PRO_PLUS"
        subscription_subscribe(profile=profile, users=[person], tier=tier, actor=actor)
    # Subscribed at the start of last month (the services stamp now: move the stamps back).
    from subscriptions.models import Subscription, SubscriptionPeriod

    Subscription.objects.filter(profile=profile).update(subscribed_at=start)
    SubscriptionPeriod.objects.filter(subscription__profile=profile).update(starts_at=start)
    models = frozenset(AiModel.objects.values_list("code", flat=True))
    raws = []
    days = [last_month + datetime.timedelta(days=d) for d in range(0, 28, 3)]
    days += [this_month + datetime.timedelta(days=d) for d in range(0, (now.date() - this_month).days + 1, 2)]
    for n, day in enumerate(days):
        for i, person in enumerate(people):
            if (n + i) % 3 == 2:
                continue
            moment = datetime.datetime.combine(day, datetime.time(1 + i), tzinfo=datetime.UTC)
            moment = min(moment, now - datetime.timedelta(minutes=1))
            credits = 120 if person.user_name == "maya.chen" and day >= this_month else 5 + 7 * i + n % 5
            raws.append(
                {
                    "idempotency_key": f"e2e-dash-{n}-{i}",
                    "user_id": str(person.pk),
                    "credits": str(credits),
                    "occurred_at": moment.isoformat(),
                    "client_type": "KIRO_IDE" if (n + i) % 2 else "KIRO_CLI",
                    "model": "auto",
                    "messages": 1 + i,
                }
            )
    events = [event_parse(raw, now=now, models=models) for raw in raws]
    usage_record(profile=profile, events=events, actor=actor, now=now)
    return profile


def test_an_administrator_reads_the_dashboard_changes_its_range_and_downloads_the_report(
    page, live_server, admin_user, organization
):
    profile = organization
    login(page, live_server, admin_user.username, PASSWORD)
    page.goto(url_of(live_server, f"/profiles/{profile.profile_id}/"))
    expect(page.get_by_role("heading", name=re.compile("^Usage in "))).to_be_visible()
    page.get_by_role("navigation", name="Profile").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Usage dashboard", level=1)).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("Credits per day, by tier"))).to_be_visible()
    check_a11y(page)

    total = page.locator(".kpi").first.locator(".kpi-value")
    this_month_total = total.inner_text()
    today = timezone.now().date()
    last_month = (today.replace(day=1) - datetime.timedelta(days=1)).replace(day=1)
    page.get_by_label("From", exact=True).fill(f"{last_month:%Y-%m-%d}")
    page.get_by_label("To", exact=True).fill(f"{today:%Y-%m-%d}")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"from={last_month:%Y-%m-%d}"))
    expect(total).not_to_have_text(this_month_total)
    expect(page.locator(".dashboard-span strong")).to_have_text(f"{last_month:%d %b %Y} to {today:%d %b %Y}")

    page.get_by_role("navigation", name="Figures per").get_by_role("link", name="Week").click()
    expect(page.get_by_role("heading", name="Credits consumed per ISO week")).to_be_visible()
    check_a11y(page)

    page.get_by_label("To", exact=True).fill(f"{last_month:%Y-%m-%d}")
    page.get_by_label("From", exact=True).fill(f"{today:%Y-%m-%d}")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("alert")).to_contain_text("swap the dates")
    check_a11y(page)
    page.get_by_role("link", name="This month").click()
    expect(page.get_by_role("img", name=re.compile("Top 5 users by credits"))).to_be_visible()

    page.get_by_label("Day (UTC)", exact=True).fill(f"{today:%Y-%m-%d}")
    page.get_by_label("Client type", exact=True).select_option("KIRO_CLI")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    path = download.value.path()
    header = path.read_text().splitlines()[0] if path else ""
    assert header.startswith("Date,UserId,Client_Type")

    page.get_by_role("navigation", name="Figures per").get_by_role("link", name="Day").click()
    expect(page.get_by_role("heading", name="Credits consumed per day")).to_be_visible()
    screenshot(page, "dashboard")

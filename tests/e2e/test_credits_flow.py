"""Credits in the browser: the metering service posts usage events through the API until a user crosses 50%, 75%
and 90% of the month's credits; an administrator sees the count of unread alerts in the header, the user's usage
bar and events on the subscription page, reads and marks the alerts, sets the user's overage cap (a wrong value
first) and a group's cap in the Groups tab's dialog. axe checks every page and state; screenshots go to
test-artifacts/screenshots/credits-*.png."""

from __future__ import annotations

import itertools
import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import check_a11y, login, people_in_directory, profile_on_new_directory, screenshot, url_of
from tests.factories import PASSWORD

ROWS = "#table-main tbody tr"
_keys = itertools.count(1)


@pytest.fixture
def organization(roles, catalogues):
    """A profile with overages on and a shared cap of 5,000; maya.chen subscribed directly at Pro (1,000 credits);
    Platform (maya, omar) assigned at Pro+; a metering token for the API."""
    from directory import services as directory
    from kiroconsole.audit import Actor
    from kiroconsole.roles import Role
    from subscriptions.services import group_assign, profile_settings_update, subscription_subscribe
    from tests.factories import ApiTokenFactory, ConsoleUserFactory

    actor = Actor.for_command("test")
    profile = profile_on_new_directory(
        account_id="222222222222",
        account_name="Acme tools",
        identity_store_id="d-2222222222",
        profile_name="Tools (US)",
    )
    instance = profile.identity_center
    profile_settings_update(
        profile=profile, changes={"overage_enabled": True, "overage_shared_cap": "5000"}, actor=actor
    )
    people = people_in_directory(instance, ("maya.chen", "omar.haddad"), actor=actor)
    platform = directory.directory_group_create(identity_center=instance, display_name="Platform", actor=actor)
    directory.group_members_add(group=platform, users=list(people.values()), actor=actor)
    subscription_subscribe(profile=profile, users=[people["maya.chen"]], tier="PRO", actor=actor)
    group_assign(profile=profile, group=platform, tier="PRO_PLUS", actor=actor)
    metering = ConsoleUserFactory(username="kiro-service", role=Role.METERING)
    _, token = ApiTokenFactory.create_with_raw(user=metering)
    return SimpleNamespace(profile=profile, people=people, platform=platform, token=token)


def post_usage(page: Page, live_server, organization, user_name: str, *credits: str) -> None:
    """What the Kiro service does: one batch of events through the metering API."""
    events = [
        {
            "idempotency_key": f"e2e-{user_name}-{next(_keys)}",
            "user_name": user_name,
            "credits": amount,
            "client_type": "KIRO_IDE" if i % 2 else "KIRO_CLI",
            "model": "auto",
        }
        for i, amount in enumerate(credits)
    ]
    response = page.request.post(
        url_of(live_server, f"/api/v1/profiles/{organization.profile.profile_id}/usage-events"),
        data={"events": events},
        headers={"Authorization": f"Bearer {organization.token}"},
    )
    assert response.status == 200, response.text()
    assert response.json()["accepted"] == len(credits), response.json()


def test_usage_alerts_and_caps(page: Page, live_server, admin_user, organization):
    profile_url = f"/profiles/{organization.profile.profile_id}/"
    maya = organization.people["maya.chen"]
    # maya is at Pro+ through Platform (2,000 credits): 600 + 500 crosses 50%; 700 more crosses 75% and 90%.
    post_usage(page, live_server, organization, "maya.chen", "600", "500")
    post_usage(page, live_server, organization, "maya.chen", "700")
    login(page, live_server, "alice.admin", PASSWORD)

    # The header counts the unread alerts on every page.
    header = page.locator(".topbar")
    expect(header.get_by_role("link", name="Notifications 3 unread")).to_be_visible()
    check_a11y(page)

    # From maya's directory page to her subscription's page in the profile.
    page.goto(url_of(live_server, f"/directory/users/{maya.pk}/"))
    check_a11y(page)
    screenshot(page, "credits-00-user-page")
    page.get_by_role("link", name="Usage and caps in Tools (US)").click()
    expect(page).to_have_url(url_of(live_server, profile_url + f"users/{maya.pk}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("maya.chen")
    bar = page.get_by_role("progressbar", name="Plan credits used")
    expect(bar).to_have_attribute("value", "1800.00")
    expect(bar).to_have_attribute("max", "2000.00")
    expect(page.locator("#plan-bar-text")).to_have_text("1,800.00 of 2,000.00 credits (90%) · 200.00 left")
    facts = page.locator("dl.facts").first
    expect(facts).to_contain_text("Active")
    expect(facts).to_contain_text(re.compile(r"Direct · Pro\s*Platform · Pro\+"))
    events = page.locator("table.events-table tbody tr")
    expect(events).to_have_count(3)
    expect(events.first).to_contain_text(re.compile(r"Kiro CLI\s+auto\s+700\.00\s+Plan"))
    check_a11y(page)
    screenshot(page, "credits-01-subscription-usage")

    # The alerts, unread first: 90%, 75% (one event crossed both), 50%.
    header.get_by_role("link", name="Notifications 3 unread").click()
    expect(page).to_have_url(url_of(live_server, "/notifications/?state=unread"))
    expect(page.locator(ROWS)).to_have_count(3)
    expect(page.locator(ROWS).first).to_contain_text("maya.chen has used 90% of the")
    check_a11y(page)
    screenshot(page, "credits-02-notifications-unread")

    # Mark the 50% alert read: the row leaves the unread list, the header counts 2 (no page load).
    page.evaluate("window.__e2eSameDocument = true")
    fifty = page.locator(ROWS).filter(has_text="used 50%")
    fifty.get_by_role("button", name=re.compile(r"^Mark read")).click()
    expect(page.locator("#messages")).to_have_text("Marked the alert read.")
    expect(header.get_by_role("link", name="Notifications 2 unread")).to_be_visible()
    expect(page.locator(ROWS)).to_have_count(2)
    assert page.evaluate("window.__e2eSameDocument === true"), "expected an htmx swap, got a full page load"
    check_a11y(page)
    page.get_by_label("Status").select_option("")  # read or unread: all three, the 50% one read
    expect(page.locator(ROWS)).to_have_count(3)
    expect(page.locator(ROWS).filter(has_text="used 50%")).to_contain_text("Read")
    screenshot(page, "credits-03-notifications-one-read")
    page.get_by_role("button", name="Mark all read").click()
    expect(page.locator("#messages")).to_have_text("Marked 2 alerts read.")
    expect(header.get_by_role("link", name="Notifications", exact=True)).to_be_visible()
    expect(page.locator(ROWS).get_by_role("button")).to_have_count(0)
    check_a11y(page)

    # maya's own overage cap: a wrong value is refused at the field; a good one is saved in place.
    page.goto(url_of(live_server, profile_url + f"users/{maya.pk}/"))
    caps = page.locator("#caps")
    expect(caps).to_contain_text("Shared (whole profile) 5,000.00")
    field = caps.get_by_label("Overage cap (credits a month)")
    field.fill("12.345")
    caps.get_by_role("button", name="Save cap").click()
    expect(page.locator("#id_overage_cap_error")).to_have_text("Credits have at most two decimals.")
    expect(page.locator("#caps").get_by_label("Overage cap (credits a month)")).to_have_attribute(
        "aria-invalid", "true"
    )
    check_a11y(page)
    screenshot(page, "credits-04-user-cap-error")
    page.locator("#caps").get_by_label("Overage cap (credits a month)").fill("150")
    page.locator("#caps").get_by_role("button", name="Save cap").click()
    caps = page.locator("#caps")
    expect(caps.get_by_role("status")).to_have_text("✓ Set maya.chen's overage cap to 150.00 credits a month.")
    expect(caps.locator("tbody tr").first).to_contain_text(re.compile(r"User's own\s+150\.00"))
    expect(caps.locator("tfoot")).to_contain_text(re.compile(r"Effective for this user\s+150\.00"))
    check_a11y(page)
    screenshot(page, "credits-05-user-cap-saved")

    # Platform's cap, in the Groups tab's dialog; the tab shows it.
    page.get_by_role("navigation", name="Profile").get_by_role("link", name="Groups").click()
    row = page.locator(ROWS).filter(has_text="Platform")
    expect(row).to_contain_text("No cap")
    check_a11y(page)
    row.get_by_role("link", name="Set cap of Platform").click()
    dialog = page.locator("#app-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("A member of several capped groups gets the highest of their caps")
    check_a11y(page)
    screenshot(page, "credits-06-group-cap-dialog")
    dialog.get_by_label("Overage cap (credits a month)").fill("400")
    dialog.get_by_role("button", name="Save cap").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#messages")).to_have_text(
        "Platform now has an overage cap of 400.00 credits a month per member."
    )
    expect(row).to_contain_text("400.00 credits")
    check_a11y(page)
    screenshot(page, "credits-07-group-cap-saved")

    # Back on maya's page: the group cap shows, the effective cap is still her own (the lower).
    page.goto(url_of(live_server, profile_url + f"users/{maya.pk}/"))
    expect(page.locator("#caps tbody tr").nth(1)).to_contain_text(re.compile(r"Group\s+400\.00\s+Platform · 400\.00"))
    expect(page.locator("#caps tfoot")).to_contain_text(re.compile(r"Effective for this user\s+150\.00"))
    check_a11y(page)
    screenshot(page, "credits-08-subscription-caps")

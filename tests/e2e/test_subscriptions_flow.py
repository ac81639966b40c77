"""Subscriptions in the browser: an administrator subscribes a group through the three-step dialog (tier, group,
confirmation), sees its members appear as Pending on the Users tab, changes a user's plan down and sees the next
tier with its date, unsubscribes a user and sees until when access lasts; then the profile page's counts and the
bill. Every step in the dialog is an htmx swap in the same document; axe checks each page and dialog state."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.e2e.helpers import (
    check_a11y,
    htmx_settled,
    login,
    people_in_directory,
    profile_on_new_directory,
    screenshot,
    url_of,
)
from tests.factories import PASSWORD

ROWS = "#table-main tbody tr"
PLATFORM = ["ada.okafor", "ben.okafor", "chloe.okafor", "dev.okafor"]


def mark_document(page: Page) -> None:
    page.evaluate("window.__e2eSameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__e2eSameDocument === true"), "expected an htmx swap, got a full page load"


@pytest.fixture
def organization(roles, catalogues):
    """A profile on the organization's directory: Platform (four Okafors) and Research (two Moreaus), no group
    assigned; grace.lindqvist subscribed directly at Pro Max."""
    from directory import services as directory
    from kiroconsole.audit import Actor
    from subscriptions.services import subscription_subscribe

    actor = Actor.for_command("test")
    profile = profile_on_new_directory(
        account_id="111111111111",
        account_name="Acme management",
        identity_store_id="d-1234567890",
        profile_name="Engineering (US)",
    )
    instance = profile.identity_center
    people = people_in_directory(instance, [*PLATFORM, "ines.moreau", "jonas.moreau", "grace.lindqvist"], actor=actor)
    platform = directory.directory_group_create(
        identity_center=instance, display_name="Platform", description="Platform engineers", actor=actor
    )
    directory.group_members_add(group=platform, users=[people[n] for n in PLATFORM], actor=actor)
    research = directory.directory_group_create(identity_center=instance, display_name="Research", actor=actor)
    directory.group_members_add(group=research, users=[people["ines.moreau"], people["jonas.moreau"]], actor=actor)
    subscription_subscribe(profile=profile, users=[people["grace.lindqvist"]], tier="PRO_MAX", actor=actor)
    return SimpleNamespace(profile=profile, people=people, platform=platform)


def row(page: Page, user_name: str):
    return page.locator(ROWS).filter(has=page.get_by_role("link", name=user_name, exact=True))


def test_administrator_subscribes_a_group_changes_a_plan_and_unsubscribes(
    page: Page, live_server, admin_user, organization
):
    from subscriptions.calendar import next_month_start

    first = next_month_start(timezone.now())
    first_iso, first_words = f"{first:%Y-%m-%d}", f"{first.day} {first:%B %Y}"
    profile_url = f"/profiles/{organization.profile.profile_id}/"
    login(page, live_server, "alice.admin", PASSWORD)

    # The profile's Groups tab, from its tabs: nothing assigned yet.
    page.goto(url_of(live_server, profile_url))
    tabs = page.get_by_role("navigation", name="Profile")
    tabs.get_by_role("link", name="Groups").click()
    expect(page).to_have_url(url_of(live_server, profile_url + "groups/"))
    expect(tabs.get_by_role("link", name="Groups")).to_have_attribute("aria-current", "page")
    expect(page.locator(".table-summary")).to_have_text("0 results")
    check_a11y(page)

    # Step 1: the tiers, with credits and price per user and month.
    mark_document(page)
    page.get_by_role("link", name="Subscribe a group").click()
    dialog = page.locator("#app-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name="Subscribe users or groups")).to_be_visible()
    pro_plus = dialog.get_by_role("radio", name="Pro+", exact=True)
    expect(pro_plus).to_have_accessible_description(re.compile(r"2,000 credits a month \$40\.00 per user a month"))
    check_a11y(page)
    screenshot(page, "subscriptions-01-subscribe-tier")
    htmx_settled(page)
    pro_plus.check()
    htmx_settled(page)
    dialog.get_by_role("button", name="Next: choose who").click()

    # Step 2: groups (as the Groups tab asked), found as you type; Add puts one among the chosen.
    expect(dialog.get_by_text("Tier: Pro+")).to_be_visible()
    expect(dialog.get_by_role("radio", name=re.compile("^Groups"))).to_be_checked()
    search = dialog.get_by_label("Find groups of the profile's directory")
    expect(search).to_be_focused()
    search.press_sequentially("plat", delay=30)
    add = dialog.get_by_role("button", name="Add Platform")
    expect(add).to_be_visible()
    expect(dialog.get_by_role("button", name="Add Research")).to_have_count(0)
    htmx_settled(page)
    add.focus()
    page.keyboard.press("Enter")  # keyboard only
    chosen = dialog.locator("section.chosen")
    expect(chosen.get_by_role("heading")).to_have_text("Chosen groups (1)")
    expect(chosen).to_contain_text("Platform 4 members")
    assert_same_document(page)
    check_a11y(page)
    screenshot(page, "subscriptions-02-subscribe-choose-group")
    htmx_settled(page)
    dialog.get_by_role("button", name="Next: confirm").click()

    # Step 3: the summary, then the assignment: the dialog closes, the message says who was subscribed.
    expect(dialog).to_contain_text("Assign 1 group at Pro+: 2,000 credits a month, $40.00 per user a month")
    expect(dialog).to_contain_text("Each member is subscribed at Pro+")
    check_a11y(page)
    screenshot(page, "subscriptions-03-subscribe-confirm")
    htmx_settled(page)
    dialog.get_by_role("button", name="Assign 1 group").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#messages")).to_have_text("Assigned Platform at Pro+. Subscribed 4 users at Pro+.")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS).first).to_contain_text("Platform")
    expect(page.locator(ROWS).first).to_contain_text("4")
    assert_same_document(page)
    check_a11y(page)
    screenshot(page, "subscriptions-04-group-assigned")

    # The Users tab: the four members are Pending at Pro+, through Platform; grace has her direct Pro Max.
    htmx_settled(page)
    tabs.get_by_role("link", name="Users").click()
    expect(page).to_have_url(url_of(live_server, profile_url + "users/"))
    expect(page.locator(ROWS)).to_have_count(5)
    for user_name in PLATFORM:
        expect(row(page, user_name)).to_contain_text(re.compile(r"Pending\s+Pro\+\s+—\s+Platform · Pro\+"))
    expect(row(page, "grace.lindqvist")).to_contain_text(re.compile(r"Pending\s+Pro Max\s+—\s+Direct · Pro Max"))
    htmx_settled(page)
    page.get_by_label("Status").select_option("PENDING")
    expect(page).to_have_url(re.compile(r"status=PENDING"))
    expect(page.locator(".table-summary")).to_have_text("5 results")
    check_a11y(page)
    screenshot(page, "subscriptions-05-users-pending")

    # Change grace's plan down: the Pro card says it applies from the 1st; the row then shows the next tier.
    htmx_settled(page)
    row(page, "grace.lindqvist").get_by_role("checkbox", name="Select grace.lindqvist").check()
    expect(page.locator("[data-selected-count]")).to_have_text("1 selected")
    mark_document(page)
    htmx_settled(page)
    page.get_by_role("button", name="Change plan").click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name="Change the plan of grace.lindqvist")).to_be_visible()
    pro = dialog.get_by_role("radio", name="Pro", exact=True)
    expect(pro).to_have_accessible_description(
        re.compile(rf"Downgrade: from {first_words}; the current tier stays until then\.")
    )
    expect(dialog.get_by_role("radio", name="Power")).to_have_accessible_description(
        re.compile(r"Upgrade: applies now\.")
    )
    htmx_settled(page)
    pro.check()
    check_a11y(page)
    screenshot(page, "subscriptions-06-change-plan-down")
    htmx_settled(page)
    dialog.get_by_role("button", name="Change plan").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#messages")).to_have_text(f"grace.lindqvist moves down to Pro on {first_words}.")
    expect(row(page, "grace.lindqvist")).to_contain_text(re.compile(rf"Pro Max\s+Pro\s*from {first_iso}"))
    assert_same_document(page)
    check_a11y(page)
    screenshot(page, "subscriptions-07-next-tier")

    # Unsubscribe ada: the confirmation says until when, and that Platform no longer counts for her.
    htmx_settled(page)
    row(page, "ada.okafor").get_by_role("checkbox", name="Select ada.okafor").check()
    htmx_settled(page)
    page.get_by_role("button", name="Unsubscribe").click()
    expect(dialog.get_by_role("heading", name="Unsubscribe ada.okafor?")).to_be_visible()
    expect(dialog).to_contain_text(f"until {first_words}, 00:00 UTC")
    expect(dialog).to_contain_text(
        "ada.okafor stays unsubscribed even while its groups are assigned (Platform), "
        "until it is subscribed directly again."
    )
    check_a11y(page)
    screenshot(page, "subscriptions-08-unsubscribe-confirm")
    htmx_settled(page)
    dialog.get_by_role("button", name="Unsubscribe ada.okafor").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#messages")).to_have_text(f"Unsubscribed ada.okafor: access until {first_words}.")
    # The table keeps its filter (Pending): ada is Canceled now, so she left it.
    expect(page.locator(".table-summary")).to_have_text("4 results")
    htmx_settled(page)
    page.get_by_label("Status").select_option("CANCELED")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(row(page, "ada.okafor")).to_contain_text(re.compile(rf"Canceled\s*access until {first_iso}"))
    assert_same_document(page)
    check_a11y(page)
    screenshot(page, "subscriptions-09-canceled-access-until")

    # The profile page counts them by tier and status; the bill has no seat (nobody has used Kiro yet).
    htmx_settled(page)
    tabs.get_by_role("link", name="Overview").click()
    counts = page.locator("table.counts-table")
    pro_plus_row = counts.locator("tbody tr").filter(has=page.get_by_role("rowheader", name="Pro+", exact=True))
    expect(pro_plus_row.locator("td")).to_have_text(["3", "0", "1", "4"])  # Pending, Active, Canceled, Total
    expect(counts.locator("tfoot td")).to_have_text(["4", "0", "1", "5"])
    check_a11y(page)
    screenshot(page, "subscriptions-10-profile-counts")
    tabs.get_by_role("link", name="Bill").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Bill for {timezone.now():%B %Y}")
    expect(page.locator("table.bill-table tfoot")).to_contain_text("$0.00")
    check_a11y(page)
    screenshot(page, "subscriptions-11-bill")


def test_subscribe_works_without_javascript(browser, page: Page, live_server, admin_user, organization):
    """The same dialog as plain pages: each step is a GET form, the confirmation posts. (axe needs JavaScript: it
    checks each step's page, by its URL, in a second browser page that has it.)"""
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    plain = context.new_page()
    login(page, live_server, "alice.admin", PASSWORD)

    def check(name: str) -> None:
        page.goto(plain.url)
        check_a11y(page)
        screenshot(plain, name)

    try:
        login(plain, live_server, "alice.admin", PASSWORD)
        profile_url = f"/profiles/{organization.profile.profile_id}/"
        plain.goto(url_of(live_server, profile_url + "users/"))
        plain.get_by_role("link", name="Subscribe", exact=True).click()
        expect(plain).to_have_url(url_of(live_server, profile_url + "subscribe/"))
        expect(plain.get_by_role("heading", level=1)).to_have_text("Subscribe users or groups")
        plain.get_by_role("radio", name="Pro Max", exact=True).check()
        plain.get_by_role("button", name="Next: choose who").click()
        plain.get_by_label("Find users of the profile's directory").fill("moreau")
        plain.get_by_role("button", name="Search").click()
        plain.get_by_role("button", name="Add ines.moreau").click()
        plain.get_by_role("button", name="Add jonas.moreau").click()
        expect(plain.locator("section.chosen")).to_contain_text("Chosen users (2)")
        check("subscriptions-12-no-js-choose-users")
        plain.get_by_role("button", name="Next: confirm").click()
        expect(plain.locator("main")).to_contain_text("Subscribe 2 users directly at Pro Max")
        check("subscriptions-13-no-js-confirm")
        plain.get_by_role("button", name="Subscribe 2 users").click()
        expect(plain).to_have_url(url_of(live_server, profile_url + "users/"))
        expect(plain.locator(".messages")).to_have_text("Subscribed ines.moreau and jonas.moreau at Pro Max.")
        expect(plain.locator(ROWS)).to_have_count(3)
    finally:
        context.close()

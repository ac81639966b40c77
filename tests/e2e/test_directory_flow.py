"""Users & Groups in the browser: an administrator searches the Users tab as they type, opens a group, finds a user
of the directory with the type-ahead, adds them, removes a member through the confirmation page, then filters the
Users tab by a group, from the group page and with the group type-ahead."""

from __future__ import annotations

import importlib
import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import check_a11y, login, screenshot, url_of
from tests.factories import PASSWORD

USER_ROWS = "#table-main tbody tr"
MEMBER_ROWS = "#table-members- tbody tr"
GIVEN = ["Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas"]
FAMILY = ["Okafor", "Lindqvist", "Moreau"]


def mark_document(page: Page) -> None:
    """Tag the current document, so `assert_same_document` can tell an htmx swap from a full page load."""
    page.evaluate("window.__e2eSameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__e2eSameDocument === true"), "expected an htmx swap, got a full page load"


@pytest.fixture
def directory(roles):
    """The organization's directory with 30 people (10 given names x 3 family names) and three groups, all made
    through the services. Platform has the Okafors; Research the Moreaus; Contractors nobody."""
    from django.apps import apps

    from accounts.models import Region
    from accounts.services import aws_account_create, identity_center_create
    from directory import services
    from kiroconsole.audit import Actor

    # The Region catalogue is seeded by a migration, but the live server's transactional tests flush every table.
    importlib.import_module("accounts.migrations.0002_regions").seed_regions(apps, None)
    actor = Actor.for_command("test")
    account = aws_account_create(account_id="111111111111", name="Acme management", kind="management", actor=actor)
    instance = identity_center_create(
        identity_store_id="d-1234567890",
        name="Acme SSO",
        region=Region.objects.get(code="us-east-1"),
        account=account,
        kind="organization",
        actor=actor,
    )
    people = {}
    for family in FAMILY:
        for given in GIVEN:
            user_name = f"{given}.{family}".lower()
            people[user_name] = services.directory_user_create(
                identity_center=instance,
                user_name=user_name,
                display_name=f"{given} {family}",
                given_name=given,
                family_name=family,
                email=f"{user_name}@acme.example",
                actor=actor,
            )
    groups = {}
    for name, description, family in [
        ("Platform", "Platform and infrastructure engineers", "okafor"),
        ("Research", "Research lab, Frankfurt", "moreau"),
        ("Contractors", "External contractors", None),
    ]:
        groups[name] = services.directory_group_create(
            identity_center=instance, display_name=name, description=description, actor=actor
        )
        members = [user for user_name, user in people.items() if family and user_name.endswith(family)]
        services.group_members_add(group=groups[name], users=members, actor=actor)
    return SimpleNamespace(instance=instance, people=people, groups=groups)


def test_administrator_searches_users_and_changes_a_groups_members(page: Page, live_server, admin_user, directory):
    login(page, live_server, "alice.admin", PASSWORD)

    # "Users & Groups" from the sidebar: the Users tab, 30 people.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users & Groups").click()
    expect(page).to_have_url(url_of(live_server, "/directory/users/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Users & Groups")
    tabs = page.get_by_role("navigation", name="Users and groups")
    expect(tabs.get_by_role("link", name="Users")).to_have_attribute("aria-current", "page")
    expect(page.locator(".table-summary")).to_have_text("30 results")
    expect(page.locator(USER_ROWS)).to_have_count(30)

    # Search as you type: no Enter, the table follows and the URL carries q=.
    mark_document(page)
    page.get_by_label("Search").press_sequentially("lindq", delay=30)
    expect(page).to_have_url(re.compile(r"[?&]q=lindq(&|$)"))
    expect(page.locator(USER_ROWS)).to_have_count(10)
    expect(page.locator(".table-summary")).to_have_text("10 results")
    names = [t.strip() for t in page.locator(f"{USER_ROWS} td:nth-child(1)").all_inner_texts()]
    assert names == sorted(f"{g}.lindqvist".lower() for g in GIVEN)
    assert_same_document(page)
    expect(page.get_by_label("Search")).to_be_focused()
    check_a11y(page)
    screenshot(page, "directory-01-users-search")

    # The Groups tab (sorted by name, with member counts), then the Platform group: the ten Okafors.
    tabs.get_by_role("link", name="Groups").click()
    expect(page).to_have_url(url_of(live_server, "/directory/groups/"))
    expect(tabs.get_by_role("link", name="Groups")).to_have_attribute("aria-current", "page")
    expect(page.locator("#table-main tbody tr")).to_have_count(3)
    expect(page.locator("#table-main tbody tr td:nth-child(3)")).to_have_text(["0", "10", "10"])
    check_a11y(page)
    screenshot(page, "directory-02-groups")
    page.get_by_role("link", name="Platform").click()
    platform = directory.groups["Platform"]
    expect(page).to_have_url(url_of(live_server, f"/directory/groups/{platform.pk}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Platform")
    expect(page.locator(MEMBER_ROWS)).to_have_count(10)
    check_a11y(page)

    # The type-ahead offers only users of the directory who are not members yet.
    mark_document(page)
    finder = page.get_by_label("Find users of this directory")
    finder.press_sequentially("grace", delay=30)
    candidates = page.locator("#member-candidates li")
    expect(candidates).to_have_count(2)  # grace.lindqvist and grace.moreau; grace.okafor is a member
    expect(candidates.locator("code")).to_have_text(["grace.lindqvist", "grace.moreau"])
    assert_same_document(page)
    check_a11y(page)
    screenshot(page, "directory-03-group-find-users")

    # "Add" posts the form: back on the group page, with the new member in the table.
    page.get_by_role("button", name="Add grace.moreau").click()
    expect(page).to_have_url(url_of(live_server, f"/directory/groups/{platform.pk}/"))
    expect(page.get_by_text("Added grace.moreau to Platform.")).to_be_visible()
    expect(page.locator(MEMBER_ROWS)).to_have_count(11)
    expect(page.locator(MEMBER_ROWS, has_text="grace.moreau")).to_have_count(1)
    expect(page.locator(".page-header .muted")).to_contain_text("11 members")
    check_a11y(page)
    screenshot(page, "directory-04-group-member-added")

    # Remove a member: a confirmation page first, then the member is gone.
    page.get_by_role("link", name="Remove ada.okafor").click()
    expect(page).to_have_url(
        url_of(live_server, f"/directory/groups/{platform.pk}/members/{directory.people['ada.okafor'].pk}/remove/")
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Remove Ada Okafor from Platform?")
    check_a11y(page)
    screenshot(page, "directory-05-remove-member-confirm")
    page.get_by_role("button", name="Remove member").click()
    expect(page).to_have_url(url_of(live_server, f"/directory/groups/{platform.pk}/"))
    expect(page.get_by_text("Removed ada.okafor from Platform.")).to_be_visible()
    expect(page.locator(MEMBER_ROWS)).to_have_count(10)
    expect(page.locator(MEMBER_ROWS, has_text="ada.okafor")).to_have_count(0)
    check_a11y(page)
    screenshot(page, "directory-06-group-member-removed")

    # "View members in the Users tab": the Users tab filtered by the group (by its id, the box shows its name).
    page.get_by_role("link", name=re.compile(r"^View members in the Users tab")).click()
    expect(page).to_have_url(url_of(live_server, f"/directory/users/?group={platform.pk}"))
    expect(page.locator(USER_ROWS)).to_have_count(10)
    expect(page.locator(USER_ROWS, has_text="grace.moreau")).to_have_count(1)
    group_box = page.get_by_label("Group", exact=True)
    expect(group_box).to_have_value("Platform")
    check_a11y(page)
    screenshot(page, "directory-07-users-of-a-group")

    # The group filter is a type-ahead (a directory may have thousands of groups): part of a name brings the
    # groups that have it into the box's suggestions; Enter applies the name typed.
    page.get_by_role("link", name="Clear").click()
    expect(page.locator(".table-summary")).to_have_text("30 results")
    mark_document(page)
    group_box.press_sequentially("sea", delay=30)
    suggestions = page.locator("#id_group_suggestions option")
    expect(suggestions).to_have_count(1)
    expect(suggestions).to_have_attribute("value", "Research")
    expect(page.locator(".table-summary")).to_have_text("30 results")  # typing alone does not filter
    group_box.fill("research")
    group_box.press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]group=research(&|$)"))
    expect(page.locator(".table-summary")).to_have_text("10 results")
    names = [t.strip() for t in page.locator(f"{USER_ROWS} td:nth-child(1)").all_inner_texts()]
    assert names == sorted(f"{g}.moreau".lower() for g in GIVEN)
    assert_same_document(page)
    check_a11y(page)
    screenshot(page, "directory-08-users-group-type-ahead")

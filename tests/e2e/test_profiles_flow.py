"""Kiro profiles in the browser: create one in the htmx dialog (and without JavaScript), change its settings card
by card, what a viewer sees, and the organization pages (AWS accounts, Identity Center, Regions)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import check_a11y, htmx_settled, login, screenshot, url_of
from tests.factories import PASSWORD

PROFILE_URL = re.compile(r"/profiles/[A-Z0-9]{12}/$")
ROWS = "#table-main tbody tr"
ACCOUNT = "Engineering (222222222222)"
US_EAST_1 = "US East (N. Virginia) (us-east-1)"
EU_CENTRAL_1 = "Europe (Frankfurt) (eu-central-1)"
EU_WEST_1 = "Europe (Ireland) (eu-west-1)"
INSTANCE = "Acme SSO (d-1234567890)"


@pytest.fixture
def organization(roles, catalogues):
    """A management account with the organization's Identity Center instance, a member account, and the member
    account's profile in us-east-1."""
    from accounts.models import Region
    from accounts.services import aws_account_create, identity_center_create
    from kiroconsole.audit import Actor
    from subscriptions.services import profile_create

    actor = Actor.for_command("test")
    us_east_1 = Region.objects.get(code="us-east-1")
    management = aws_account_create(account_id="111111111111", name="Acme management", kind="management", actor=actor)
    member = aws_account_create(account_id="222222222222", name="Engineering", kind="member", actor=actor)
    instance = identity_center_create(
        identity_store_id="d-1234567890",
        name="Acme SSO",
        region=us_east_1,
        account=management,
        kind="organization",
        actor=actor,
    )
    profile = profile_create(
        account=member,
        region=us_east_1,
        identity_center=instance,
        name="Engineering (US)",
        description="Kiro for the engineering teams in North America.",
        actor=actor,
    )
    return SimpleNamespace(management=management, member=member, instance=instance, profile=profile)


def mark_document(page: Page) -> None:
    """Tag the current document, so `assert_same_document` can tell an htmx swap from a full page load."""
    page.evaluate("window.__e2eSameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__e2eSameDocument === true"), "expected an htmx swap, got a full page load"


def choose(page: Page, select: Locator, label: str) -> None:
    """Pick an option in the create form, as from the keyboard, and wait until htmx has swapped in the form it
    checked (each choice posts the form with ?validate=1 and replaces #profile-create). The focus stays on the
    select the user was in, although the swap replaced it."""
    htmx_settled(page)  # the form swapped in by the last choice answers events once htmx has wired it
    page.locator("#profile-create").evaluate("el => el.setAttribute('data-stale', '')")
    select.focus()
    select.select_option(label=label)
    expect(page.locator("#profile-create:not([data-stale])")).to_be_attached()
    expect(select).to_be_focused()


def field_of(form: Locator, label: str) -> Locator:
    """The `.field` wrapper (label, control, help, errors) of the control labelled `label`."""
    return form.locator(".field").filter(has=form.page.get_by_label(label))


def test_administrator_creates_a_profile_in_the_dialog(page: Page, live_server, admin_user, organization):
    login(page, live_server, "alice.admin", PASSWORD)

    # The list, from the sidebar: the one profile so far.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profiles").click()
    expect(page).to_have_url(url_of(live_server, "/profiles/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Kiro profiles")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS).first).to_contain_text("Engineering (US)")
    check_a11y(page)
    screenshot(page, "profiles-01-list")

    # "Create profile" loads the form into the dialog and opens it, focus on its first control.
    mark_document(page)
    page.get_by_role("link", name="Create profile").click()
    dialog = page.locator("#app-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading", name="Create a Kiro profile")).to_be_visible()
    expect(dialog.get_by_label("AWS account")).to_be_focused()
    assert dialog.evaluate("d => d.open && d.contains(document.activeElement)")
    expect(page).to_have_url(url_of(live_server, "/profiles/"))
    assert_same_document(page)
    check_a11y(page)
    screenshot(page, "profiles-02-create-dialog")

    # The account's profile in us-east-1 exists: said as soon as both are chosen, with a link to it.
    choose(page, dialog.get_by_label("AWS account"), ACCOUNT)
    expect(dialog.locator(".error")).to_have_count(0)
    choose(page, dialog.get_by_label("Region"), US_EAST_1)
    region_field = field_of(dialog, "Region")
    expect(region_field).to_have_class(re.compile(r"\bfield-invalid\b"))
    expect(region_field.locator(".error")).to_have_text(
        "The account 222222222222 already has the Kiro profile “Engineering (US)” in us-east-1: "
        "there is at most one profile per account and Region."
    )
    expect(dialog.get_by_label("Region")).to_have_attribute("aria-invalid", "true")
    expect(dialog.get_by_label("Region")).to_have_accessible_description(
        re.compile(r"Kiro profiles exist in .* already has the Kiro profile “Engineering \(US\)” in us-east-1")
    )
    existing = region_field.get_by_role("link", name="Open “Engineering (US)”")
    expect(existing).to_have_attribute("href", f"/profiles/{organization.profile.profile_id}/")
    expect(dialog.locator(".error")).to_have_count(1)  # nothing said yet about the fields not reached
    expect(dialog).to_be_visible()
    assert_same_document(page)
    screenshot(page, "profiles-03-create-dialog-duplicate")

    # A Region without Kiro profiles (listed apart, under "Other Regions").
    expect(dialog.locator("optgroup[label='Other Regions'] option", has_text=EU_WEST_1)).to_have_count(1)
    choose(page, dialog.get_by_label("Region"), EU_WEST_1)
    expect(field_of(dialog, "Region").locator(".error")).to_have_text(
        "Kiro profiles can't be created in eu-west-1: only in us-east-1, eu-central-1, us-gov-east-1 and us-gov-west-1."
    )
    expect(dialog.get_by_role("link", name=re.compile("^Open"))).to_have_count(0)
    screenshot(page, "profiles-04-create-dialog-wrong-region")

    # eu-central-1 is free: the error goes; fill in the rest and create.
    choose(page, dialog.get_by_label("Region"), EU_CENTRAL_1)
    expect(dialog.locator(".error")).to_have_count(0)
    expect(dialog.get_by_label("Region")).not_to_have_attribute("aria-invalid", "true")
    expect(dialog.get_by_label("AWS account")).to_have_value(str(organization.member.pk))  # kept by each swap
    choose(page, dialog.get_by_label("IAM Identity Center instance"), INSTANCE)
    dialog.get_by_label("Name").fill("Engineering (EU)")
    dialog.get_by_label("Description").fill("Kiro for the engineering teams in Europe.")
    dialog.get_by_role("button", name="Create profile").click()

    expect(page).to_have_url(PROFILE_URL)
    profile_id = page.url.rstrip("/").rsplit("/", 1)[1]
    expect(page.get_by_role("heading", level=1)).to_have_text("Engineering (EU)")
    expect(page.get_by_text("Created the Kiro profile “Engineering (EU)”.")).to_be_visible()
    facts = page.locator("dl.facts").first
    expect(facts.locator("code").first).to_have_text(
        f"arn:aws:codewhisperer:eu-central-1:222222222222:profile/{profile_id}"
    )
    expect(facts).to_contain_text("Europe (Frankfurt) (eu-central-1)")
    expect(facts).to_contain_text(ACCOUNT)
    expect(facts).to_contain_text(INSTANCE)
    check_a11y(page)
    screenshot(page, "profiles-05-created-profile")

    # Back to the list: two profiles now.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profiles").click()
    expect(page.locator(".table-summary")).to_have_text("2 results")
    expect(page.locator(f"{ROWS} td:nth-child(1)")).to_have_text(["Engineering (EU)", "Engineering (US)"])


def test_administrator_changes_settings_card_by_card(page: Page, live_server, admin_user, organization):
    login(page, live_server, "alice.admin", PASSWORD)
    page.goto(url_of(live_server, f"/profiles/{organization.profile.profile_id}/"))
    page.get_by_role("link", name="Settings", exact=True).click()
    expect(page).to_have_url(url_of(live_server, f"/profiles/{organization.profile.profile_id}/settings/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    expect(page.locator("section.settings-section")).to_have_count(11)
    check_a11y(page)
    screenshot(page, "profiles-06-settings")

    # Web tools: a switch-only card saves as soon as it is toggled, in place.
    web_tools = page.locator("#web-tools")
    switch = web_tools.get_by_label("Web tools (web search and fetch)")
    expect(switch).to_be_checked()
    mark_document(page)
    switch.uncheck()
    expect(web_tools.get_by_role("status")).to_have_text("✓ Saved")
    expect(web_tools.get_by_label("Web tools (web search and fetch)")).not_to_be_checked()
    assert_same_document(page)
    screenshot(page, "profiles-07-settings-web-tools-saved")
    page.reload()
    expect(page.locator("#web-tools").get_by_label("Web tools (web search and fetch)")).not_to_be_checked()
    expect(page.locator("#web-tools").get_by_role("status")).to_have_count(0)

    # User activity report: a bad bucket name is refused at the bucket field, and nothing of the card is saved.
    report = page.locator("#user-activity-report")
    report.get_by_label("User activity report").check()
    report.get_by_label("Report S3 bucket").fill("Bad_Bucket")
    report.get_by_label("Report S3 prefix").fill("reports/")
    mark_document(page)
    report.get_by_role("button", name="Save").click()
    bucket = field_of(report, "Report S3 bucket")
    expect(bucket.locator(".error")).to_have_text(
        "A bucket name uses lower-case letters, digits, dots and hyphens, and begins and ends with a letter or digit."
    )
    expect(bucket).to_have_class(re.compile(r"\bfield-invalid\b"))
    expect(report.get_by_label("Report S3 bucket")).to_have_accessible_description(
        re.compile(r"^A bucket name uses lower-case letters")
    )
    expect(report.get_by_label("Report S3 bucket")).to_have_value("Bad_Bucket")  # kept, to correct it
    expect(report.locator(".error")).to_have_count(1)
    expect(report.get_by_role("status")).to_have_count(0)
    assert_same_document(page)
    screenshot(page, "profiles-08-settings-bad-bucket")
    page.reload()
    report = page.locator("#user-activity-report")
    expect(report.get_by_label("User activity report")).not_to_be_checked()
    expect(report.get_by_label("Report S3 bucket")).to_have_value("")
    expect(report.get_by_label("Report S3 prefix")).to_have_value("")

    # A valid bucket and prefix: saved, and still there after a reload.
    report.get_by_label("User activity report").check()
    report.get_by_label("Report S3 bucket").fill("acme-kiro-reports")
    report.get_by_label("Report S3 prefix").fill("reports/")
    report.get_by_role("button", name="Save").click()
    expect(report.get_by_role("status")).to_have_text("✓ Saved")
    expect(report.locator(".error")).to_have_count(0)
    page.reload()
    report = page.locator("#user-activity-report")
    expect(report.get_by_label("User activity report")).to_be_checked()
    expect(report.get_by_label("Report S3 bucket")).to_have_value("acme-kiro-reports")
    expect(report.get_by_label("Report S3 prefix")).to_have_value("reports/")

    # Models: only approved ones, with a default that isn't approved → refused at the default; fixed → saved.
    models = page.locator("#models")
    models.get_by_label("Only approved models").check()
    models.get_by_label("Claude Sonnet 4.5").check()
    models.get_by_label("Claude Haiku 4.5").check()
    models.get_by_label("Default model").select_option(label="Claude Opus 4.5")
    mark_document(page)
    models.get_by_role("button", name="Save").click()
    default = field_of(models, "Default model")
    expect(default.locator(".error")).to_have_text("The default model must be one of the approved models.")
    expect(models.locator(".error")).to_have_count(1)
    expect(models.get_by_label("Claude Sonnet 4.5")).to_be_checked()
    expect(models.get_by_label("Only approved models")).to_be_checked()
    models.scroll_into_view_if_needed()
    screenshot(page, "profiles-09-settings-default-model-error")
    htmx_settled(page)
    models.get_by_label("Default model").select_option(label="Claude Sonnet 4.5")
    models.get_by_role("button", name="Save").click()
    expect(models.get_by_role("status")).to_have_text("✓ Saved")
    expect(models.locator(".error")).to_have_count(0)
    assert_same_document(page)
    check_a11y(page)
    screenshot(page, "profiles-10-settings-models-saved")
    page.reload()
    models = page.locator("#models")
    expect(models.get_by_label("Only approved models")).to_be_checked()
    expect(models.get_by_label("Claude Sonnet 4.5")).to_be_checked()
    expect(models.get_by_label("Claude Haiku 4.5")).to_be_checked()
    expect(models.get_by_label("Claude Opus 4.5")).not_to_be_checked()
    expect(models.get_by_label("Default model")).to_have_value("claude-sonnet-4.5")

    # The profile's page sums it up.
    page.get_by_role("link", name="Engineering (US)").click()
    glance = page.locator("section.panel", has=page.get_by_role("heading", name="Settings at a glance"))
    expect(glance).to_contain_text("Only approved models (default Claude Sonnet 4.5)")
    expect(glance).to_contain_text("s3://acme-kiro-reports/reports/")


def test_create_profile_works_without_javascript(browser, live_server, admin_user, organization):
    from tests.e2e.conftest import TIMEOUT_MS, VIEWPORT

    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        login(page, live_server, "alice.admin", PASSWORD)
        page.goto(url_of(live_server, "/profiles/"))
        page.get_by_role("link", name="Create profile").click()
        expect(page).to_have_url(url_of(live_server, "/profiles/new/"))
        expect(page.get_by_role("heading", name="Create a Kiro profile")).to_be_visible()
        form = page.locator("#profile-create")

        # A second profile for the account in us-east-1: the page comes back with the error and the link.
        form.get_by_label("AWS account").select_option(label=ACCOUNT)
        form.get_by_label("Region").select_option(label=US_EAST_1)
        form.get_by_label("IAM Identity Center instance").select_option(label=INSTANCE)
        form.get_by_label("Name").fill("Engineering (US) again")
        form.get_by_role("button", name="Create profile").click()
        expect(page).to_have_url(url_of(live_server, "/profiles/new/"))
        region = field_of(form, "Region")
        expect(region.locator(".error")).to_contain_text("already has the Kiro profile “Engineering (US)” in us-east-1")
        expect(region.get_by_role("link", name="Open “Engineering (US)”")).to_be_visible()
        expect(form.get_by_label("Name")).to_have_value("Engineering (US) again")
        # No check_a11y here: axe runs in the page's JavaScript, and this context has none (it would hang).
        screenshot(page, "profiles-11-create-page-no-js-duplicate")

        # The same form in eu-central-1: created.
        form.get_by_label("Region").select_option(label=EU_CENTRAL_1)
        form.get_by_label("Name").fill("Engineering (EU)")
        form.get_by_role("button", name="Create profile").click()
        expect(page).to_have_url(PROFILE_URL)
        expect(page.get_by_role("heading", level=1)).to_have_text("Engineering (EU)")
        expect(page.locator("dl.facts code").first).to_have_text(
            re.compile(r"^arn:aws:codewhisperer:eu-central-1:222222222222:profile/[A-Z0-9]{12}$")
        )
    finally:
        context.close()


def test_viewer_sees_settings_read_only(page: Page, live_server, viewer_user, organization):
    login(page, live_server, "vera.viewer", PASSWORD)
    page.goto(url_of(live_server, "/profiles/"))
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.get_by_role("link", name="Create profile")).to_have_count(0)
    expect(page.get_by_role("button", name="Create profile")).to_have_count(0)

    page.get_by_role("link", name="Engineering (US)").click()
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    expect(page.get_by_role("link", name="Delete")).to_have_count(0)
    page.get_by_role("link", name="Settings", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    expect(page.locator("main")).to_contain_text("Only administrators change settings.")
    expect(page.locator("section.settings-section")).to_have_count(11)
    controls = page.locator(".settings-grid").locator("input:not([type=hidden]), select, textarea")
    assert controls.count() > 15
    for control in controls.all():
        expect(control).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.locator(".settings-grid button")).to_have_count(0)
    check_a11y(page)
    screenshot(page, "profiles-12-settings-viewer")


def test_organization_pages(page: Page, live_server, admin_user, organization):
    login(page, live_server, "alice.admin", PASSWORD)
    nav = page.get_by_role("navigation", name="Main")

    nav.get_by_role("link", name="AWS accounts").click()
    expect(page).to_have_url(url_of(live_server, "/organization/accounts/"))
    expect(page.locator(ROWS)).to_have_count(2)
    check_a11y(page)
    screenshot(page, "profiles-13-aws-accounts")

    page.get_by_role("link", name="Engineering", exact=True).click()
    expect(page).to_have_url(url_of(live_server, "/organization/accounts/222222222222/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Engineering")
    expect(page.locator("main")).to_contain_text("Member account")
    expect(page.get_by_role("link", name="Engineering (US)")).to_be_visible()
    check_a11y(page)
    screenshot(page, "profiles-14-aws-account-detail")

    nav.get_by_role("link", name="Identity Center").click()
    expect(page).to_have_url(url_of(live_server, "/organization/identity-centers/"))
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS).first).to_contain_text("d-1234567890")
    check_a11y(page)
    screenshot(page, "profiles-15-identity-centers")

    page.get_by_role("link", name="Acme SSO").click()
    expect(page).to_have_url(url_of(live_server, f"/organization/identity-centers/{organization.instance.pk}/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Acme SSO")
    expect(page.locator("dl.facts").first).to_contain_text("US East (N. Virginia) (us-east-1)")
    expect(page.get_by_role("link", name="Engineering (US)")).to_be_visible()
    check_a11y(page)
    screenshot(page, "profiles-16-identity-center-detail")

    nav.get_by_role("link", name="Regions").click()
    expect(page).to_have_url(url_of(live_server, "/organization/regions/"))
    expect(page.locator(".table-summary")).to_contain_text("36 results")
    filters = page.get_by_role("search", name="Filter results")
    expect(filters.get_by_label("Identity Center").locator("option").first).to_have_text("Any")
    filters.get_by_label("Kiro profiles").select_option(label="Yes")
    expect(page).to_have_url(re.compile(r"[?&]kiro_profiles=true(&|$)"))
    expect(page.locator(ROWS)).to_have_count(4)
    codes = [text.strip() for text in page.locator(f"{ROWS} td:nth-child(1)").all_inner_texts()]
    assert sorted(codes) == ["eu-central-1", "us-east-1", "us-gov-east-1", "us-gov-west-1"]
    check_a11y(page)
    screenshot(page, "profiles-17-regions-with-kiro-profiles")

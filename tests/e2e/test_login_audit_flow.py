"""The first browser flow: log in, read the audit log (search, filter, sort, page, detail), log out."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from kiroconsole.models import Source
from tests.e2e.helpers import check_a11y, htmx_settled, login, screenshot, url_of
from tests.factories import PASSWORD, AuditEventFactory

ROWS = "#table-main tbody tr"
GENERIC_ACTIONS = [
    ("user.update", "user", "Directory user"),
    ("group.create", "group", "Group"),
    ("profile.update", "profile", "Profile"),
    ("subscription.change", "subscription", "Subscription"),
    ("token.create", "api_token", "Token"),
]
GENERIC_SOURCES = [Source.WEB, Source.ADMIN, Source.COMMAND, Source.API]


@pytest.fixture
def audit_events(roles):
    """60 events, plus the log-in the test adds: 61, so two pages of 50. Three concern "Payroll engineers"."""
    now = timezone.now()
    for n in range(1, 58):
        action, target_type, label = GENERIC_ACTIONS[n % len(GENERIC_ACTIONS)]
        AuditEventFactory(
            occurred_at=now - timedelta(hours=n),
            source=GENERIC_SOURCES[n % len(GENERIC_SOURCES)],
            actor_label=f"person{n:02d}",
            action=action,
            target_type=target_type,
            target_label=f"{label} {n:02d}",
        )
    specials = [
        ("aaron.auditor", Source.WEB, "group.subscribe", None, {"tier": "Pro"}),
        ("bea.billing", Source.API, "group.unsubscribe", {"tier": "Pro"}, None),
        ("zoe.scim", Source.SCIM, "group.rename", {"name": "Payroll"}, {"name": "Payroll engineers"}),
    ]
    for minutes, (actor, source, action, before, after) in enumerate(specials, start=10):
        AuditEventFactory(
            occurred_at=now - timedelta(minutes=minutes),
            source=source,
            actor_type="scim_token" if source == Source.SCIM else "user",
            actor_label=actor,
            action=action,
            target_type="group",
            target_id="g-payroll",
            target_label="Payroll engineers",
            before=before,
            after=after,
            remote_addr="203.0.113.9",
        )


def row_texts(page: Page) -> list[str]:
    return page.locator(ROWS).all_inner_texts()


def column_texts(page: Page, index: int) -> list[str]:
    return [text.strip() for text in page.locator(f"{ROWS} td:nth-child({index})").all_inner_texts()]


def mark_document(page: Page) -> None:
    """Tag the current document, so `assert_same_document` can tell an htmx swap from a full page load."""
    page.evaluate("window.__e2eSameDocument = true")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__e2eSameDocument === true"), "expected an htmx swap, got a full page load"


def test_administrator_logs_in_reads_the_audit_log_and_logs_out(page: Page, live_server, admin_user, audit_events):
    login(page, live_server, "alice.admin", PASSWORD)

    # Landing page: the Dashboard, with who is logged in and their role.
    expect(page).to_have_url(url_of(live_server, "/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.locator(".whoami-name")).to_have_text("alice.admin")
    expect(page.locator(".whoami .badge-role")).to_have_text("Administrator")
    expect(page.locator(".event-list")).to_contain_text("console_user.login")
    check_a11y(page)
    screenshot(page, "01-dashboard-administrator")

    # The audit log from the sidebar: 61 events (60 + this log-in), 50 on the first page.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(page).to_have_url(url_of(live_server, "/audit/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    expect(page.locator(".table-summary")).to_have_text("61 results · page 1 of 2")
    expect(page.locator(ROWS)).to_have_count(50)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log")).to_have_attribute(
        "aria-current", "page"
    )
    check_a11y(page)
    screenshot(page, "02-audit-log")

    # Search: htmx swaps the table in place and pushes the filtered URL. (Enter submits; searching as you type
    # is test_search_filters_as_you_type below.)
    mark_document(page)
    page.get_by_label("Search").fill("payroll")
    page.get_by_label("Search").press("Enter")
    expect(page).to_have_url(re.compile(r"[?&]q=payroll(&|$)"))
    expect(page.locator(ROWS)).to_have_count(3)
    expect(page.locator(".table-summary")).to_have_text("3 results")
    assert all("Payroll engineers" in row for row in row_texts(page))
    assert sorted(column_texts(page, 2)) == ["aaron.auditor", "bea.billing", "zoe.scim"]
    assert_same_document(page)
    screenshot(page, "03-audit-log-search")

    # Narrow by source ("Via").
    page.get_by_label("Via").select_option(label="JSON API")
    expect(page).to_have_url(re.compile(r"source=api"))
    expect(page).to_have_url(re.compile(r"q=payroll"))
    assert "action=" not in page.url  # empty filters stay out of the pushed URL
    expect(page.locator(ROWS)).to_have_count(1)
    [row] = row_texts(page)
    assert "bea.billing" in row
    assert "JSON API" in row
    assert "group.unsubscribe" in row
    assert_same_document(page)
    screenshot(page, "04-audit-log-search-and-source")

    # Clear the filters, then sort by "Who" (ascending).
    page.get_by_role("link", name="Clear").click()
    expect(page).to_have_url(url_of(live_server, "/audit/"))
    expect(page.locator(ROWS)).to_have_count(50)
    mark_document(page)
    htmx_settled(page)
    page.locator("#table-main thead").get_by_role("link", name="Who").click()
    expect(page).to_have_url(re.compile(r"[?&]sort=actor_label(&|$)"))
    expect(page.locator("#table-main th[aria-sort]")).to_have_attribute("aria-sort", "ascending")
    expect(page.locator(f"{ROWS} td:nth-child(2)").first).to_have_text("aaron.auditor")
    who = column_texts(page, 2)
    assert who[:4] == ["aaron.auditor", "alice.admin", "bea.billing", "person01"]
    assert who == sorted(who)
    assert_same_document(page)
    screenshot(page, "05-audit-log-sorted-by-who")

    # Page 2 keeps the sort order.
    htmx_settled(page)
    page.get_by_role("navigation", name="Pages").get_by_role("link", name="Page 2").click()
    expect(page).to_have_url(re.compile(r"[?&]page=2(&|$)"))
    expect(page).to_have_url(re.compile(r"[?&]sort=actor_label(&|$)"))
    expect(page.locator(".table-summary")).to_have_text("61 results · page 2 of 2")
    expect(page.locator(ROWS)).to_have_count(11)
    assert column_texts(page, 2) == [*(f"person{n}" for n in range(48, 58)), "zoe.scim"]
    assert_same_document(page)
    screenshot(page, "06-audit-log-page-2")

    # An event's detail page, through its action link.
    page.locator(ROWS).last.get_by_role("link", name="group.rename").click()
    expect(page).to_have_url(re.compile(r"/audit/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("group.rename Payroll engineers")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("zoe.scim (SCIM token)")
    expect(facts).to_contain_text("SCIM")
    expect(facts).to_contain_text("203.0.113.9")
    expect(facts).to_contain_text("group g-payroll Payroll engineers")
    expect(facts.locator("time")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"))
    changes = page.locator("table.data-table tbody tr")
    expect(changes).to_have_count(1)
    expect(changes.first.locator("th, td")).to_have_text(["name", "Payroll", "Payroll engineers"])
    check_a11y(page)
    screenshot(page, "07-audit-event-detail")

    # Log out from the header: back on the log-in page, and the audit log needs a log-in again.
    page.locator(".topbar").get_by_role("button", name="Log out").click()
    expect(page).to_have_url(url_of(live_server, "/login/"))
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    check_a11y(page)
    screenshot(page, "08-logged-out")
    page.goto(url_of(live_server, "/audit/"))
    expect(page).to_have_url(url_of(live_server, "/login/?next=/audit/"))


def test_viewer_has_no_audit_log(page: Page, live_server, viewer_user):
    login(page, live_server, "vera.viewer", PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.locator(".whoami .badge-role")).to_have_text("Viewer")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Dashboard")).to_be_visible()
    expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)

    response = page.goto(url_of(live_server, "/audit/"))
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.locator("main")).to_contain_text("Your role (Viewer) may not do this.")
    check_a11y(page)
    screenshot(page, "09-viewer-forbidden")


def test_expired_session_sends_htmx_requests_to_the_login_page(page: Page, live_server, admin_user, audit_events):
    login(page, live_server, "alice.admin", PASSWORD)
    page.goto(url_of(live_server, "/audit/"))
    expect(page.locator(ROWS)).to_have_count(50)

    page.context.clear_cookies()
    page.get_by_label("Via").select_option(label="SCIM")  # an htmx request without a session

    expect(page).to_have_url(url_of(live_server, "/login/?next=%2Faudit%2F"))
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.locator("#table-main")).to_have_count(0)
    expect(page.locator("input[name=next]")).to_have_value("/audit/")
    screenshot(page, "10-session-expired-htmx")


def test_search_filters_as_you_type(page: Page, live_server, admin_user, audit_events):
    login(page, live_server, "alice.admin", PASSWORD)
    page.goto(url_of(live_server, "/audit/"))
    page.get_by_label("Search").press_sequentially("payroll", delay=20)  # no Enter, focus stays in the box
    expect(page.locator(ROWS)).to_have_count(3, timeout=1_500)
    expect(page).to_have_url(re.compile(r"[?&]q=payroll(&|$)"))


def test_back_button_restores_the_previous_filtered_page(page: Page, live_server, admin_user, audit_events):
    login(page, live_server, "alice.admin", PASSWORD)
    page.goto(url_of(live_server, "/audit/"))
    page.get_by_label("Via").select_option(label="SCIM")
    expect(page).to_have_url(re.compile(r"source=scim"))
    expect(page.locator(ROWS)).to_have_count(1)
    page.get_by_label("Via").select_option(label="JSON API")
    expect(page).to_have_url(re.compile(r"source=api"))
    expect(page.locator(ROWS)).to_have_count(15)  # 14 generic events and bea.billing's

    page.go_back()

    expect(page).to_have_url(re.compile(r"source=scim"))
    # Wait for htmx to restore the page (the 15 rows become 1) before looking at the layout around the table.
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS).first).to_contain_text("zoe.scim")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log", timeout=1_000)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible(timeout=1_000)
    expect(page.get_by_label("Via")).to_have_value("scim", timeout=1_000)


def test_changing_a_filter_keeps_the_sort_order(page: Page, live_server, admin_user, audit_events):
    login(page, live_server, "alice.admin", PASSWORD)
    page.goto(url_of(live_server, "/audit/"))
    page.locator("#table-main thead").get_by_role("link", name="Who").click()
    expect(page).to_have_url(re.compile(r"[?&]sort=actor_label(&|$)"))
    page.get_by_label("Via").select_option(label="JSON API")
    expect(page).to_have_url(re.compile(r"source=api"))
    expect(page).to_have_url(re.compile(r"[?&]sort=actor_label(&|$)"))
    who = column_texts(page, 2)
    assert who == sorted(who) and "bea.billing" in who


def test_keyboard_reaches_the_search_box_with_a_visible_focus_ring(page: Page, live_server, admin_user):
    login(page, live_server, "alice.admin", PASSWORD)
    page.goto(url_of(live_server, "/audit/"))
    search = page.get_by_label("Search")

    for _ in range(15):
        page.keyboard.press("Tab")
        if search.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the Search box")

    outline = search.evaluate("el => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth")
    style, width = outline.split()
    assert style != "none", outline
    assert width != "0px", outline
    screenshot(page, "11-keyboard-focus-search")

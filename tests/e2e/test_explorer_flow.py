"""The usage explorer in the browser: an administrator opens a profile's Usage tab (this month by day), widens the
range to the month before, groups by user and then by model (each an htmx swap that pushes its URL), and downloads
the CSV of what the table shows. axe checks the page; test-artifacts/screenshots/usage-explorer.png shows it."""

from __future__ import annotations

import csv
import datetime
import io
import re
from pathlib import Path

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

ROWS = "#table-main tbody tr:not(.pinned-row)"
TOTAL = "#table-main tbody tr.pinned-row"
DAYS_AGO = (33, 20, 8, 3, 1, 0)  # 33 days ago is always in an earlier month; today always in this one


@pytest.fixture
def organization(roles, catalogues, monkeypatch):
    """A profile whose users maya.chen (Pro) and omar.haddad (Pro+) subscribed 40 days ago and used Kiro on the days
    of DAYS_AGO, with two models."""
    from credits.events import event_parse
    from credits.services import usage_record
    from kiroconsole.audit import Actor
    from subscriptions.services import subscription_subscribe

    actor = Actor.for_command("test")
    now = timezone.now()
    profile = profile_on_new_directory(
        account_id="333333333333",
        account_name="Acme data",
        identity_store_id="d-3333333333",
        profile_name="Data (US)",
    )
    people = people_in_directory(profile.identity_center, ["maya.chen", "omar.haddad"], actor=actor)
    with monkeypatch.context() as patch:  # subscribed 40 days ago, so the older days' usage counts
        patch.setattr(timezone, "now", lambda: now - datetime.timedelta(days=40))
        subscription_subscribe(profile=profile, users=[people["maya.chen"]], tier="PRO", actor=actor)
        subscription_subscribe(profile=profile, users=[people["omar.haddad"]], tier="PRO_PLUS", actor=actor)
    raws = []
    for i, days in enumerate(DAYS_AGO):
        for user_name, model, credits in (("maya.chen", "auto", 10 + i), ("omar.haddad", "claude-sonnet-4.5", 4)):
            # Early in the UTC day (but not after now): the day's date whatever the hour the test runs at.
            day = now.date() - datetime.timedelta(days=days)
            occurred = min(now, datetime.datetime.combine(day, datetime.time(0, 0, 1), tzinfo=datetime.UTC))
            raws.append(
                {
                    "idempotency_key": f"e2e-usage-{user_name}-{days}",
                    "user_name": user_name,
                    "credits": str(credits),
                    "occurred_at": occurred.isoformat(),
                    "client_type": "KIRO_IDE" if i % 2 else "KIRO_CLI",
                    "model": model,
                }
            )
    events = [event_parse(raw, now=now, models=frozenset({"auto", "claude-sonnet-4.5"})) for raw in raws]
    results = usage_record(profile=profile, events=events, actor=actor, now=now)
    assert all(result.status == "accepted" for result in results), [r.reason for r in results]
    return profile, now.date()


def test_explore_usage_by_range_user_and_model_and_download_it(page: Page, live_server, admin_user, organization):
    profile, today = organization
    login(page, live_server, "alice.admin", PASSWORD)
    page.goto(url_of(live_server, f"/profiles/{profile.profile_id}/"))
    page.get_by_role("navigation", name="Profile").get_by_role("link", name="Usage").click()
    expect(page).to_have_url(url_of(live_server, f"/profiles/{profile.profile_id}/usage/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Usage")

    # This month, by day: the days of DAYS_AGO in this month, the oldest not among them.
    this_month = {today - datetime.timedelta(days=d) for d in DAYS_AGO if (today - datetime.timedelta(days=d)).month
                  == today.month and (today - datetime.timedelta(days=d)).year == today.year}  # fmt: skip
    expect(page.locator(ROWS)).to_have_count(len(this_month))
    oldest = f"{today - datetime.timedelta(days=33):%Y-%m-%d}"
    expect(page.locator("#table-main")).not_to_contain_text(oldest)
    check_a11y(page)

    # Widen the range to 40 days ago: one row per day of usage, the oldest first.
    page.evaluate("window.__e2eSameDocument = true")
    page.get_by_label("From (UTC)").fill(f"{today - datetime.timedelta(days=40):%Y-%m-%d}")
    page.get_by_label("To (UTC, included)").fill(f"{today:%Y-%m-%d}")
    page.get_by_role("button", name="Show").click()
    expect(page.locator(ROWS)).to_have_count(len(DAYS_AGO))
    expect(page.locator(ROWS).first).to_contain_text(oldest)
    expect(page.locator(TOTAL)).to_contain_text(re.compile(r"Total\s+99\.00"))  # maya 10 to 15, omar 6 times 4
    expect(page).to_have_url(re.compile(r"from=\d{4}-\d\d-\d\d"))

    # Group by user, then by model: the select swaps the results in place and pushes the URL.
    htmx_settled(page)
    page.get_by_label("Group by").select_option("user")
    expect(page.locator("#table-main thead")).to_contain_text("User")
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.locator(ROWS).first).to_contain_text(re.compile(r"Maya Chen \(maya\.chen\)\s+75\.00"))
    expect(page.locator(ROWS).first.get_by_role("link", name="Maya Chen (maya.chen)")).to_be_visible()
    expect(page).to_have_url(re.compile(r"group_by=user"))
    htmx_settled(page)
    page.get_by_label("Group by").select_option("model")
    expect(page.locator("#table-main thead")).to_contain_text("Model")
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.locator(ROWS).first).to_contain_text(re.compile(r"Auto\s+75\.00"))
    expect(page.locator(ROWS).nth(1)).to_contain_text(re.compile(r"Claude Sonnet 4\.5\s+24\.00"))
    expect(page).to_have_url(re.compile(r"group_by=model"))
    assert page.evaluate("window.__e2eSameDocument === true"), "expected htmx swaps, got a full page load"
    check_a11y(page)

    # Sort by total credits, least first: the table alone is swapped, the CSV link follows.
    htmx_settled(page)
    page.locator("#table-main thead").get_by_role("link", name="Total credits").click()
    expect(page.locator(ROWS).first).to_contain_text("Claude Sonnet 4.5")
    expect(page).to_have_url(re.compile(r"sort=credits"))

    # The CSV: the table's rows in its order, with a header naming the grouping.
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile(r"^Download CSV")).click()
    download = download_info.value
    assert re.fullmatch(rf"usage-{profile.profile_id}-\d{{4}}-\d\d-\d\d-to-{today:%Y-%m-%d}-by-model\.csv",
                        download.suggested_filename)  # fmt: skip
    rows = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows[0] == ["Model", "Plan credits", "Overage credits", "Total credits", "Messages", "Events"]
    assert [row[0] for row in rows[1:]] == ["Claude Sonnet 4.5", "Auto", "Total"]
    assert rows[-1][3] == "99.00"

    check_a11y(page)
    screenshot(page, "usage-explorer")

    # A reversed range is said at its field; the results wait until it is fixed.
    htmx_settled(page)
    page.get_by_label("From (UTC)").fill(f"{today:%Y-%m-%d}")
    page.get_by_label("To (UTC, included)").fill(f"{today - datetime.timedelta(days=3):%Y-%m-%d}")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#id_to_error")).to_contain_text("before it starts")
    expect(page.get_by_label("To (UTC, included)")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#table-main")).to_have_count(0)
    check_a11y(page)
    screenshot(page, "usage-explorer-error")

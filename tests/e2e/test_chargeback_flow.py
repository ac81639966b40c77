"""Chargeback in the browser: an administrator opens a profile's Chargeback tab (Platform at Pro+, Data at Pro, a
direct subscriber, overage used), reads the lines and the totals row, goes to the month before (empty) and back,
and downloads the CSV. axe checks every state; the screenshot is test-artifacts/screenshots/chargeback.png."""

from __future__ import annotations

import csv
import io
import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import check_a11y, login, people_in_directory, profile_on_new_directory, screenshot, url_of
from tests.factories import PASSWORD


@pytest.fixture
def organization(roles, catalogues):
    """Platform (maya, omar) at Pro+, Data (omar, lena) at Pro, kim subscribed directly at Power; overage on; every
    one has used Kiro this month, maya 120 credits beyond her 2,000, kim 10.50 beyond her 10,000."""
    from django.utils import timezone

    from credits.events import event_parse
    from credits.services import usage_record
    from directory import services as directory
    from kiroconsole.audit import Actor
    from subscriptions.models import AiModel
    from subscriptions.services import group_assign, profile_settings_update, subscription_subscribe

    actor = Actor.for_command("test")
    profile = profile_on_new_directory(
        account_id="333333333333",
        account_name="Acme finance",
        identity_store_id="d-3333333333",
        profile_name="Finance (US)",
    )
    instance = profile.identity_center
    profile_settings_update(profile=profile, changes={"overage_enabled": True}, actor=actor)
    people = people_in_directory(instance, ("maya.chen", "omar.haddad", "lena.berg", "kim.park"), actor=actor)
    platform = directory.directory_group_create(identity_center=instance, display_name="Platform", actor=actor)
    data = directory.directory_group_create(identity_center=instance, display_name="Data", actor=actor)
    directory.group_members_add(group=platform, users=[people["maya.chen"], people["omar.haddad"]], actor=actor)
    directory.group_members_add(group=data, users=[people["omar.haddad"], people["lena.berg"]], actor=actor)
    group_assign(profile=profile, group=platform, tier="PRO_PLUS", actor=actor)
    group_assign(profile=profile, group=data, tier="PRO", actor=actor)
    subscription_subscribe(profile=profile, users=[people["kim.park"]], tier="POWER", actor=actor)
    usage = {"maya.chen": ["2000", "120"], "omar.haddad": ["300"], "lena.berg": ["40"], "kim.park": ["10000", "10.50"]}
    models = frozenset(AiModel.objects.values_list("code", flat=True))
    raws = [
        {"idempotency_key": f"cb-{name}-{n}", "user_name": name, "credits": amount, "client_type": "KIRO_IDE"}
        | {"model": "auto"}
        for name, amounts in usage.items()
        for n, amount in enumerate(amounts)
    ]
    now = timezone.now()
    events = [event_parse(raw, now=now, models=models) for raw in raws]
    results = usage_record(profile=profile, events=events, actor=actor, now=now)
    assert [r.status for r in results] == ["accepted"] * len(raws), results
    return SimpleNamespace(profile=profile, now=now)


def test_chargeback_tab_month_and_csv(page: Page, live_server, admin_user, organization):
    profile = organization.profile
    month = f"{organization.now:%Y-%m}"
    login(page, live_server, "alice.admin", PASSWORD)
    page.goto(url_of(live_server, f"/profiles/{profile.profile_id}/"))
    page.get_by_role("navigation", name="Profile").get_by_role("link", name="Chargeback").click()
    expect(page).to_have_url(url_of(live_server, f"/profiles/{profile.profile_id}/chargeback/"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Chargeback for {organization.now:%B %Y}")

    table = page.get_by_role("table")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(3)
    # Platform: maya and omar (Pro+ beats Data's Pro), maya's 120 overage credits; Data: lena; kim directly.
    expect(rows.nth(0)).to_contain_text(re.compile(r"Data\s+1\s+0\s+0\s+\$20\.00\s+0\.00\s+\$0\.00\s+\$20\.00"))
    expect(rows.nth(1)).to_contain_text(re.compile(r"Platform\s+0\s+2\s+0\s+\$80\.00\s+120\.00\s+\$4\.80\s+\$84\.80"))
    expect(rows.nth(2)).to_contain_text(
        re.compile(r"Direct subscriptions \(no group\)\s+0\s+0\s+1\s+\$200\.00\s+10\.50\s+\$0\.42\s+\$200\.42")
    )
    expect(table.locator("tfoot")).to_contain_text(
        re.compile(r"Total\s+1\s+2\s+1\s+\$300\.00\s+130\.50\s+\$5\.22\s+\$305\.22")
    )
    expect(page.get_by_text("The total equals the")).to_contain_text("$305.22")
    expect(page.get_by_role("heading", name="How costs are attributed")).to_be_visible()
    check_a11y(page)
    screenshot(page, "chargeback")

    # The month before: nothing to charge; then a month typed in the field.
    page.get_by_role("link", name=re.compile(r"Previous month")).click()
    expect(page.locator("p.empty")).to_contain_text("Nothing to charge back in")
    expect(page.get_by_role("link", name=re.compile("Download CSV"))).to_have_count(0)
    check_a11y(page)
    page.get_by_label("Month (YYYY-MM)").fill("2026-13")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_have_text("'2026-13' is not a month: write it as YYYY-MM, like 2026-11.")
    check_a11y(page)
    screenshot(page, "chargeback-bad-month")
    page.get_by_label("Month (YYYY-MM)").fill(month)
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(rf"/chargeback/\?month={month}$"))
    expect(page.locator("tbody tr")).to_have_count(3)

    # The CSV: the rows of the page.
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("Download CSV")).click()
    download = download_info.value
    assert download.suggested_filename == f"chargeback-{profile.profile_id}-{month}.csv"
    with open(download.path(), encoding="utf-8") as handle:
        rows_csv = list(csv.reader(io.StringIO(handle.read())))
    assert rows_csv == [
        [
            "Group",
            "Pro seats",
            "Pro+ seats",
            "Power seats",
            "Seat amount (USD)",
            "Overage credits",
            "Overage amount (USD)",
            "Total (USD)",
        ],
        ["Data", "1", "0", "0", "20.00", "0.00", "0.00", "20.00"],
        ["Platform", "0", "2", "0", "80.00", "120.00", "4.80", "84.80"],
        ["Direct subscriptions (no group)", "0", "0", "1", "200.00", "10.50", "0.42", "200.42"],
        ["Total", "1", "2", "1", "300.00", "130.50", "5.22", "305.22"],
    ]

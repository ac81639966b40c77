"""What browser tests do again and again: log in through the real form, check accessibility, take screenshots,
make the organization and people a flow starts from."""

from __future__ import annotations

import re
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
BLOCKING_IMPACTS = {"serious", "critical"}

_axe = Axe()


def url_of(live_server, path: str) -> str:
    return live_server.url + path


def login(page: Page, live_server, username: str, password: str) -> None:
    """Log in with the /login/ form, as a person would, and wait for the page it leads to."""
    page.goto(url_of(live_server, "/login/"))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login/"))


def htmx_settled(page: Page) -> None:
    """Wait until htmx has no request in flight and has wired what it swapped in. htmx activates new content's
    `hx-*` attributes when it settles, `defaultSettleDelay` (20 ms) after the swap: a test that acts on a swapped-in
    control sooner than a person could loses the event (seen once in CI: a select changed within that window)."""
    expect(page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")).to_have_count(0)


def check_a11y(page: Page) -> None:
    """Run axe-core on the page as it is now; fail listing every serious or critical violation."""
    violations = _axe.run(page).response["violations"]
    blocking = [v for v in violations if v.get("impact") in BLOCKING_IMPACTS]
    if blocking:
        lines = [f"{len(blocking)} serious/critical accessibility violation(s) on {page.url}:"]
        for violation in blocking:
            lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
            lines.extend(f"    {' '.join(map(str, node['target']))}" for node in violation["nodes"])
        raise AssertionError("\n".join(lines))


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page PNG to test-artifacts/screenshots/<name>.png (gitignored) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def profile_on_new_directory(*, account_id: str, account_name: str, identity_store_id: str, profile_name: str):
    """A management account, an organization Identity Center in us-east-1 and a Kiro profile on it, made through
    the services (the browser tests' starting point). Returns the profile."""
    from accounts.models import Region
    from accounts.services import aws_account_create, identity_center_create
    from kiroconsole.audit import Actor
    from subscriptions.services import profile_create

    actor = Actor.for_command("test")
    us_east_1 = Region.objects.get(code="us-east-1")
    account = aws_account_create(account_id=account_id, name=account_name, kind="management", actor=actor)
    instance = identity_center_create(
        identity_store_id=identity_store_id,
        name="Acme SSO",
        region=us_east_1,
        account=account,
        kind="organization",
        actor=actor,
    )
    return profile_create(account=account, region=us_east_1, identity_center=instance, name=profile_name, actor=actor)


def people_in_directory(identity_center, user_names, *, actor) -> dict:
    """Directory users named `given.family` (display name "Given Family", e-mail at acme.example), made through
    the services; by user name."""
    from directory import services as directory

    people = {}
    for user_name in user_names:
        given, family = user_name.split(".")
        people[user_name] = directory.directory_user_create(
            identity_center=identity_center,
            user_name=user_name,
            display_name=f"{given.title()} {family.title()}",
            given_name=given.title(),
            family_name=family.title(),
            email=f"{user_name}@acme.example",
            actor=actor,
        )
    return people

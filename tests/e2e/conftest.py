"""Browser test harness: Playwright driving Debian's Chromium against pytest-django's live server.

Everything in tests/e2e is marked `e2e` (deselect with `-m "not e2e"`). One Chromium serves all of them; each
test gets a fresh browser context (no cookies, no storage) and page. Helpers that tests call (log in, axe
check, screenshot) are in tests/e2e/helpers.py. When a test fails, the page as it was is saved to
test-artifacts/screenshots/FAILED-<test>.png.

Playwright's own browser download is not used: Chromium comes from the system (`chromium` on PATH, the Debian
package). Set E2E_CHROMIUM to use another binary.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from kiroconsole.roles import Role, sync_role_permissions
from tests.e2e.helpers import screenshot
from tests.factories import ConsoleUserFactory

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 10_000
HERE = Path(__file__).resolve().parent
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


def pytest_collection_modifyitems(config, items):
    """Mark every test collected from this folder `e2e`."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so the `page` fixture knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def browser():
    """One Chromium for the browser tests, closed after the last of them (package scope, so the rest of the suite
    runs without Playwright's event loop).

    The sync Playwright API keeps an asyncio loop running in the test thread, and Django refuses ORM calls
    (factories, fixtures) while one runs, so DJANGO_ALLOW_ASYNC_UNSAFE is set for exactly as long as the browser
    lives, then put back: left set, it would leak into the rest of the suite and into subprocesses (and
    `manage.py check --deploy` rejects it).
    """
    executable = os.environ.get("E2E_CHROMIUM") or shutil.which("chromium")
    if not executable:
        pytest.fail("Chromium is not installed: apt-get install chromium (or set E2E_CHROMIUM).")
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            del os.environ[ASYNC_UNSAFE]
        else:
            os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(request, context):
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed and not page.is_closed():
        screenshot(page, f"FAILED-{request.node.name}")


@pytest.fixture
def roles(live_server, transactional_db):
    """The role groups. The data migration creates them, but the live server needs transactional tests, which
    flush every table afterwards, so they are re-created here before any persona is made."""
    from django.contrib.auth.models import Group

    for role in Role:
        Group.objects.get_or_create(name=role.value)
    sync_role_permissions()


# Browser personas: the same names as tests/conftest.py, but on the live server's (transactional) database.
@pytest.fixture
def admin_user(roles):
    return ConsoleUserFactory(username="alice.admin", role=Role.ADMINISTRATOR)


@pytest.fixture
def viewer_user(roles):
    return ConsoleUserFactory(username="vera.viewer", role=Role.VIEWER)

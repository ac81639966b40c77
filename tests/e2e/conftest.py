"""Browser test harness: Playwright driving Debian's Chromium against pytest-django's live server.

Everything in tests/e2e is marked `e2e` (deselect with `-m "not e2e"`). One Chromium runs for the whole session;
each test gets a fresh browser context (no cookies, no storage) and page. Helpers that tests call (log in, axe
check, screenshot) are in tests/e2e/helpers.py.

Playwright's own browser download is not used: Chromium comes from the system (`chromium` on PATH, the Debian
package). Set E2E_CHROMIUM to use another binary.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# The sync Playwright API runs an asyncio loop in the test thread; without this Django refuses ORM calls made
# from the test (factories, fixtures) while that loop exists.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import sync_playwright  # noqa: E402

from kiroconsole.roles import Role, sync_role_permissions  # noqa: E402
from tests.factories import ConsoleUserFactory  # noqa: E402

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


def pytest_collection_modifyitems(config, items):
    """Mark every test collected from this folder `e2e`."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser():
    executable = os.environ.get("E2E_CHROMIUM") or shutil.which("chromium")
    if not executable:
        pytest.fail("Chromium is not installed: apt-get install chromium (or set E2E_CHROMIUM).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context):
    return context.new_page()


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

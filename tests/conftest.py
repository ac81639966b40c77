"""Persona fixtures (STYLE.md): admin_user, support_user, viewer_user, metering_user, no_role_user and their
logged-in clients; metering_client / api_client_for(role) for the API with real bearer tokens."""

from __future__ import annotations

import importlib

import pytest
from django.test import Client

from kiroconsole.roles import Role
from tests.factories import ApiTokenFactory, ConsoleUserFactory


@pytest.fixture
def admin_user(db):
    return ConsoleUserFactory(username="alice.admin", role=Role.ADMINISTRATOR)


@pytest.fixture
def support_user(db):
    return ConsoleUserFactory(username="sam.support", role=Role.SUPPORT)


@pytest.fixture
def viewer_user(db):
    return ConsoleUserFactory(username="vera.viewer", role=Role.VIEWER)


@pytest.fixture
def metering_user(db):
    return ConsoleUserFactory(username="kiro-service", role=Role.METERING)


@pytest.fixture
def no_role_user(db):
    return ConsoleUserFactory(username="nora.norole")


@pytest.fixture
def personas(admin_user, support_user, viewer_user, metering_user, no_role_user):
    """Every kind of console user, by role name ('' for a user without a role)."""
    return {
        Role.ADMINISTRATOR: admin_user,
        Role.SUPPORT: support_user,
        Role.VIEWER: viewer_user,
        Role.METERING: metering_user,
        "": no_role_user,
    }


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user):  # overrides pytest-django's superuser admin_client: a real administrator
    return _logged_in(admin_user)


@pytest.fixture
def support_client(support_user):
    return _logged_in(support_user)


@pytest.fixture
def viewer_client(viewer_user):
    return _logged_in(viewer_user)


@pytest.fixture
def anonymous():
    return Client()


class ApiClient(Client):
    """A test client that sends `Authorization: Bearer <token>` on every request."""

    def __init__(self, raw_token: str, **kwargs):
        super().__init__(headers={"Authorization": f"Bearer {raw_token}"}, **kwargs)


@pytest.fixture
def api_client_for(db):
    def make(user) -> ApiClient:
        _, raw = ApiTokenFactory.create_with_raw(user=user)
        return ApiClient(raw)

    return make


@pytest.fixture
def admin_api(api_client_for, admin_user):
    return api_client_for(admin_user)


@pytest.fixture
def metering_client(api_client_for, metering_user):
    return api_client_for(metering_user)


@pytest.fixture
def catalogues(transactional_db):
    """The Region, AI model and tier catalogues for transactional tests (the live server's, subprocesses'). Their data
    migrations seed them, but transactional tests flush every table afterwards: seed them again with the
    migrations' own functions."""
    from django.apps import apps

    importlib.import_module("accounts.migrations.0002_regions").seed_regions(apps, None)
    importlib.import_module("subscriptions.migrations.0002_model_catalogue").seed(apps, None)
    importlib.import_module("subscriptions.migrations.0005_tier_catalogue").seed(apps, None)


@pytest.fixture(autouse=True)
def fresh_catalogue_cache():
    """The metering path keeps the tier and model catalogues for a minute per process; every test starts with
    the catalogue of its own database."""
    from credits import catalogue

    catalogue.clear()
    yield
    catalogue.clear()


@pytest.fixture(autouse=True)
def fresh_cache():
    """Django's cache (the dashboard keeps seat counts there) starts empty in every test: ids and clock times
    repeat between tests."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()

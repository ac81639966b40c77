"""schemathesis against the API's OpenAPI document (issue 9): every operation of `/api/v1/openapi.json`, called
in-process through Django's WSGI application with an administrator's bearer token, with inputs generated from the
document. Checks: no server error (5xx), and every answer conforms to the document (its status code is one the
operation declares, its body matches the declared schema, its content type the declared one).

The data: an organization with two profiles on one directory, users, groups (one assigned to a tier),
subscriptions and usage, so that operations have something to chew on. Path parameters are the ids of that data
(schemathesis' random ids would only ever meet 404s); query parameters and bodies are schemathesis'. Each example
runs in a savepoint that is rolled back, so a DELETE doesn't starve the next example.

Bounded: `examples(3)` examples per operation in the suite; for a deeper run by hand (20 per operation, about a
minute and a half): `HYPOTHESIS_FUZZ_EXAMPLES=20 ./dev test tests/fuzz/test_schemathesis.py -q -p no:cacheprovider`.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import settings
from schemathesis import checks

from credits.services import usage_record
from kiroconsole.api_urls import api
from kiroconsole.roles import Role
from subscriptions.services import group_assign, profile_settings_update
from tests.credits.conftest import event, metered, record  # noqa: F401  (a fixture)
from tests.factories import ApiTokenFactory, ConsoleUserFactory
from tests.fuzz.conftest import examples
from tests.subscriptions.conftest import ACTOR, clock, org  # noqa: F401  (fixtures)

schema = schemathesis.openapi.from_dict(api.get_openapi_schema(path_prefix="/api/v1/"))
APP = get_wsgi_application()
CHECKS = [
    checks.not_a_server_error,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]

assert usage_record  # the usage below is recorded through `record`, which calls it


@pytest.fixture
def keep_connection():
    """The WSGI handler closes the database connection after each request, as in production; the test's transaction
    lives on it, so keep it open (as Django's test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_world(keep_connection, metered, clock):  # noqa: F811  (the fixtures imported above)
    """`metered` (ann at Pro, bob at Pro+ in Production; Engineering and Research), Research assigned to Power,
    overage on, some usage this month and last; and an administrator's token."""
    profile = metered.profile
    profile_settings_update(profile=profile, changes={"overage_enabled": True}, actor=ACTOR)
    group_assign(profile=profile, group=metered.groups["Research"], tier="POWER", actor=ACTOR)
    ann, bob = metered.users["ann"], metered.users["bob"]
    record(
        profile,
        event(ann, "250.50", occurred_at="2026-11-03T09:00:00Z", messages=4),
        event(ann, "900", occurred_at="2026-11-10T10:00:00Z", model="claude-sonnet-4.5"),
        event(bob, "10", occurred_at="2026-11-14T23:59:59Z", client_type="KIRO_CLI", messages=3),
    )
    admin = ConsoleUserFactory(username="fuzz.admin", role=Role.ADMINISTRATOR)
    _, raw = ApiTokenFactory.create_with_raw(user=admin)
    path_ids = {
        "profile_id": profile.profile_id,
        "user_id": str(ann.pk),
        "group_id": str(metered.groups["Engineering"].pk),
        "account_id": profile.account.account_id,
        "identity_store_id": metered.ic.identity_store_id,
    }
    return {"token": raw, "ids": path_ids}


@schema.parametrize()
@settings(settings.get_profile("fuzz"), max_examples=examples(3))
@pytest.mark.django_db
def test_the_api_conforms_to_its_openapi_document(case, api_world):
    if case.path_parameters:
        ids = api_world["ids"]
        case.path_parameters = {name: ids.get(name, value) for name, value in case.path_parameters.items()}
    with transaction.atomic():
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {api_world['token']}"}
        response = case.call(app=APP)
        try:
            case.validate_response(response, checks=CHECKS)
        finally:
            transaction.set_rollback(True)

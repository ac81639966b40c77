"""Pages of the organization: the accounts list (a query budget that does not grow with rows), the account pages
and their refusals."""

from __future__ import annotations

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from kiroconsole.audit import Actor
from kiroconsole.models import AuditEvent
from subscriptions.services import profile_delete
from tests.assertions import nothing_written
from tests.factories import AwsAccountFactory, IdentityCenterFactory, ProfileFactory

ACCOUNTS_LIST_QUERIES = 6  # session, user, roles, unread alerts, count, one page of rows with their profile counts


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_accounts_list_has_a_query_budget_that_does_not_grow_with_rows(viewer_client, django_assert_max_num_queries):
    IdentityCenterFactory(organization=True)
    for _ in range(3):
        ProfileFactory()
    few = _queries(viewer_client, "/organization/accounts/")
    for _ in range(52):
        ProfileFactory()
    AwsAccountFactory.create_batch(3)
    with django_assert_max_num_queries(ACCOUNTS_LIST_QUERIES):
        response = viewer_client.get("/organization/accounts/")
    assert response.status_code == 200
    assert _queries(viewer_client, "/organization/accounts/") == few
    assert len(re.findall(r'href="/organization/accounts/\d{12}/"', response.content.decode())) == 50  # one page


def test_accounts_list_shows_the_live_profile_count(viewer_client):
    profile = ProfileFactory(name="Gone")
    ProfileFactory(account=profile.account, region="eu-central-1")
    profile_delete(profile=profile, actor=Actor.for_command("test"))
    response = viewer_client.get("/organization/accounts/?q=" + profile.account.account_id)
    html = response.content.decode()
    assert profile.account.account_id in html
    assert '<td class="numeric">1</td>' in html


def test_account_delete_page_shows_the_refusal_naming_the_profile(admin_client):
    profile = ProfileFactory(name="Engineering (US)")
    url = f"/organization/accounts/{profile.account.account_id}/delete/"
    assert admin_client.get(url).status_code == 200
    with nothing_written():
        response = admin_client.post(url)
    assert response.status_code == 200
    assert (
        f"Account {profile.account.account_id} can&#x27;t be deleted: it holds the Kiro profile “Engineering (US)”."
        in response.content.decode()
    )


def test_account_delete_page_deletes_an_empty_account_and_says_so(admin_client):
    account = AwsAccountFactory(name="Sandbox")
    response = admin_client.post(f"/organization/accounts/{account.account_id}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == "/organization/accounts/"
    assert f"Deleted Sandbox ({account.account_id})." in response.content.decode()
    assert AuditEvent.objects.filter(action="aws_account.delete", source="web").count() == 1


def test_account_create_page_shows_the_service_message_at_the_field(admin_client):
    AwsAccountFactory(management=True)
    with nothing_written():
        response = admin_client.post(
            "/organization/accounts/new/", {"account_id": "123456789012", "name": "Other", "kind": "management"}
        )
    assert response.status_code == 200
    assert "is the management account: an organization has exactly one." in response.content.decode()

"""The Django admin for the organization: support reads, administrators write through the services."""

from __future__ import annotations

from accounts.models import AwsAccount
from kiroconsole.models import AuditEvent
from tests.assertions import nothing_written
from tests.factories import AwsAccountFactory, IdentityCenterFactory


def test_support_can_view_accounts_but_not_change_them(support_client):
    account = AwsAccountFactory(name="Engineering")
    assert support_client.get("/admin/accounts/awsaccount/").status_code == 200
    url = f"/admin/accounts/awsaccount/{account.pk}/change/"
    response = support_client.get(url)
    assert response.status_code == 200
    assert b'name="name"' not in response.content  # the read-only view
    with nothing_written():
        assert support_client.post(url, {"name": "Hijacked", "kind": "member"}).status_code == 403
        assert support_client.post("/admin/accounts/awsaccount/add/", {}).status_code == 403
        assert (
            support_client.post(f"/admin/accounts/awsaccount/{account.pk}/delete/", {"post": "yes"}).status_code == 403
        )


def test_support_can_view_identity_center_instances_but_not_change_them(support_client):
    instance = IdentityCenterFactory(name="Team")
    url = f"/admin/accounts/identitycenterinstance/{instance.pk}/change/"
    assert support_client.get(url).status_code == 200
    with nothing_written():
        assert support_client.post(url, {"name": "Hijacked"}).status_code == 403


def test_administrator_renames_an_account_in_the_admin_through_the_service(admin_client):
    account = AwsAccountFactory(name="Old name")
    response = admin_client.post(
        f"/admin/accounts/awsaccount/{account.pk}/change/", {"name": "New name", "kind": "member"}
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "New name"
    event = AuditEvent.objects.get(action="aws_account.update")
    assert (event.source, event.before["name"], event.after["name"]) == ("admin", "Old name", "New name")


def test_administrator_sees_the_service_message_for_a_second_management_account_in_the_admin(admin_client):
    AwsAccountFactory(management=True)
    with nothing_written():
        response = admin_client.post(
            "/admin/accounts/awsaccount/add/", {"account_id": "123456789012", "name": "Other", "kind": "management"}
        )
    assert response.status_code == 200
    assert "Acme (management) (111111111111) is the management account" in response.content.decode()
    assert not AwsAccount.objects.filter(account_id="123456789012").exists()

"""The audit trail: written by services in their transaction, append-only, shown on a filterable page."""

from __future__ import annotations

import datetime
import decimal
import uuid

import pytest
from django.db import transaction

from kiroconsole.audit import Actor, audit_record, audit_record_many
from kiroconsole.models import AuditEvent
from kiroconsole.roles import Role
from kiroconsole.services import console_user_create, console_user_set_role
from tests.factories import AuditEventFactory


def test_service_records_who_what_before_and_after(admin_user, rf):
    request = rf.post("/", REMOTE_ADDR="203.0.113.9")
    request.user = admin_user
    user = console_user_create(
        username="new.viewer", password=None, role=Role.VIEWER, actor=Actor.from_request(request)
    )
    console_user_set_role(user=user, role=Role.SUPPORT, actor=Actor.from_request(request))
    created, changed = AuditEvent.objects.order_by("id")
    assert created.action == "console_user.create"
    assert created.actor_label == "alice.admin"
    assert created.actor_user == admin_user
    assert created.source == "web"
    assert created.remote_addr == "203.0.113.9"
    assert created.target_type == "user" and created.target_id == str(user.pk)
    assert created.after["role"] == "viewer"
    assert changed.before["role"] == "viewer" and changed.after["role"] == "support"
    assert changed.changes == [("role", "viewer", "support")]


def test_a_failed_change_leaves_no_audit_event(db):
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(actor=Actor.for_command("test"), action="x.change", target=("x", "1", "X"))
        raise RuntimeError("crash mid-write")
    assert AuditEvent.objects.count() == 0


def test_command_actor_is_named_after_the_command(db):
    audit_record(actor=Actor.for_command("import_users"), action="x.create", target=("x", "1", "X"))
    event = AuditEvent.objects.get()
    assert (event.source, event.actor_type, event.actor_label) == ("command", "command", "manage.py import_users")


def test_bulk_recording_writes_every_entry(db):
    entries = (("x.create", ("x", str(i), f"X{i}"), None, {"n": i}) for i in range(4500))
    assert audit_record_many(actor=Actor.for_command("import"), entries=entries) == 4500
    assert AuditEvent.objects.count() == 4500


def test_bulk_events_hold_what_single_events_hold(db, admin_user):
    """audit_record_many writes its rows without model instances: they must read back as audit_record's do."""
    actor = Actor(source="web", actor_type="user", label="alice", user=admin_user, remote_addr="10.0.0.7")
    target = ("x", uuid.UUID(int=7), "X <7>")
    before = {"when": datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.UTC), "n": decimal.Decimal("1.50")}
    after = {"tags": ("a", "b"), "id": uuid.UUID(int=7), "nested": {"ok": True}}
    audit_record(actor=actor, action="x.update", target=target, before=before, after=after)
    audit_record_many(actor=actor, entries=[("x.update", target, before, after), ("x.create", target, None, after)])
    single, bulk, created = AuditEvent.objects.order_by("pk")
    fields = [f.name for f in AuditEvent._meta.concrete_fields if f.name not in ("id", "occurred_at")]
    assert [getattr(bulk, name) for name in fields] == [getattr(single, name) for name in fields]
    assert (created.before, created.after) == (None, single.after)
    assert bulk.occurred_at == created.occurred_at and abs(bulk.occurred_at - single.occurred_at).total_seconds() < 60


def test_audit_events_cannot_be_edited_or_deleted(db):
    event = AuditEventFactory()
    event.action = "forged"
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(TypeError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get().action == "thing.change"


def test_admin_offers_no_way_to_change_audit_events(admin_client):
    event = AuditEventFactory()
    assert admin_client.get("/admin/kiroconsole/auditevent/add/").status_code == 403
    assert admin_client.post(f"/admin/kiroconsole/auditevent/{event.pk}/delete/").status_code == 403
    page = admin_client.get(f"/admin/kiroconsole/auditevent/{event.pk}/change/")
    assert page.status_code == 200
    assert b'name="action"' not in page.content


def test_admin_changes_to_console_users_are_audited(admin_client, viewer_user):
    response = admin_client.post(
        f"/admin/kiroconsole/user/{viewer_user.pk}/change/",
        {
            "username": "vera.viewer",
            "email": "vera@example.com",
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "groups": [g.pk for g in viewer_user.groups.all()],
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="user.change")
    assert event.source == "admin"
    assert event.before["email"] == "vera.viewer@example.com"
    assert event.after["email"] == "vera@example.com"
    assert "password" not in event.after


# --- The audit log page -----------------------------------------------------------------------------------


def test_audit_log_lists_filters_and_searches(admin_client):
    AuditEventFactory(actor_label="carol", action="directory_user.create", source="scim", target_label="Bob Smith")
    AuditEventFactory(actor_label="dave", action="profile.change", source="web", target_label="Production")
    page = admin_client.get("/audit/")
    assert page.status_code == 200
    assert "Bob Smith" in page.content.decode() and "Production" in page.content.decode()

    page = admin_client.get("/audit/?q=bob")
    assert "Bob Smith" in page.content.decode() and "Production" not in page.content.decode()
    page = admin_client.get("/audit/?source=web")
    assert "Bob Smith" not in page.content.decode() and "Production" in page.content.decode()
    page = admin_client.get("/audit/?action=directory_")
    assert "Bob Smith" in page.content.decode() and "Production" not in page.content.decode()


def test_audit_log_rejects_bad_filter_values_clearly(admin_client):
    page = admin_client.get("/audit/?since=not-a-date&source=nonsense")
    assert page.status_code == 200
    assert "Enter a valid date." in page.content.decode()
    assert "Select a valid choice" in page.content.decode()


def test_htmx_request_gets_the_table_fragment_only(admin_client):
    AuditEventFactory(target_label="Fragmented")
    full = admin_client.get("/audit/")
    fragment = admin_client.get("/audit/", headers={"HX-Request": "true"})
    assert b"<html" in full.content
    assert b"<html" not in fragment.content
    assert b'id="table-main"' in fragment.content and b"Fragmented" in fragment.content
    assert "HX-Request" in fragment["Vary"] and "HX-Request" in full["Vary"]


def test_audit_log_sort_and_page_links_carry_htmx_and_push_url(admin_client):
    AuditEventFactory.create_batch(60)
    page = admin_client.get("/audit/").content.decode()
    assert 'hx-get="?sort=' in page
    assert 'hx-get="?page=2"' in page
    assert 'hx-push-url="true"' in page


def test_audit_log_page_has_a_constant_number_of_queries(admin_client, django_assert_max_num_queries):
    AuditEventFactory.create_batch(120)
    with django_assert_max_num_queries(6):
        assert admin_client.get("/audit/?page=2").status_code == 200
    AuditEventFactory.create_batch(300)
    with django_assert_max_num_queries(6):
        assert admin_client.get("/audit/?page=3&sort=action").status_code == 200


def test_audit_detail_shows_before_and_after(admin_client):
    event = AuditEventFactory(before={"name": "Old", "same": 1}, after={"name": "New", "same": 1})
    page = admin_client.get(f"/audit/{event.pk}/").content.decode()
    assert "Old" in page and "New" in page
    assert "<code>same</code>" not in page  # unchanged fields are not listed


def test_audit_log_escapes_html_in_labels(admin_client):
    AuditEventFactory(target_label="<script>alert(1)</script>", actor_label="<b>x</b>")
    page = admin_client.get("/audit/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page

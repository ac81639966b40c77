"""The Django admin for profiles, their settings, the model and tier catalogues, subscriptions and group
assignments: support reads, and acts on subscriptions and assignments through the services (the actions);
administrators create and edit profiles through the services; settings are changed on the settings page or the
API only; the catalogues are a superuser's."""

from __future__ import annotations

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kiroconsole.models import AuditEvent
from subscriptions.models import AiModel, GroupAssignment, Profile, ProfileSettings, Subscription, Tier
from subscriptions.services import group_assign, subscription_subscribe, subscription_unsubscribe
from tests.assertions import nothing_written
from tests.factories import (
    AwsAccountFactory,
    ConsoleUserFactory,
    DirectoryUserFactory,
    IdentityCenterFactory,
    ProfileFactory,
)
from tests.subscriptions.conftest import ACTOR


def test_support_can_view_profiles_but_not_change_them(support_client):
    profile = ProfileFactory(name="Engineering (US)")
    assert support_client.get("/admin/subscriptions/profile/").status_code == 200
    url = f"/admin/subscriptions/profile/{profile.pk}/change/"
    response = support_client.get(url)
    assert response.status_code == 200
    assert "Engineering (US)" in response.content.decode()
    assert b'name="name"' not in response.content  # the read-only view
    with nothing_written():
        assert support_client.post(url, {"name": "Hijacked", "description": ""}).status_code == 403
        assert support_client.post("/admin/subscriptions/profile/add/", {}).status_code == 403
        assert (
            support_client.post(f"/admin/subscriptions/profile/{profile.pk}/delete/", {"post": "yes"}).status_code
            == 403
        )


def test_nobody_changes_settings_in_the_admin(support_client, admin_client):
    profile = ProfileFactory()
    url = f"/admin/subscriptions/profilesettings/{profile.pk}/change/"
    assert support_client.get(url).status_code == 200
    with nothing_written():
        for client in (support_client, admin_client):
            assert client.post(url, {"web_tools": ""}).status_code == 403


def test_support_and_administrators_cannot_change_ai_models_only_a_superuser_can(support_client, admin_client, db):
    model = AiModel.objects.get(code="claude-opus-4.5")
    url = f"/admin/subscriptions/aimodel/{model.pk}/change/"
    data = {"code": model.code, "name": model.name, "credit_multiplier": "2.50", "active": "on", "position": "2"}
    for client in (support_client, admin_client):
        assert client.get(url).status_code == 200
        with nothing_written():
            assert client.post(url, data).status_code == 403
            assert client.post("/admin/subscriptions/aimodel/add/", data | {"code": "new-model"}).status_code == 403
    superuser = Client()
    superuser.force_login(ConsoleUserFactory(username="root", is_superuser=True, is_staff=True))
    assert superuser.post(url, data).status_code == 302
    model.refresh_from_db()
    assert str(model.credit_multiplier) == "2.50"
    event = AuditEvent.objects.get(action="aimodel.change")
    assert (event.source, event.before["credit_multiplier"], event.after["credit_multiplier"]) == (
        "admin",
        "2.20",
        "2.50",
    )


def test_administrator_creating_a_duplicate_profile_in_the_admin_sees_the_service_message(admin_client):
    instance = IdentityCenterFactory(organization=True)
    existing = ProfileFactory(name="Engineering (US)")
    data = {
        "account": existing.account.pk,
        "region": "us-east-1",
        "identity_center": instance.pk,
        "name": "Another",
        "description": "",
    }
    with nothing_written():
        response = admin_client.post("/admin/subscriptions/profile/add/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        f"The account {existing.account.account_id} already has the Kiro profile “Engineering (US)” in us-east-1: "
        "there is at most one profile per account and Region." in html
    )
    # At the Region field, not only above the form.
    region_row = html[html.index('class="form-row field-region') :]
    assert region_row.index("already has the Kiro profile") < region_row.index('name="region"')


def test_administrator_creates_a_profile_in_the_admin_through_the_service(admin_client):
    instance = IdentityCenterFactory(organization=True)
    account = AwsAccountFactory()
    data = {
        "account": account.pk,
        "region": "eu-central-1",
        "identity_center": instance.pk,
        "name": "EU",
        "description": "",
    }
    response = admin_client.post("/admin/subscriptions/profile/add/", data)
    assert response.status_code == 302
    profile = Profile.objects.get(name="EU")
    assert ProfileSettings.objects.filter(profile=profile).exists()
    assert list(AuditEvent.objects.filter(action="profile.create").values_list("source", flat=True)) == ["admin"]


def test_administrator_refused_a_region_without_profiles_in_the_admin(admin_client):
    instance = IdentityCenterFactory(organization=True)
    account = AwsAccountFactory()
    data = {
        "account": account.pk,
        "region": "us-west-2",
        "identity_center": instance.pk,
        "name": "X",
        "description": "",
    }
    with nothing_written():
        response = admin_client.post("/admin/subscriptions/profile/add/", data)
    assert response.status_code == 200
    assert "Kiro profiles can&#x27;t be created in us-west-2" in response.content.decode()


def test_administrator_deletes_a_profile_in_the_admin_keeping_its_row(admin_client):
    profile = ProfileFactory()
    url = f"/admin/subscriptions/profile/{profile.pk}/delete/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert Profile.objects.get(pk=profile.pk).deleted_at is not None
    assert AuditEvent.objects.filter(action="profile.delete", source="admin").count() == 1


# --- Tiers, subscriptions and group assignments ---------------------------------------------------------------


def _subscribed(org):
    """ann directly at Pro+, Research (bob, cat) assigned at Pro; all in Production."""
    group_assign(profile=org.profile, group=org.groups["Research"], tier="PRO", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO_PLUS", actor=ACTOR)
    return {s.user.user_name: s for s in Subscription.objects.select_related("user")}


def _act(client, model: str, action: str, objects) -> str:
    response = client.post(
        f"/admin/subscriptions/{model}/",
        {"action": action, "_selected_action": [str(o.pk) for o in objects], "index": 0},
        follow=True,
    )
    assert response.status_code == 200
    return response.content.decode()


def test_support_finds_subscriptions_by_user_name_or_email_and_filters_them(org, support_client):
    _subscribed(org)
    subscription_subscribe(profile=org.other, users=org.users["cat"], tier="POWER", actor=ACTOR)
    base = "/admin/subscriptions/subscription/"
    for query, expected in [
        ("?q=ann", {"ann"}),
        ("?q=cat%40example.com", {"cat"}),
        (f"?profile__id__exact={org.other.pk}", {"cat"}),
        ("?tier=PRO", {"bob", "cat"}),
        ("?tier=PRO_PLUS", {"ann"}),
        ("?status__exact=PENDING&tier=POWER", {"cat"}),
    ]:
        html = support_client.get(base + query).content.decode()
        shown = {name for name in ("ann", "bob", "cat") if f"({name})</a>" in html}
        assert shown == expected, query


def test_the_subscription_list_has_a_query_budget(org, support_client, django_assert_max_num_queries):
    _subscribed(org)
    with CaptureQueriesContext(connection) as few:
        support_client.get("/admin/subscriptions/subscription/")
    people = [DirectoryUserFactory(identity_center=org.ic) for _ in range(60)]
    subscription_subscribe(profile=org.profile, users=people, tier="PRO", actor=ACTOR)
    with django_assert_max_num_queries(len(few)):
        response = support_client.get("/admin/subscriptions/subscription/")
    assert response.status_code == 200
    assert len(few) <= 11


def test_a_subscription_page_is_read_only_with_its_history(org, support_client):
    ann = _subscribed(org)["ann"]
    url = f"/admin/subscriptions/subscription/{ann.pk}/change/"
    response = support_client.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="status"' not in html and "Subscription periods" in html
    assert "Pending" in html and "Pro+" in html
    with nothing_written():
        assert support_client.post(url, {"status": "ACTIVE"}).status_code == 403
        assert support_client.get("/admin/subscriptions/subscription/add/").status_code == 403
        assert (
            support_client.post(f"/admin/subscriptions/subscription/{ann.pk}/delete/", {"post": "yes"}).status_code
            == 403
        )


def test_support_unsubscribes_with_the_action_through_the_service(org, support_client, support_user):
    subs = _subscribed(org)
    subscription_unsubscribe(profile=org.profile, users=org.users["cat"], actor=ACTOR)
    html = _act(support_client, "subscription", "unsubscribe", [subs["ann"], subs["bob"], subs["cat"]])
    assert "Left out, already canceled: cat." in html
    assert "Production: 2 user(s) unsubscribed, with access until 2026-12-01 00:00 UTC" in html
    assert set(Subscription.objects.values_list("status", flat=True)) == {"CANCELED"}
    event = AuditEvent.objects.filter(action="subscription.unsubscribe").latest("pk")
    assert (event.source, event.actor_label, event.after["users"]) == ("admin", support_user.username, ["ann", "bob"])


def test_support_changes_plans_with_a_tier_action(org, support_client):
    subs = _subscribed(org)
    html = _act(support_client, "subscription", "change_plan_power", [subs["ann"], subs["bob"]])
    assert "Production: 2 user(s) changed to Power (up now, down from the 1st); upgraded 2." in html
    assert dict(Subscription.objects.values_list("user__user_name", "tier")) == {
        "ann": "POWER",
        "bob": "POWER",
        "cat": "PRO",
    }
    _act(support_client, "subscription", "change_plan_pro", [subs["ann"]])
    ann = Subscription.objects.get(pk=subs["ann"].pk)
    assert (ann.tier_id, ann.next_tier_id) == ("POWER", "PRO")
    assert AuditEvent.objects.filter(action="subscription.change_plan", source="admin").count() == 2


def test_a_refused_action_says_why_and_writes_nothing(org, support_client):
    subs = _subscribed(org)
    Profile.objects.filter(pk=org.profile.pk).update(deleted_at=timezone.now())  # as if deleted meanwhile
    before = sorted(map(str, Subscription.objects.values_list()))
    with nothing_written():
        html = _act(support_client, "subscription", "change_plan_power", [subs["ann"]])
    assert "Production: The profile “Production” is deleted: nothing can be subscribed in it." in html
    assert sorted(map(str, Subscription.objects.values_list())) == before


def test_viewers_have_no_admin_actions(org, viewer_client):
    assert viewer_client.get("/admin/subscriptions/subscription/").status_code == 403


def test_support_assigns_a_group_in_the_admin_through_the_service(org, support_client):
    data = {"profile": org.profile.pk, "group": org.groups["Engineering"].pk, "tier": "PRO_MAX"}
    response = support_client.post("/admin/subscriptions/groupassignment/add/", data)
    assert response.status_code == 302
    assert dict(Subscription.objects.values_list("user__user_name", "tier")) == {"ann": "PRO_MAX", "bob": "PRO_MAX"}
    assert AuditEvent.objects.get(action="group_assignment.create").source == "admin"
    with nothing_written():
        again = support_client.post("/admin/subscriptions/groupassignment/add/", data | {"tier": "PRO"})
    assert again.status_code == 200
    assert "The group Engineering is already assigned in this profile." in again.content.decode()


def test_the_assignment_list_shows_member_counts_and_its_page_changes_the_tier(org, support_client):
    _subscribed(org)
    assignment = GroupAssignment.objects.get()
    html = support_client.get("/admin/subscriptions/groupassignment/").content.decode()
    assert '<td class="field-member_count">2</td>' in html
    url = f"/admin/subscriptions/groupassignment/{assignment.pk}/change/"
    assert 'name="group"' not in support_client.get(url).content.decode()  # the group and profile are fixed
    assert support_client.post(url, {"tier": "POWER"}).status_code == 302
    assert dict(Subscription.objects.values_list("user__user_name", "tier")) == {
        "ann": "PRO_PLUS",
        "bob": "POWER",
        "cat": "POWER",
    }
    assert AuditEvent.objects.get(action="group_assignment.update").source == "admin"


def test_support_unassigns_groups_with_the_action_or_the_delete_page(org, support_client):
    _subscribed(org)
    group_assign(profile=org.profile, group=org.groups["Engineering"], tier="PRO", actor=ACTOR)
    research = GroupAssignment.objects.get(group=org.groups["Research"])
    engineering = GroupAssignment.objects.get(group=org.groups["Engineering"])
    html = _act(support_client, "groupassignment", "unassign", [research])
    assert "Research in Production: unassigned; canceled 1." in html  # cat; bob keeps Pro from Engineering
    response = support_client.post(f"/admin/subscriptions/groupassignment/{engineering.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not GroupAssignment.objects.exists()
    assert dict(Subscription.objects.values_list("user__user_name", "status")) == {
        "ann": "PENDING",  # subscribed directly too
        "bob": "CANCELED",
        "cat": "CANCELED",
    }
    assert AuditEvent.objects.filter(action="group_assignment.delete", source="admin").count() == 2


def test_support_changes_a_groups_plan_with_a_tier_action(org, support_client):
    _subscribed(org)
    html = _act(support_client, "groupassignment", "change_plan_pro_plus", GroupAssignment.objects.all())
    assert "Research in Production: changed to Pro+; upgraded 2." in html
    assert GroupAssignment.objects.get().tier_id == "PRO_PLUS"


def test_only_a_superuser_edits_the_tier_catalogue(db, support_client, admin_client):
    url = "/admin/subscriptions/tier/PRO/change/"
    data = {"name": "Pro", "monthly_credits": "1000", "price": "25.00", "rank": "1"}
    for client in (support_client, admin_client):
        response = client.get(url)
        assert response.status_code == 200 and 'name="price"' not in response.content.decode()
        with nothing_written():
            assert client.post(url, data).status_code == 403
            assert client.post("/admin/subscriptions/tier/add/", data | {"code": "GOLD"}).status_code == 403
    superuser = Client()
    superuser.force_login(ConsoleUserFactory(username="root", is_superuser=True, is_staff=True))
    response = superuser.get(url)
    assert 'name="price"' in response.content.decode() and 'name="code"' not in response.content.decode()
    assert superuser.post(url, data).status_code == 302
    assert str(Tier.objects.get(code="PRO").price) == "25.00"
    event = AuditEvent.objects.get(action="tier.change")
    assert (event.before["price"], event.after["price"]) == ("20.00", "25.00")

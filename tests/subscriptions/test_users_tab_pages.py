"""The Users tab after its first page: each page lists the rows that follow the previous page's, in the table's
order, with the first page's number of queries. On PostgreSQL a later page reads its users' ids first and then
their subscriptions (subscriptions.tables.PagesByUser); the first page and SQLite read the page at once.

The clock of tests/subscriptions/conftest.py is at 2026-11-15 12:00 UTC."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from directory import services as directory
from subscriptions.models import Subscription, Tier
from tests.subscriptions.conftest import ACTOR
from tests.subscriptions.test_subscription_pages import USERS_TAB_QUERIES, make_subscriptions, rows, url


def name(s, ranks):
    return s.user.user_name


def tier_then_name(s, ranks):
    return ranks[s.effective_tier_id(timezone.now())], s.user.user_name


def higher_tier_then_name(s, ranks):
    return -ranks[s.effective_tier_id(timezone.now())], s.user.user_name


def status(s, ranks):
    return s.status, s.subscribed_at, s.pk


def subscribed(s, ranks):
    return s.subscribed_at, s.pk


@pytest.mark.parametrize(
    ("query", "order", "descending", "kept"),
    [
        ("", name, False, "all"),
        ("sort=-user", name, True, "all"),
        ("sort=tier", tier_then_name, False, "all"),
        ("sort=-tier", higher_tier_then_name, False, "all"),
        ("sort=status", status, False, "all"),
        ("sort=-subscribed_at", subscribed, True, "all"),
        ("tier=PRO_MAX", name, False, "Pro Max"),
        ("group=Research", name, False, "Research"),
        ("q=person&sort=-user", name, True, "person"),
    ],
)
def test_the_second_page_lists_the_rows_after_the_first(
    viewer_client, org, django_assert_max_num_queries, query, order, descending, kept
):
    make_subscriptions(org, 120)  # 60 subscribed directly at Pro, 60 through Research at Pro Max (and bob, cat)
    research = set(org.groups["Research"].memberships.values_list("user_id", flat=True))
    keep = {
        "all": lambda s: True,
        "Pro Max": lambda s: s.effective_tier_id(timezone.now()) == "PRO_MAX",
        "Research": lambda s: s.user_id in research,
        "person": lambda s: s.user.user_name.startswith("person"),
    }[kept]
    ranks = dict(Tier.objects.values_list("code", "rank"))
    subscriptions = [s for s in Subscription.objects.filter(profile=org.profile).select_related("user") if keep(s)]
    subscriptions.sort(key=lambda s: order(s, ranks), reverse=descending)
    expected = [s.user.user_name for s in subscriptions]
    assert len(expected) > 50

    users = url(org.profile, "users/") + f"?{query}&"
    first = list(rows(viewer_client.get(users)))
    with django_assert_max_num_queries(USERS_TAB_QUERIES + 1):  # a group named, or SQLite's full-text probe
        second = list(rows(viewer_client.get(users + "page=2")))
    assert first + second == expected[:100]


def test_a_renamed_user_takes_its_new_place_in_the_order(viewer_client, org):
    make_subscriptions(org, 60)
    last = Subscription.objects.filter(profile=org.profile).select_related("user").order_by("-user__user_name")[0]
    directory.directory_user_update(user=last.user, actor=ACTOR, user_name="aaa.renamed")

    names = list(rows(viewer_client.get(url(org.profile, "users/"))))
    assert names[0] == "aaa.renamed"
    assert Subscription.objects.get(pk=last.pk).user_name == "aaa.renamed"


def test_an_import_that_renames_users_renames_their_subscriptions(org, tmp_path, monkeypatch):
    make_subscriptions(org, 3)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "users.csv").write_text(
        "user_name,display_name,given_name,family_name,email\nPERSON001,Person 1,Person,One,person001@example.com\n"
    )
    call_command("import_users", "users.csv", "--identity-store", org.ic.identity_store_id, stdout=StringIO())

    names = dict(Subscription.objects.filter(profile=org.profile).values_list("user__user_name", "user_name"))
    assert names["PERSON001"] == "PERSON001"
    assert all(user_name == own for user_name, own in names.items())


def test_a_rename_over_scim_renames_the_subscription(org):
    """Every entry point renames through the directory's service: SCIM's PATCH too (the admin, the API and the
    pages are the service's other callers)."""
    make_subscriptions(org, 2)
    sub = Subscription.objects.filter(profile=org.profile).first()
    _, raw = directory.scim_token_create(identity_center=org.ic, actor=ACTOR)
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "userName", "value": "zz.renamed"}],
    }
    response = Client(headers={"Authorization": f"Bearer {raw}"}).generic(
        "PATCH", f"/scim/v2/Users/{sub.user_id}", json.dumps(body), content_type="application/scim+json"
    )
    assert response.status_code == 200, response.content
    assert Subscription.objects.get(pk=sub.pk).user_name == "zz.renamed"

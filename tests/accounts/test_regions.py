"""The AWS Region catalogue (DOMAIN.md §2), seeded by accounts/migrations/0002_regions.py."""

from __future__ import annotations

import pytest

from accounts.models import Partition, Region

KIRO_PROFILE_REGIONS = {"us-east-1", "eu-central-1", "us-gov-east-1", "us-gov-west-1"}
OPT_IN_REGIONS = {"ca-west-1", "eu-central-2", "eu-south-1", "af-south-1", "me-south-1", "ap-east-1", "il-central-1"}


def test_kiro_profiles_exist_in_exactly_four_regions(db):
    assert set(Region.objects.filter(kiro_profiles=True).values_list("code", flat=True)) == KIRO_PROFILE_REGIONS


def test_identity_center_is_allowed_in_every_commercial_region_that_is_not_opt_in(db):
    commercial = Region.objects.filter(partition=Partition.AWS)
    assert commercial.filter(opt_in=False).count() >= 17  # the long-standing commercial Regions
    assert set(commercial.filter(identity_center=True)) == set(commercial.filter(opt_in=False))


@pytest.mark.parametrize("code", sorted(OPT_IN_REGIONS))
def test_identity_center_is_not_allowed_in_an_opt_in_region(db, code):
    region = Region.objects.get(code=code)
    assert region.opt_in
    assert not region.identity_center
    assert not region.kiro_profiles


@pytest.mark.parametrize("code", ["us-gov-east-1", "us-gov-west-1"])
def test_govcloud_regions_are_in_the_aws_us_gov_partition_and_allow_identity_center_and_profiles(db, code):
    region = Region.objects.get(code=code)
    assert region.partition == "aws-us-gov"
    assert region.is_govcloud
    assert region.identity_center
    assert region.kiro_profiles


def test_only_the_two_govcloud_regions_are_outside_the_commercial_partition(db):
    govcloud = Region.objects.exclude(partition=Partition.AWS)
    assert set(govcloud.values_list("code", "partition")) == {
        ("us-gov-east-1", "aws-us-gov"),
        ("us-gov-west-1", "aws-us-gov"),
    }


def test_regions_api_lists_the_catalogue_with_its_fields(api_client_for, viewer_user):
    response = api_client_for(viewer_user).get("/api/v1/regions")
    assert response.status_code == 200
    body = response.json()
    assert len(body) == Region.objects.count()
    by_code = {region["code"]: region for region in body}
    assert by_code["us-east-1"] == {
        "code": "us-east-1",
        "name": "US East (N. Virginia)",
        "partition": "aws",
        "opt_in": False,
        "kiro_profiles": True,
        "identity_center": True,
    }
    assert by_code["us-gov-west-1"]["partition"] == "aws-us-gov"
    assert by_code["us-west-2"]["kiro_profiles"] is False
    assert by_code["us-west-2"]["identity_center"] is True
    assert by_code["eu-south-2"]["identity_center"] is False
    assert {code for code, region in by_code.items() if region["kiro_profiles"]} == KIRO_PROFILE_REGIONS


def test_regions_page_lists_the_catalogue(viewer_client):
    response = viewer_client.get("/organization/regions/")
    assert response.status_code == 200
    assert b"us-gov-west-1" in response.content

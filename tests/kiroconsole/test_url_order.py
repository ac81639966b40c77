"""The root URLconf tries the API and SCIM before the pages: a metering event's path is not matched against every
page's pattern first (kiroconsole/urls.py)."""

from __future__ import annotations

from django.urls import get_resolver, resolve


def test_the_api_and_scim_come_before_the_pages():
    patterns = [str(pattern.pattern) for pattern in get_resolver().url_patterns]
    first_page = patterns.index("")
    assert patterns.index("api/v1/") < first_page
    assert patterns.index("scim/") < first_page
    assert patterns.index("^api/") < first_page  # the API's 404 for unknown API paths


def test_pages_and_api_paths_still_resolve_to_their_views():
    assert resolve("/api/v1/profiles/P1/usage-events").url_name.endswith("usage_events")
    assert resolve("/api/v1/nowhere").url_name == "api-not-found"
    assert resolve("/audit/").url_name == "audit-list"
    assert resolve("/").url_name == "home"

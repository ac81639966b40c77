"""The JSON API base: bearer tokens, role checks, JSON errors, OpenAPI."""

from __future__ import annotations

from tests.factories import AuditEventFactory


def test_me_names_the_token_user_and_role(metering_client):
    body = metering_client.get("/api/v1/me").json()
    assert body["username"] == "kiro-service"
    assert body["role"] == "metering"


def test_audit_events_are_listed_newest_first_and_filtered(admin_api):
    AuditEventFactory(action="profile.create", target_id="p1")
    AuditEventFactory(action="directory_user.create", target_id="u1", source="scim")
    body = admin_api.get("/api/v1/audit-events?source=scim").json()
    assert body["count"] == 1
    assert body["items"][0]["action"] == "directory_user.create"
    assert body["items"][0]["actor"].startswith("person")
    body = admin_api.get("/api/v1/audit-events?limit=1").json()
    assert body["count"] >= 2 and len(body["items"]) == 1


def test_role_without_the_right_gets_403_with_a_json_reason(api_client_for, viewer_user):
    response = api_client_for(viewer_user).get("/api/v1/audit-events")
    assert response.status_code == 403
    assert "Your role (Viewer) may not do this" in response.json()["detail"]


def test_bad_query_values_answer_422_json(admin_api):
    response = admin_api.get("/api/v1/audit-events?since=yesterday")
    assert response.status_code == 422
    assert "detail" in response.json()


def test_openapi_document_is_served(anonymous, db):
    response = anonymous.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["info"]["title"] == "Kiro console API"
    assert "/api/v1/me" in doc["paths"]
    assert doc["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"


def test_api_ignores_session_cookies(admin_client):
    # A logged-in browser session is not an API credential: no CSRF-able cookie auth on the API.
    assert admin_client.get("/api/v1/me").status_code == 401


def test_unknown_api_paths_answer_json_404(anonymous, admin_api):
    for client in (anonymous, admin_api):
        response = client.get("/api/v1/no-such-thing")
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}

"""SCIM fixtures: a token of the `identity_center` directory (tests/directory/conftest.py) and a client that sends
it, with JSON helpers that speak `application/scim+json`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from directory import services
from kiroconsole.audit import Actor

SCIM = "/scim/v2"
CONTENT_TYPE = "application/scim+json"


class ScimClient(Client):
    """A test client with `Authorization: Bearer <SCIM token>`; `send(method, path, body)` posts JSON."""

    def __init__(self, raw_token: str | None, **kwargs):
        headers = {"Authorization": f"Bearer {raw_token}"} if raw_token else {}
        super().__init__(headers=headers, **kwargs)

    def send(self, method: str, path: str, body: Any = None, content_type: str = CONTENT_TYPE, **kwargs):
        data = body if isinstance(body, str | bytes) else json.dumps(body) if body is not None else ""
        return self.generic(method, SCIM + path, data=data, content_type=content_type, **kwargs)

    def read(self, path: str, **params):
        return self.get(SCIM + path, params)


@pytest.fixture
def scim_token(identity_center):
    """(token, raw value) of a SCIM token of the `identity_center` directory."""
    return services.scim_token_create(identity_center=identity_center, actor=Actor.for_command("test"))


@pytest.fixture
def scim(scim_token) -> ScimClient:
    return ScimClient(scim_token[1])


def user_body(user_name: str = "ada.lovelace", **overrides: Any) -> dict[str, Any]:
    """A SCIM user as an identity provider creates it."""
    given, _, family = user_name.replace(".", " ").title().partition(" ")
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family or "Tester"},
        "displayName": f"{given} {family}".strip(),
        "emails": [{"value": f"{user_name}@example.com", "type": "work", "primary": True}],
        "active": True,
    }
    body.update(overrides)
    return body


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": list(operations)}

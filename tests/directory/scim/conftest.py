"""SCIM fixtures: a token of the `identity_center` directory (tests/directory/conftest.py), a client that sends
it, with JSON helpers that speak `application/scim+json`, and `world`: users and groups to send requests about."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from directory import services
from directory.models import DirectoryUser
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


def scim_world(identity_center) -> dict[str, Any]:
    """ada (a member of Engineering, external id 00u-ada), alan, Research without members, 101 spare users (for
    the member limits), in `identity_center`: what the bad-input and fuzz tests send their requests to."""
    from tests.directory.scim.test_endpoints import make_group, make_user  # (it imports this module)

    ada = make_user(identity_center, "ada.lovelace", external_id="00u-ada")
    alan = make_user(identity_center, "alan.turing")
    engineering = make_group(identity_center, "Engineering", [ada])
    research = make_group(identity_center, "Research")
    spare = DirectoryUser.objects.bulk_create(
        DirectoryUser(
            identity_center=identity_center,
            user_name=f"spare{i:03d}",
            display_name=f"Spare {i}",
            given_name="Spare",
            family_name=str(i),
            email=f"spare{i:03d}@acme.example",
        )
        for i in range(101)
    )
    return {"ada": ada, "alan": alan, "engineering": engineering, "research": research, "spare": spare}


@pytest.fixture
def world(identity_center) -> dict[str, Any]:
    """`scim_world` in the `identity_center` directory."""
    return scim_world(identity_center)


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

"""What the server publishes about itself (RFC 7643 §5-§7): ServiceProviderConfig, Schemas and ResourceTypes.

They describe exactly what this console keeps and answers, so that a client (or scim2-tester) built from them sends
what is accepted: a user has a user name, a display name, a given and a family name, one work email, an optional
external id and an active flag; a group a display name, an optional external id and user members. Attributes that
are not listed here are refused with 400, not silently dropped.
"""

from __future__ import annotations

from typing import Any

from directory.scim.protocol import (
    GROUP_SCHEMA,
    MAX_MEMBER_CHANGES,
    MAX_RESULTS,
    RESOURCE_TYPE_SCHEMA,
    SCHEMA_SCHEMA,
    SERVICE_PROVIDER_CONFIG_SCHEMA,
    USER_SCHEMA,
)


def _attribute(name: str, description: str, **overrides: Any) -> dict[str, Any]:
    attribute = {
        "name": name,
        "type": "string",
        "multiValued": False,
        "description": description,
        "required": False,
        "caseExact": False,
        "mutability": "readWrite",
        "returned": "default",
        "uniqueness": "none",
    }
    attribute.update(overrides)
    if attribute["type"] in ("complex", "boolean"):  # caseExact and uniqueness describe strings
        del attribute["caseExact"], attribute["uniqueness"]
    return attribute


EXTERNAL_ID = _attribute("externalId", "The identity provider's identifier of the resource.", caseExact=True)

USER_ATTRIBUTES = [
    _attribute(
        "userName",
        "Unique in the directory, case-insensitively; no spaces. At most 128 characters.",
        required=True,
        uniqueness="server",
    ),
    _attribute(
        "name",
        "The user's name: a given and a family name, both required.",
        type="complex",
        required=True,
        subAttributes=[
            _attribute("givenName", "Given name, at most 128 characters.", required=True),
            _attribute("familyName", "Family name, at most 128 characters.", required=True),
            _attribute(
                "formatted",
                "Ignored when sent (Entra ID sends one by default) and never returned: see displayName.",
                mutability="readOnly",
                returned="never",
            ),
        ],
    ),
    _attribute("displayName", "The name shown in the console, at most 256 characters.", required=True),
    _attribute(
        "emails",
        "Exactly one email, the work email, unique in the directory (IAM Identity Center keeps one).",
        type="complex",
        multiValued=True,
        required=True,
        subAttributes=[
            _attribute("value", "The email address.", required=True, uniqueness="server"),
            _attribute("type", "Always `work`.", canonicalValues=["work"]),
            _attribute(
                "primary",
                "The one email is the primary email: a value sent is ignored, and none is returned.",
                type="boolean",
                mutability="readOnly",
                returned="never",
            ),
        ],
    ),
    _attribute(
        "active",
        "Whether the user may use Kiro. Defaults to true when a creation leaves it out; it cannot be removed.",
        type="boolean",
        required=True,
    ),
    EXTERNAL_ID,
]

GROUP_ATTRIBUTES = [
    _attribute(
        "displayName",
        "Unique in the directory, case-insensitively. At most 128 characters.",
        required=True,
        uniqueness="server",
    ),
    _attribute(
        "members",
        f"The group's users. A request adds or removes at most {MAX_MEMBER_CHANGES} members. Leave it out of a read "
        "with excludedAttributes=members.",
        type="complex",
        multiValued=True,
        subAttributes=[
            _attribute("value", "The id of a user of the directory.", required=True, mutability="immutable"),
            _attribute(
                "$ref",
                "The URI of the user.",
                type="reference",
                referenceTypes=["User"],
                mutability="immutable",
            ),
            _attribute("type", "Always `User`: groups do not nest.", canonicalValues=["User"], mutability="immutable"),
            _attribute(
                "display",
                "Ignored when sent (identity providers send the user's name); never returned.",
                mutability="readOnly",
                returned="never",
            ),
        ],
    ),
    EXTERNAL_ID,
]

SCHEMAS = {
    USER_SCHEMA: {
        "name": "User",
        "description": "A user of the Identity Center directory.",
        "attributes": USER_ATTRIBUTES,
    },
    GROUP_SCHEMA: {
        "name": "Group",
        "description": "A group of users of the Identity Center directory.",
        "attributes": GROUP_ATTRIBUTES,
    },
}

RESOURCE_TYPES = {
    "User": {"endpoint": "/Users", "schema": USER_SCHEMA, "description": "Directory users"},
    "Group": {"endpoint": "/Groups", "schema": GROUP_SCHEMA, "description": "Directory groups"},
}


def schema_document(urn: str, base_url: str) -> dict[str, Any]:
    schema = SCHEMAS[urn]
    return {
        "schemas": [SCHEMA_SCHEMA],
        "id": urn,
        **schema,
        "meta": {"resourceType": "Schema", "location": f"{base_url}Schemas/{urn}"},
    }


def resource_type_document(name: str, base_url: str) -> dict[str, Any]:
    resource_type = RESOURCE_TYPES[name]
    return {
        "schemas": [RESOURCE_TYPE_SCHEMA],
        "id": name,
        "name": name,
        **resource_type,
        "meta": {"resourceType": "ResourceType", "location": f"{base_url}ResourceTypes/{name}"},
    }


def service_provider_config(base_url: str) -> dict[str, Any]:
    return {
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "documentationUri": "https://docs.aws.amazon.com/singlesignon/latest/developerguide/what-is-scim.html",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": False},
        "etag": {"supported": False},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A SCIM token created on the Identity Center page of the console (or with "
                "`manage.py create_scim_token`): `Authorization: Bearer <token>`. The token selects the directory.",
                "primary": True,
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base_url}ServiceProviderConfig"},
    }

"""Users and groups as SCIM resources, request bodies back to the directory services' fields, and the `attributes`
and `excludedAttributes` parameters.

Attribute names are case-insensitive on the way in (RFC 7643 §2.1) and spelled as the schema does on the way out.
A body may carry the read-only `id` and `meta` (ignored) but no attribute the schema does not list: those answer
400 `invalidSyntax`, so that an identity provider mapping an attribute this console does not keep learns it at once
instead of losing the value silently (an unknown attribute sent as null or [] carries nothing and passes).
Identity providers' habits are accepted: Entra ID's booleans as strings ("False") and `name.formatted`, Okta's
`primary` on the email and `display` on members (read-only, ignored).
"""

from __future__ import annotations

import datetime
from typing import Any

from directory.models import DirectoryGroup, DirectoryUser
from directory.scim.filters import split_attribute
from directory.scim.protocol import GROUP_SCHEMA, USER_SCHEMA, bad_request

EMAIL_TYPE = "work"
MEMBER_TYPE = "User"

# The services' field names as SCIM spells them, for error messages.
USER_ATTRIBUTE_OF = {
    "user_name": "userName",
    "display_name": "displayName",
    "given_name": "name.givenName",
    "family_name": "name.familyName",
    "email": "emails.value",
    "external_id": "externalId",
    "active": "active",
}
GROUP_ATTRIBUTE_OF = {"display_name": "displayName", "external_id": "externalId", "members": "members"}
READ_ONLY = {"id", "meta"}  # may come back in a body (Okta sends the id): ignored


def timestamp(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")


def user_location(base_url: str, user_id: Any) -> str:
    return f"{base_url}Users/{user_id}"


def group_location(base_url: str, group_id: Any) -> str:
    return f"{base_url}Groups/{group_id}"


def user_resource(user: DirectoryUser, base_url: str) -> dict[str, Any]:
    resource: dict[str, Any] = {"schemas": [USER_SCHEMA], "id": str(user.pk)}
    if user.external_id:
        resource["externalId"] = user.external_id
    resource |= {
        "userName": user.user_name,
        "name": {"givenName": user.given_name, "familyName": user.family_name},
        "displayName": user.display_name,
        "emails": [{"value": user.email, "type": EMAIL_TYPE}],
        "active": user.active,
        "meta": {
            "resourceType": "User",
            "created": timestamp(user.created_at),
            "lastModified": timestamp(user.updated_at),
            "location": user_location(base_url, user.pk),
        },
    }
    return resource


def member_value(base_url: str, user_id: Any) -> dict[str, str]:
    return {"value": str(user_id), "$ref": user_location(base_url, user_id), "type": MEMBER_TYPE}


def group_resource(group: DirectoryGroup, base_url: str, member_ids: list | None) -> dict[str, Any]:
    """`member_ids` None leaves `members` out (excludedAttributes=members); [] is a group without members."""
    resource: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "id": str(group.pk)}
    if group.external_id:
        resource["externalId"] = group.external_id
    resource["displayName"] = group.display_name
    if member_ids is not None:
        resource["members"] = [member_value(base_url, user_id) for user_id in member_ids]
    resource["meta"] = {
        "resourceType": "Group",
        "created": timestamp(group.created_at),
        "lastModified": timestamp(group.updated_at),
        "location": group_location(base_url, group.pk),
    }
    return resource


# --- Reading request bodies ----------------------------------------------------------------------------------


def lower_keys(value: Any, where: str) -> dict[str, Any]:
    """A JSON object with its keys lower-cased (attribute names are case-insensitive); else 400 invalidSyntax."""
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be a JSON object.", "invalidSyntax")
    lowered: dict[str, Any] = {}
    for key, item in value.items():
        if key.lower() in lowered:
            raise bad_request(f"{where} names {key!r} twice (attribute names are case-insensitive).", "invalidSyntax")
        lowered[key.lower()] = item
    return lowered


def refuse_unknown(data: dict[str, Any], known: set[str], where: str) -> None:
    """400 for an attribute the schema does not list. One sent as null or [] is unassigned (RFC 7643 §2.5), so it
    carries nothing to keep: Entra ID's `"roles": []` passes."""
    unknown = sorted(key for key, value in data.items() if key not in known and value not in (None, []))
    if unknown:
        raise bad_request(
            f"{where}: unknown attribute{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}. "
            "This directory keeps only the attributes of its schema (GET /scim/v2/Schemas).",
            "invalidSyntax",
        )


def check_schemas(body: dict[str, Any], urn: str) -> None:
    """`schemas` must name the resource's (or message's) schema. Other URNs listed beside it are let be (Entra ID
    lists the enterprise extension): their attributes, if any were sent, are unknown attributes."""
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        raise bad_request(f'The body needs "schemas": ["{urn}"].', "invalidSyntax")
    if urn.lower() not in {s.lower() for s in schemas}:
        raise bad_request(f'"schemas" must include {urn}; it has {schemas}.', "invalidSyntax")


def parse_boolean(value: Any, attribute: str) -> bool:
    """true/false, or Entra ID's strings "True"/"False" (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise bad_request(f"{attribute} must be true or false, not {value!r}.")


def parse_string(value: Any, attribute: str, *, nullable: bool = False) -> str:
    if value is None and nullable:
        return ""
    if not isinstance(value, str):
        raise bad_request(f"{attribute} must be a string, not {value!r}.")
    return value


def parse_name(value: Any, *, require_both: bool) -> dict[str, str]:
    name = lower_keys(value, "name")
    refuse_unknown(name, {"givenname", "familyname", "formatted"}, "name")
    fields = {}
    for key, field, attribute in (
        ("givenname", "given_name", "name.givenName"),
        ("familyname", "family_name", "name.familyName"),
    ):
        if key in name:
            fields[field] = parse_string(name[key], attribute)
        elif require_both:
            raise bad_request(f"{attribute} is required.")
    if name.get("formatted") is not None:  # read-only: Entra ID sends "given family" by default
        parse_string(name["formatted"], "name.formatted")
    return fields


def parse_email_type(value: Any) -> None:
    if value is not None and (not isinstance(value, str) or value.lower() != EMAIL_TYPE):
        raise bad_request(f'emails.type must be "{EMAIL_TYPE}", not {value!r}: a user has one email, its work email.')


def parse_email(value: Any, *, require_value: bool = True) -> str | None:
    """One email object: its address. `type` must be work; Okta's `primary` is read-only and ignored."""
    email = lower_keys(value, "An email")
    refuse_unknown(email, {"value", "type", "primary"}, "emails")
    parse_email_type(email.get("type"))
    if "primary" in email and email["primary"] is not None:
        parse_boolean(email["primary"], "emails.primary")
    if "value" not in email:
        if require_value:
            raise bad_request("emails.value is required.")
        return None
    return parse_string(email["value"], "emails.value")


def parse_emails(value: Any) -> str:
    """The one email of an `emails` list (Entra ID may send one object rather than a list)."""
    emails = [value] if isinstance(value, dict) else value
    if not isinstance(emails, list):
        raise bad_request("emails must be a list holding one email.")
    if len(emails) != 1:
        raise bad_request(
            f"A user has exactly one email (IAM Identity Center keeps one); this request has {len(emails)}."
        )
    return parse_email(emails[0])  # type: ignore[return-value]


USER_KEYS = {"schemas", "username", "name", "displayname", "emails", "active", "externalid"} | READ_ONLY


def user_fields_from_body(body: Any) -> dict[str, Any]:
    """The services' fields of a full user representation (POST or PUT). Attributes left out get their defaults:
    `externalId` none, `active` true."""
    data = lower_keys(body, "The body")
    check_schemas(data, USER_SCHEMA)
    refuse_unknown(data, USER_KEYS, "The user")
    missing = [a for a, key in (("userName", "username"), ("name", "name"), ("displayName", "displayname"),
                                ("emails", "emails")) if data.get(key) is None]  # fmt: skip
    if missing:
        raise bad_request(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required.")
    return {
        "user_name": parse_string(data["username"], "userName"),
        "display_name": parse_string(data["displayname"], "displayName"),
        **parse_name(data["name"], require_both=True),
        "email": parse_emails(data["emails"]),
        "external_id": parse_string(data.get("externalid"), "externalId", nullable=True),
        "active": True if data.get("active") is None else parse_boolean(data["active"], "active"),
    }


def parse_member(value: Any) -> str:
    """One member object: the user's id. `type` must be User; `$ref` and Okta's `display` are not used."""
    member = lower_keys(value, "A member")
    refuse_unknown(member, {"value", "$ref", "type", "display"}, "members")
    kind = member.get("type")
    if kind is not None and (not isinstance(kind, str) or kind.lower() != MEMBER_TYPE.lower()):
        raise bad_request(f"members.type must be {MEMBER_TYPE!r}: groups hold users only, not {kind!r}.")
    if "value" not in member:
        raise bad_request("members.value (a user id) is required.")
    return parse_string(member["value"], "members.value")


def parse_members(value: Any) -> list[str]:
    members = [value] if isinstance(value, dict) else value
    if not isinstance(members, list):
        raise bad_request('members must be a list of {"value": <user id>}.')
    return [parse_member(member) for member in members]


GROUP_KEYS = {"schemas", "displayname", "externalid", "members"} | READ_ONLY


def group_fields_from_body(body: Any) -> tuple[dict[str, Any], list[str]]:
    """The services' fields of a whole group, and its members' user ids (POST or PUT)."""
    data = lower_keys(body, "The body")
    check_schemas(data, GROUP_SCHEMA)
    refuse_unknown(data, GROUP_KEYS, "The group")
    if data.get("displayname") is None:
        raise bad_request("displayName is required.")
    fields = {
        "display_name": parse_string(data["displayname"], "displayName"),
        "external_id": parse_string(data.get("externalid"), "externalId", nullable=True),
    }
    members = parse_members(data["members"]) if data.get("members") is not None else []
    return fields, members


# --- attributes and excludedAttributes (RFC 7644 §3.4.2.5) ---------------------------------------------------

ALWAYS_RETURNED = {"schemas", "id"}


class AttributeSelection:
    """Which attributes a response carries: `attributes` (only those, plus id and schemas) or
    `excludedAttributes` (all but those). Names may carry the schema URN and a sub-attribute (`name.givenName`);
    unknown names select nothing (RFC 7644 leaves them to the server)."""

    def __init__(self, urn: str, attributes: str | None, excluded: str | None):
        if attributes and excluded:
            raise bad_request("Use attributes or excludedAttributes, not both.", "invalidSyntax")
        self.include = self._parse(attributes, urn)
        self.exclude = self._parse(excluded, urn)

    @staticmethod
    def _parse(text: str | None, urn: str) -> dict[str, set[str]] | None:
        if not text:
            return None
        selected: dict[str, set[str]] = {}
        for item in text.split(","):
            if item.strip():
                attr, sub = split_attribute(item.strip(), urn, "invalidValue")
                selected.setdefault(attr, set())
                if sub:
                    selected[attr].add(sub)
        return selected

    def wants(self, attribute: str) -> bool:
        """Whether the response carries any of `attribute` (lower-case): lets a view skip work, e.g. members."""
        if self.include is not None:
            return attribute in self.include or attribute in ALWAYS_RETURNED
        if self.exclude is not None:
            return not (attribute in self.exclude and not self.exclude[attribute])
        return True

    def apply(self, resource: dict[str, Any]) -> dict[str, Any]:
        if self.include is None and self.exclude is None:
            return resource
        result = {}
        for key, value in resource.items():
            attr = key.lower()
            if attr in ALWAYS_RETURNED:
                result[key] = value
            elif self.include is not None:
                if attr in self.include:
                    result[key] = self._subset(value, self.include[attr], keep=True)
            elif self.exclude is not None:
                if attr not in self.exclude:
                    result[key] = value
                elif self.exclude[attr]:
                    result[key] = self._subset(value, self.exclude[attr], keep=False)
        return result

    @staticmethod
    def _subset(value: Any, subs: set[str], *, keep: bool) -> Any:
        if not subs:
            return value

        def pick(item: Any) -> Any:
            if not isinstance(item, dict):
                return item
            return {k: v for k, v in item.items() if (k.lower() in subs) == keep}

        return [pick(item) for item in value] if isinstance(value, list) else pick(value)

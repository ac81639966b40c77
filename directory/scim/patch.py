"""PATCH (RFC 7644 §3.5.2) applied to a user's or a group's fields and a group's members, in memory.

`parse_operations` reads the body; `UserPatch` and `GroupPatch` apply the operations in order to the resource's
current values and report the changes, which the view then hands to the directory services (nothing is written
here, so a bad operation anywhere in the request leaves the resource as it was).

Accepted, as identity providers send them:
- operation names in any case (`add`, `Replace`, `REMOVE`);
- Okta's operations without `path`, whose value is an object of attributes (`{"active": false}`,
  `{"id": ..., "displayName": ...}`: an `id` equal to the resource's own is ignored);
- Entra ID's string booleans (`"False"`) and paths with value filters (`emails[type eq "work"].value`);
- members added and removed in one request: `add members`, `remove members[value eq "<id>"]`,
  `remove members` with a value (those members) or without (all of them), `replace members`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from directory.models import DirectoryGroup, DirectoryUser
from directory.scim.filters import PatchPath, parse_path
from directory.scim.protocol import PATCH_OP, ScimError, bad_request
from directory.scim.selectors import as_uuid
from directory.scim.serializers import (
    EMAIL_TYPE,
    check_schemas,
    lower_keys,
    parse_boolean,
    parse_email,
    parse_email_type,
    parse_emails,
    parse_members,
    parse_name,
    parse_string,
    refuse_unknown,
)

OPS = ("add", "replace", "remove")
MAX_OPERATIONS = 1000
READ_ONLY = ("id", "meta", "schemas")


@dataclass
class Operation:
    op: str  # add, replace or remove
    path: PatchPath | None
    value: Any
    has_value: bool
    no_path: bool = False  # expanded from an operation without a path (Okta)


def parse_operations(body: Any, urn: str) -> list[Operation]:
    """The operations of a PatchOp body, with operations without a path expanded into one per attribute."""
    data = lower_keys(body, "The body")
    check_schemas(data, PATCH_OP)
    refuse_unknown(data, {"schemas", "operations"}, "A PATCH body")
    raw_operations = data.get("operations")
    if not isinstance(raw_operations, list) or not raw_operations:
        raise bad_request('A PATCH body needs "Operations": a non-empty list.', "invalidSyntax")
    if len(raw_operations) > MAX_OPERATIONS:
        raise bad_request(f"At most {MAX_OPERATIONS} operations a request.", "invalidSyntax")
    operations = []
    for raw in raw_operations:
        item = lower_keys(raw, "An operation")
        refuse_unknown(item, {"op", "path", "value"}, "An operation")
        op = item.get("op")
        if not isinstance(op, str) or op.lower() not in OPS:
            raise bad_request(f'"op" must be add, replace or remove, not {op!r}.', "invalidSyntax")
        op = op.lower()
        has_value = "value" in item
        if item.get("path") is None:
            if op == "remove":
                raise bad_request("A remove operation needs a path.", "noTarget")
            value = lower_keys(item.get("value"), f"The value of an {op} operation without a path")
            operations += _expand(op, value, urn)
            continue
        if op != "remove" and not has_value:
            raise bad_request(f"The {op} operation on {item['path']!r} has no value.")
        operations.append(Operation(op, parse_path(item["path"], urn), item.get("value"), has_value))
    return operations


def _expand(op: str, value: dict[str, Any], urn: str) -> list[Operation]:
    """`{"op": "replace", "value": {"active": false}}` -> replace active with false (the URN may prefix a name)."""
    operations = []
    for key, item in value.items():
        if key.lower() == urn.lower():  # {"urn:...:User": {"userName": ...}}
            operations += _expand(op, lower_keys(item, key), urn)
            continue
        path = parse_path(key, urn)
        if path.sub or path.value_filter:
            raise bad_request(f"{key!r}: an operation without a path names whole attributes.", "invalidPath")
        operations.append(Operation(op, path, item, True, no_path=True))
    return operations


def _read_only(operation: Operation, own_id: str) -> None:
    """`id`, `meta` and `schemas` cannot change; Okta repeats the resource's own id in a value object."""
    path = operation.path
    assert path is not None
    if operation.no_path and (path.attr != "id" or str(operation.value).lower() == own_id):
        return
    raise bad_request(f"{path.text!r} is read-only.", "mutability")


def _no_sub(path: PatchPath) -> None:
    if path.sub or path.value_filter:
        raise bad_request(f"{path.text!r}: {path.attr} has no sub-attributes and takes no filter.", "invalidPath")


def _required(path: PatchPath) -> ScimError:
    return bad_request(f"{path.text!r} is required: it cannot be removed.", "mutability")


class UserPatch:
    """PATCH on a user: the services' fields after the operations (`changes`)."""

    SIMPLE = {"username": "user_name", "displayname": "display_name", "externalid": "external_id", "active": "active"}
    FIELDS = ("user_name", "display_name", "given_name", "family_name", "email", "external_id", "active")

    def __init__(self, user: DirectoryUser):
        self.id = str(user.pk)
        self.original = {field: getattr(user, field) for field in self.FIELDS}
        self.fields = dict(self.original)

    def apply(self, operations: list[Operation]) -> UserPatch:
        for operation in operations:
            self._apply(operation)
        return self

    def changes(self) -> dict[str, Any]:
        return {field: value for field, value in self.fields.items() if value != self.original[field]}

    def _apply(self, operation: Operation) -> None:
        path = operation.path
        assert path is not None
        if path.attr in READ_ONLY:
            return _read_only(operation, self.id)
        if path.attr in self.SIMPLE:
            _no_sub(path)
            field = self.SIMPLE[path.attr]
            if operation.op == "remove":
                if field != "external_id":
                    raise _required(path)
                self.fields[field] = ""
            elif field == "active":
                self.fields[field] = parse_boolean(operation.value, "active")
            else:
                self.fields[field] = parse_string(operation.value, path.text, nullable=field == "external_id")
        elif path.attr == "name":
            self._name(operation, path)
        elif path.attr == "emails":
            self._emails(operation, path)
        else:
            raise bad_request(f"{path.text!r}: users have no attribute {path.attr!r}.", "invalidPath")

    def _name(self, operation: Operation, path: PatchPath) -> None:
        if path.value_filter:
            raise bad_request(f"{path.text!r}: name takes no filter.", "invalidPath")
        if operation.op == "remove":
            raise _required(path)
        if path.sub is None:  # sub-attributes left out stay as they are (RFC 7644 §3.5.2.3)
            self.fields.update(parse_name(operation.value, require_both=False))
        elif path.sub in ("givenname", "familyname"):
            field = "given_name" if path.sub == "givenname" else "family_name"
            self.fields[field] = parse_string(operation.value, path.text)
        elif path.sub == "formatted":  # read-only (Entra ID sends it): ignored
            parse_string(operation.value, path.text, nullable=True)
        else:
            raise bad_request(f"{path.text!r}: name has givenName and familyName only.", "invalidPath")

    def _emails(self, operation: Operation, path: PatchPath) -> None:
        if operation.op == "remove":
            raise bad_request(
                f"{path.text!r}: a user needs its email; replace it instead of removing it.", "mutability"
            )
        matches = self._email_matches(path)
        if not matches:
            if operation.op == "replace":
                raise bad_request(f"{path.text!r} matches no email of this user.", "noTarget")
            raise self._second_email()
        if path.sub is None:
            if path.value_filter is None:
                email = parse_emails(operation.value)
                if operation.op == "add" and email.lower() != str(self.fields["email"]).lower():
                    raise self._second_email()
            else:
                email = parse_email(operation.value, require_value=False)  # type: ignore[assignment]
            if email is not None:
                self.fields["email"] = email
        elif path.sub == "value":
            self.fields["email"] = parse_string(operation.value, "emails.value")
        elif path.sub == "type":
            parse_email_type(operation.value)
        elif path.sub == "primary":  # read-only: the one email is the primary one
            parse_boolean(operation.value, "emails.primary")
        else:
            raise bad_request(f"{path.text!r}: emails have value, type and primary only.", "invalidPath")

    def _email_matches(self, path: PatchPath) -> bool:
        """Whether the value filter (if any) selects the user's one email, the work email."""
        for comparison in path.value_filter or ():
            if not isinstance(comparison.value, str):
                return False
            if comparison.attr == "type":
                if comparison.value.lower() != EMAIL_TYPE:
                    return False
            elif comparison.attr == "value":
                if comparison.value.lower() != str(self.fields["email"]).lower():
                    return False
            else:
                raise bad_request(f"{path.text!r}: filter emails on type or value.", "invalidPath")
        return True

    @staticmethod
    def _second_email() -> ScimError:
        return bad_request(
            "A user has exactly one email (IAM Identity Center keeps one): replace it rather than adding a second."
        )


class MemberChanges:
    """Member operations, in order, relative to the group's current members (which need not be read unless an
    operation replaces or removes them all)."""

    def __init__(self) -> None:
        self.cleared = False  # every current member removed (replace members, remove members without a value)
        self.added: dict[uuid.UUID, None] = {}  # an ordered set
        self.removed: set[uuid.UUID] = set()
        self.named = 0  # member values the request names: at most MAX_MEMBER_CHANGES

    def add(self, user_ids: list[str]) -> None:
        self.named += len(user_ids)
        for raw in user_ids:
            user_id = as_uuid(raw)
            if user_id is None:
                raise bad_request(f"There is no user {raw!r} in this directory.")
            self.removed.discard(user_id)
            self.added[user_id] = None

    def remove(self, user_ids: list[str]) -> None:
        self.named += len(user_ids)
        for raw in user_ids:
            user_id = as_uuid(raw)
            if user_id is None:
                continue  # no such user, so not a member
            self.added.pop(user_id, None)
            if not self.cleared:
                self.removed.add(user_id)

    def remove_all(self) -> None:
        self.cleared = True
        self.added.clear()
        self.removed.clear()

    def replace(self, user_ids: list[str]) -> None:
        self.remove_all()
        self.add(user_ids)

    def net(self, current: set[uuid.UUID] | None) -> tuple[list[uuid.UUID], set[uuid.UUID]]:
        """(users to add, users to remove). `current` (the members now) is needed only when `cleared`."""
        if not self.cleared:
            return list(self.added), set(self.removed)
        assert current is not None
        return [u for u in self.added if u not in current], current - set(self.added)


class GroupPatch:
    """PATCH on a group: its fields after the operations (`changes`) and the member changes (`members`)."""

    SIMPLE = {"displayname": "display_name", "externalid": "external_id"}

    def __init__(self, group: DirectoryGroup):
        self.id = str(group.pk)
        self.original = {"display_name": group.display_name, "external_id": group.external_id}
        self.fields = dict(self.original)
        self.members = MemberChanges()

    def apply(self, operations: list[Operation]) -> GroupPatch:
        for operation in operations:
            self._apply(operation)
        return self

    def changes(self) -> dict[str, Any]:
        return {field: value for field, value in self.fields.items() if value != self.original[field]}

    def _apply(self, operation: Operation) -> None:
        path = operation.path
        assert path is not None
        if path.attr in READ_ONLY:
            return _read_only(operation, self.id)
        if path.attr in self.SIMPLE:
            _no_sub(path)
            field = self.SIMPLE[path.attr]
            if operation.op == "remove":
                if field == "display_name":
                    raise _required(path)
                self.fields[field] = ""
            else:
                self.fields[field] = parse_string(operation.value, path.text, nullable=field == "external_id")
        elif path.attr == "members":
            self._members(operation, path)
        else:
            raise bad_request(f"{path.text!r}: groups have no attribute {path.attr!r}.", "invalidPath")

    def _members(self, operation: Operation, path: PatchPath) -> None:
        if path.sub is not None:
            raise bad_request(
                f'{path.text!r}: name members, or members[value eq "<user id>"] to remove one.', "invalidPath"
            )
        if path.value_filter is not None:
            if operation.op != "remove" or any(c.attr != "value" for c in path.value_filter):
                raise bad_request(
                    f'{path.text!r}: a filtered members path works with remove and members[value eq "<user id>"]; '
                    "add members with add and a value.",
                    "invalidPath",
                )
            values = [c.value for c in path.value_filter]
            if len(set(map(str, values))) > 1:
                return  # one member cannot have two ids: the filter selects nobody
            self.members.remove([parse_string(values[0], "members.value")])
        elif operation.op == "add":
            self.members.add(parse_members(operation.value))
        elif operation.op == "replace":
            self.members.replace(parse_members(operation.value) if operation.value is not None else [])
        elif operation.has_value and operation.value is not None:  # Entra ID: remove these members
            self.members.remove(parse_members(operation.value))
        else:
            self.members.remove_all()

"""`import_users`: `user_name,display_name,given_name,family_name,email[,external_id][,active]`.

The user name is the natural key (case-insensitive): a row for an existing user updates it, a row for a new one
creates it. An optional column left out of the header leaves that attribute of existing users as it is (new users
get an empty external id and are active). An email held by another user of the directory is a clash.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from directory import signals
from directory.importers.base import ImportCounts, Importer
from directory.importers.reader import Issue, Layout, Record, Report
from directory.models import DirectoryUser
from directory.services import USER_FIELDS, user_field_error
from kiroconsole.audit import EncodedJson, audit_record_many
from kiroconsole.bulk import adapter, insert_rows, update_rows

TRUE = {"", "true", "1", "yes"}  # empty: active
FALSE = {"false", "0", "no"}
NEW_USER = {"external_id": "", "active": True}  # for the optional columns a file leaves out


def parse_active(value: str) -> bool | None:
    lowered = value.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    return None


class UserImporter(Importer):
    action = "directory.import_users"
    layout = Layout(
        required=("user_name", "display_name", "given_name", "family_name", "email"),
        optional=("external_id", "active"),
    )

    def prepare(self) -> None:
        live = DirectoryUser.objects.live().filter(identity_center=self.identity_center)
        self.ids: dict[str, uuid.UUID] = {}  # lower(user name) -> id, of the directory's live users
        self.email_owners: dict[str, str] = {}  # lower(email) -> the user name that has it
        for pk, user_name, email in live.values_list("pk", "user_name", "email").order_by().iterator(10_000):
            self.ids[user_name.lower()] = pk
            self.email_owners[email.lower()] = user_name
        self.names_seen: dict[str, int] = {}  # lower(user name) -> line, in this file
        self.emails_seen: dict[str, int] = {}
        self.activation: dict[bool, list[uuid.UUID]] = {True: [], False: []}
        self.renamed: list[uuid.UUID] = []  # users whose user name changed
        self._statements()

    def check(self, record: Record, report: Report) -> dict[str, str]:
        line, values = record
        bad = set()
        for column, value in values.items():
            if column == "active":
                message = None if parse_active(value) is not None else f"{value!r} is not one of true/false/yes/no/1/0"
            else:
                message = user_field_error(column, value)
            if message is not None:
                report(Issue(line, column, message))
                bad.add(column)
        user_name, email = values["user_name"], values["email"]
        key = user_name.lower()
        if "user_name" not in bad and (first := self.names_seen.setdefault(key, line)) != line:
            report(Issue(line, "user_name", f"the user name {user_name!r} is already on line {first} (case ignored)"))
        if "email" not in bad:
            email_key = email.lower()
            if (first := self.emails_seen.setdefault(email_key, line)) != line:
                report(Issue(line, "email", f"the email {email!r} is already on line {first} (case ignored)"))
            elif (owner := self.email_owners.get(email_key)) is not None and owner.lower() != key:
                report(
                    Issue(
                        line,
                        "email",
                        f"The email {email!r} is already used by another user in this directory ({owner}).",
                    )
                )

        return values

    @staticmethod
    def _data(values: dict[str, str]) -> dict[str, Any]:
        data: dict[str, Any] = dict(values)
        if "active" in data:
            data["active"] = parse_active(data["active"])
        return data

    def _statements(self) -> None:
        """The database forms of the values that every written row shares."""
        self.db_id = adapter(DirectoryUser, "id")
        self.db_directory = adapter(DirectoryUser, "identity_center")(self.identity_center.pk)
        self.db_now = adapter(DirectoryUser, "created_at")(self.now)

    def apply(self, checked: list[dict[str, str]], *, write: bool) -> ImportCounts:
        counts = ImportCounts()
        known = [pk for values in checked if (pk := self.ids.get(values["user_name"].lower())) is not None]
        # Plain values, not model instances: a re-run compares 100,000 users.
        current = {
            row[1].lower(): row
            for row in DirectoryUser.objects.filter(pk__in=known).values_list("pk", *USER_FIELDS).order_by()
        }
        inserts: list[tuple] = []
        updates: list[tuple] = []
        events: list[tuple[str, Any, Any, Any]] = []
        directory = str(self.identity_center.pk)
        for values in checked:
            data = self._data(values)
            row = current.get(values["user_name"].lower())
            if row is None:
                data = NEW_USER | data
                pk = uuid.uuid4()
                inserts.append((self.db_id(pk), self.db_directory, *map(data.get, USER_FIELDS), *[self.db_now] * 2))
                after = {"identity_center": directory, **{field: data[field] for field in USER_FIELDS}}
                events.append(("directory_user.create", ("directoryuser", str(pk), _label(after)), None, _json(after)))
                continue
            pk, *stored = row
            before = {"identity_center": directory, **dict(zip(USER_FIELDS, stored, strict=True))}  # user_snapshot's
            changes = {field: value for field, value in data.items() if before[field] != value}
            if not changes:
                counts.unchanged += 1
                continue
            after = before | changes
            updates.append((*map(after.get, USER_FIELDS), self.db_now, self.db_id(pk)))
            events.append(
                ("directory_user.update", ("directoryuser", str(pk), _label(after)), _json(before), _json(after))
            )
            if "active" in changes:
                self.activation[changes["active"]].append(pk)
            if "user_name" in changes:
                self.renamed.append(pk)
        counts.created, counts.updated = len(inserts), len(updates)
        if write and events:
            insert_rows(DirectoryUser, ["id", "identity_center", *USER_FIELDS, "created_at", "updated_at"], inserts)
            update_rows(DirectoryUser, [*USER_FIELDS, "updated_at"], updates)
            audit_record_many(actor=self.actor, entries=events)
        return counts

    def finish(self) -> None:
        if self.renamed:
            signals.users_renamed.send(
                sender=DirectoryUser, identity_center=self.identity_center, user_ids=self.renamed, actor=self.actor
            )
        for active, user_ids in self.activation.items():
            if user_ids:
                signals.users_activation_changed.send(
                    sender=DirectoryUser,
                    identity_center=self.identity_center,
                    user_ids=user_ids,
                    active=active,
                    actor=self.actor,
                )


def _json(values: dict[str, Any]) -> EncodedJson:
    """The audit form of a user's values (strings and booleans only), encoded at once: 100,000 of them."""
    return EncodedJson(json.dumps(values))


def _label(user: dict[str, Any]) -> str:
    """What str(DirectoryUser) says, for the audit events of rows written without model instances."""
    return f"{user['display_name']} ({user['user_name']})"

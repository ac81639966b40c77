"""`import_memberships`: `group,user_name` (the group by its display name; both case-insensitive).

The memberships of the file are added; memberships that the file does not list are left alone. Every group and
user must already exist in the directory. One `memberships_changed` signal announces all the added pairs, and one
audit event per group that gained members names them (`directory_group.members_import`; a page or the API, which
add a few members at a time, record `directory_group.member_add` per member).
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from typing import Any, NamedTuple
from uuid import UUID

from directory.importers.base import ImportCounts, Importer
from directory.importers.reader import WHOLE_ROW, Issue, Layout, Record, Report
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from directory.services import announce_memberships_changed, group_field_error, user_field_error
from kiroconsole.audit import audit_record_many
from kiroconsole.bulk import adapter, existing_pairs, insert_rows


class Entry(NamedTuple):
    """A group or user of the directory, as the import needs it."""

    pk: UUID
    name: str
    db_pk: Any  # the id in the database's form
    number: int  # its position among the directory's groups (users): a cheap key for pairs


class MembershipImporter(Importer):
    action = "directory.import_memberships"
    layout = Layout(required=("group", "user_name"))

    def prepare(self) -> None:
        directory = {"identity_center": self.identity_center}
        groups = DirectoryGroup.objects.live().filter(**directory).order_by().values_list("pk", "display_name")
        users = DirectoryUser.objects.live().filter(**directory).order_by().values_list("pk", "user_name")
        db_id = adapter(GroupMembership, "group")
        self.groups = {name.lower(): Entry(pk, name, db_id(pk), n) for n, (pk, name) in enumerate(groups)}
        self.users = {
            name.lower(): Entry(pk, name, db_id(pk), n) for n, (pk, name) in enumerate(users.iterator(10_000))
        }
        self.seen: dict[int, int] = {}  # pair key -> line, in this file
        # The added pairs as two arrays of entry numbers (8 bytes a pair, not a 64-byte tuple: 500,000 of them).
        self.added_groups, self.added_users = array("L"), array("L")
        self.db_now = adapter(GroupMembership, "created_at")(self.now)

    def check(self, record: Record, report: Report) -> tuple[Entry, Entry] | None:
        line, values = record
        group_name, user_name = values["group"], values["user_name"]
        # A name found in the directory is valid: only a name not found is checked, for the clearer message.
        if (group := self.groups.get(group_name.lower())) is None:
            message = (
                group_field_error("display_name", group_name) or f"no group named {group_name!r} in this directory"
            )
            report(Issue(line, "group", message))
        if (user := self.users.get(user_name.lower())) is None:
            message = user_field_error("user_name", user_name) or f"no user named {user_name!r} in this directory"
            report(Issue(line, "user_name", message))
        if group is None or user is None:
            return None
        key = group.number * len(self.users) + user.number
        if (first := self.seen.setdefault(key, line)) != line:
            report(Issue(line, WHOLE_ROW, f"the same membership is already on line {first}"))
        return group, user

    def apply(self, checked: list[tuple[Entry, Entry]], *, write: bool) -> ImportCounts:
        present = existing_pairs(GroupMembership, ("group", "user"), [(g.db_pk, u.db_pk) for g, u in checked])
        new = [(group, user) for group, user in checked if (group.db_pk, user.db_pk) not in present]
        if write and new:
            rows = [(group.db_pk, user.db_pk, self.db_now) for group, user in new]
            insert_rows(GroupMembership, ["group", "user", "created_at"], rows)
            self.added_groups.extend(group.number for group, _ in new)
            self.added_users.extend(user.number for _, user in new)
        return ImportCounts(created=len(new), unchanged=len(checked) - len(new))

    def finish(self) -> None:
        """One audit event per group that gained members, naming them, and one signal with every added pair."""
        if not self.added_groups:
            return
        groups, users = list(self.groups.values()), list(self.users.values())  # in number order
        added: dict[Entry, list[str]] = defaultdict(list)
        for g, u in zip(self.added_groups, self.added_users, strict=True):
            added[groups[g]].append(users[u].name)
        audit_record_many(
            actor=self.actor,
            entries=(
                (
                    "directory_group.members_import",
                    ("directorygroup", group.pk, group.name),
                    None,
                    {"added": len(names), "users": sorted(names, key=str.lower)},
                )
                for group, names in added.items()
            ),
        )
        announce_memberships_changed(
            sender=GroupMembership,
            identity_center=self.identity_center,
            added=[(groups[g].pk, users[u].pk) for g, u in zip(self.added_groups, self.added_users, strict=True)],
            removed=[],
            actor=self.actor,
        )

"""`import_memberships`: `group,user_name` (the group by its display name; both case-insensitive).

The memberships of the file are added; memberships that the file does not list are left alone. Every group and
user must already exist in the directory. One `memberships_changed` signal announces all the added pairs.
"""

from __future__ import annotations

from uuid import UUID

from directory import signals
from directory.importers.base import ImportCounts, Importer
from directory.importers.reader import WHOLE_ROW, Issue, Layout, Record, Report
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from directory.services import group_field_error, user_field_error
from kiroconsole.audit import audit_record_many
from kiroconsole.bulk import adapter, insert_rows

Pair = tuple[UUID, UUID]  # (group id, user id)


class MembershipImporter(Importer):
    action = "directory.import_memberships"
    layout = Layout(required=("group", "user_name"))

    def prepare(self) -> None:
        directory = {"identity_center": self.identity_center}
        groups = DirectoryGroup.objects.live().filter(**directory).order_by().values_list("pk", "display_name")
        users = DirectoryUser.objects.live().filter(**directory).order_by().values_list("pk", "user_name")
        self.groups: dict[str, tuple[UUID, str]] = {name.lower(): (pk, name) for pk, name in groups}
        self.group_names: dict[UUID, str] = dict(self.groups.values())
        self.users: dict[str, tuple[UUID, str]] = {name.lower(): (pk, name) for pk, name in users.iterator(10_000)}
        self.seen: dict[Pair, int] = {}  # pair -> line, in this file
        self.added: list[Pair] = []
        self.db_id = adapter(GroupMembership, "group")  # a directory id (UUID) in the database's form
        self.db_now = adapter(GroupMembership, "created_at")(self.now)

    def _pair(self, values: dict[str, str]) -> Pair:
        return self.groups[values["group"].lower()][0], self.users[values["user_name"].lower()][0]

    def check(self, record: Record, report: Report) -> None:
        line, values = record
        group, user_name = values["group"], values["user_name"]
        found = True
        if (message := group_field_error("display_name", group)) is None and group.lower() not in self.groups:
            message = f"no group named {group!r} in this directory"
        if message is not None:
            report(Issue(line, "group", message))
            found = False
        if (message := user_field_error("user_name", user_name)) is None and user_name.lower() not in self.users:
            message = f"no user named {user_name!r} in this directory"
        if message is not None:
            report(Issue(line, "user_name", message))
            found = False
        if found and (first := self.seen.setdefault(self._pair(values), line)) != line:
            report(Issue(line, WHOLE_ROW, f"the same membership is already on line {first}"))

    def apply(self, records: list[Record], *, write: bool) -> ImportCounts:
        self.seen.clear()  # the checks are over: free their memory
        pairs = [self._pair(values) for _, values in records]
        # By user only: a user is in few groups, and IN lists on both columns make SQLite probe every combination.
        user_ids = {user_id for _, user_id in pairs}
        present = set(GroupMembership.objects.filter(user_id__in=user_ids).values_list("group_id", "user_id"))
        new = [pair for pair in pairs if pair not in present]
        if write and new:
            rows = [(self.db_id(group_id), self.db_id(user_id), self.db_now) for group_id, user_id in new]
            insert_rows(GroupMembership, ["group", "user", "created_at"], rows)
            user_names = dict(self.users[values["user_name"].lower()] for _, values in records)
            audit_record_many(
                actor=self.actor,
                entries=(
                    (
                        "directory_group.member_add",
                        ("directorygroup", group_id, self.group_names[group_id]),
                        None,
                        {"user": user_names[user_id], "user_id": user_id},
                    )
                    for group_id, user_id in new
                ),
            )
            self.added.extend(new)
        return ImportCounts(created=len(new), unchanged=len(pairs) - len(new))

    def finish(self) -> None:
        if self.added:
            signals.memberships_changed.send(
                sender=GroupMembership,
                identity_center=self.identity_center,
                added=self.added,
                removed=[],
                actor=self.actor,
            )

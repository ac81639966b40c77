"""`import_groups`: `display_name[,description][,external_id]`.

The display name is the natural key (case-insensitive). An optional column left out of the header leaves that
attribute of existing groups as it is (new groups get it empty).
"""

from __future__ import annotations

import uuid
from typing import Any

from directory.importers.base import ImportCounts, Importer
from directory.importers.reader import Issue, Layout, Record, Report
from directory.models import DirectoryGroup
from directory.services import GROUP_FIELDS, group_field_error
from kiroconsole.audit import audit_record_many
from kiroconsole.bulk import adapter, insert_rows, update_rows

NEW_GROUP = {"description": "", "external_id": ""}  # for the optional columns a file leaves out


class GroupImporter(Importer):
    action = "directory.import_groups"
    layout = Layout(required=("display_name",), optional=("description", "external_id"))

    def prepare(self) -> None:
        live = DirectoryGroup.objects.live().filter(identity_center=self.identity_center).order_by()
        self.ids: dict[str, uuid.UUID] = {name.lower(): pk for pk, name in live.values_list("pk", "display_name")}
        self.names_seen: dict[str, int] = {}
        self.db_id = adapter(DirectoryGroup, "id")
        self.db_directory = adapter(DirectoryGroup, "identity_center")(self.identity_center.pk)
        self.db_now = adapter(DirectoryGroup, "created_at")(self.now)

    def check(self, record: Record, report: Report) -> dict[str, str]:
        line, values = record
        bad = False
        for column, value in values.items():
            if (message := group_field_error(column, value)) is not None:
                report(Issue(line, column, message))
                bad = bad or column == "display_name"
        name = values["display_name"]
        if not bad and (first := self.names_seen.setdefault(name.lower(), line)) != line:
            report(Issue(line, "display_name", f"the group {name!r} is already on line {first} (case ignored)"))
        return values

    def apply(self, checked: list[dict[str, str]], *, write: bool) -> ImportCounts:
        counts = ImportCounts()
        known = [pk for values in checked if (pk := self.ids.get(values["display_name"].lower())) is not None]
        current = {
            row[1].lower(): row
            for row in DirectoryGroup.objects.filter(pk__in=known).values_list("pk", *GROUP_FIELDS).order_by()
        }
        inserts: list[tuple] = []
        updates: list[tuple] = []
        events: list[tuple[str, Any, Any, Any]] = []
        directory = str(self.identity_center.pk)
        for values in checked:
            row = current.get(values["display_name"].lower())
            if row is None:
                data = NEW_GROUP | values
                pk = uuid.uuid4()
                inserts.append((self.db_id(pk), self.db_directory, *map(data.get, GROUP_FIELDS), *[self.db_now] * 2))
                after = {"identity_center": directory, **{field: data[field] for field in GROUP_FIELDS}}
                events.append(("directory_group.create", ("directorygroup", pk, after["display_name"]), None, after))
                continue
            pk, *stored = row
            before = {"identity_center": directory, **dict(zip(GROUP_FIELDS, stored, strict=True))}  # group_snapshot's
            changes = {field: value for field, value in values.items() if before[field] != value}
            if not changes:
                counts.unchanged += 1
                continue
            after = before | changes
            updates.append((*map(after.get, GROUP_FIELDS), self.db_now, self.db_id(pk)))
            events.append(("directory_group.update", ("directorygroup", pk, after["display_name"]), before, after))
        counts.created, counts.updated = len(inserts), len(updates)
        if write and events:
            insert_rows(DirectoryGroup, ["id", "identity_center", *GROUP_FIELDS, "created_at", "updated_at"], inserts)
            update_rows(DirectoryGroup, [*GROUP_FIELDS, "updated_at"], updates)
            audit_record_many(actor=self.actor, entries=events)
        return counts

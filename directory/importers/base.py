"""The import pipeline every directory import follows (pretix's import: validate everything, then one short
transaction).

The file is read once, record by record, inside one transaction:
1. each record is checked, alone and against the file so far (duplicates) and the directory as it was before
   the import (clashes), keeping only the keys that the checks need;
2. checked records are applied in batches of `BATCH_SIZE`, with a few set-based statements per batch (one
   SELECT of the existing rows, one prepared INSERT and one prepared UPDATE run for all the batch's rows, the
   audit events in bulk).
At the first issue the writing stops and the checking goes on, so that every issue is reported; then the
transaction is rolled back: nothing is written. Without issues the import's own audit event and its signals end
the transaction, so a failure anywhere (a crash, a kill) leaves the directory as it was. A dry run does the same
reading and comparing without writing. (Reading once rather than checking the whole file before a second,
writing pass halves the parsing, at the cost of holding the write transaction while the file is read.)

An `Importer` says what one kind of file means: its columns, its row checks and how a batch is written.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO, ClassVar

from django.db import transaction
from django.utils import timezone

from accounts.models import IdentityCenterInstance
from directory.importers.reader import CsvReader, Issue, Layout, Record, Report
from kiroconsole.audit import Actor, audit_record

BATCH_SIZE = 2000


@dataclass
class ImportCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, other: ImportCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged

    def summary(self, *, dry_run: bool = False) -> str:
        if dry_run:
            return f"would create {self.created}, update {self.updated}, unchanged {self.unchanged}"
        return f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}"


class ImportFailed(Exception):
    """The file has issues (each already reported): nothing was written."""

    def __init__(self, issues: int):
        self.issues = issues
        super().__init__(f"{issues} error{'s' if issues != 1 else ''}: nothing was written")


class Importer:
    """One kind of import file. A fresh instance serves one import."""

    action: ClassVar[str]  # the audit action of the import event
    layout: ClassVar[Layout]

    def __init__(self, *, identity_center: IdentityCenterInstance, actor: Actor):
        self.identity_center = identity_center
        self.actor = actor
        self.now = timezone.now()

    def prepare(self) -> None:
        """Load, in a query or two, what the checks need to know about the directory."""

    def check(self, record: Record, report: Report) -> Any:
        """Check one record, in file order, reporting every issue; return what `apply` needs of it."""
        raise NotImplementedError

    def apply(self, checked: list[Any], *, write: bool) -> ImportCounts:
        """Compare a batch of checked records (what `check` returned for each) with the database and, when
        `write`, write the difference with its audit events."""
        raise NotImplementedError

    def finish(self) -> None:
        """After the last batch, inside the transaction: announce what changed (signals)."""


def run_import(
    importer: Importer,
    *,
    source: BinaryIO,
    name: str,
    dry_run: bool = False,
    on_issue: Callable[[Issue], None],
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportCounts:
    """Check and apply `source` (a binary file; `name` is how messages and the audit name it) in one pass.

    `on_issue` receives every issue as it is found; `progress(phase, bytes done, bytes in all)` follows the pass.
    Raises ImportFailed when there was any issue: nothing written."""
    issues = 0

    def report(issue: Issue) -> None:
        nonlocal issues
        issues += 1
        on_issue(issue)

    total = source.seek(0, os.SEEK_END)
    label = "checking" if dry_run else "importing"
    reader = CsvReader(
        source, importer.layout, report, None if progress is None else lambda done: progress(label, done, total)
    )
    importer.prepare()
    counts = ImportCounts()
    batch: list[Any] = []
    with transaction.atomic():
        for record in reader.records():
            checked = importer.check(record, report)
            if issues:  # nothing will be written: go on checking only
                batch.clear()
                continue
            batch.append(checked)
            if len(batch) >= BATCH_SIZE:
                counts.add(importer.apply(batch, write=not dry_run))
                batch = []
        if issues:
            raise ImportFailed(issues)  # rolls back what the batches before the first issue wrote
        if batch:
            counts.add(importer.apply(batch, write=not dry_run))
        if not dry_run:
            importer.finish()
            audit_record(
                actor=importer.actor,
                action=importer.action,
                target=("import", reader.sha256, os.path.basename(name)),
                after=_import_summary(importer, name, reader.sha256, counts),
            )
    return counts


def _import_summary(importer: Importer, name: str, sha256: str, counts: ImportCounts) -> dict[str, Any]:
    return {
        "file": name,
        "sha256": sha256,
        "identity_store_id": importer.identity_center.identity_store_id,
        **asdict(counts),
    }

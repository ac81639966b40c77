"""The import pipeline every directory import follows (pretix's import: validate everything, then one short
transaction).

1. Check: read the whole file once, record by record, and check every row and the file as a whole against the
   directory as it is, keeping only the keys that the checks need. Any issue: nothing is written.
2. Write: read the file again (its SHA-256 must not have changed) and apply it in batches of `BATCH_SIZE`
   records, with a few set-based statements per batch (one SELECT of the existing rows, one prepared INSERT and
   one prepared UPDATE run for all the batch's rows, the audit events in bulk), all inside one transaction with
   the import's own audit event and its signals, so a failure anywhere leaves the directory as it was. A dry run
   does the same reading and comparing without writing.

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
from directory.importers.reader import WHOLE_ROW, CsvReader, Issue, Layout, Record, Report
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

    def check(self, record: Record, report: Report) -> None:
        """Check one record, in file order, reporting every issue."""
        raise NotImplementedError

    def apply(self, records: list[Record], *, write: bool) -> ImportCounts:
        """Compare a batch of checked records with the database and, when `write`, write the difference with
        its audit events."""
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
    """Check then apply `source` (a seekable binary file; `name` is how messages and the audit name it).

    `on_issue` receives every issue as it is found; `progress(phase, bytes done, bytes in all)` follows the two
    passes. Raises ImportFailed when there was any issue (nothing written)."""
    issues = 0

    def report(issue: Issue) -> None:
        nonlocal issues
        issues += 1
        on_issue(issue)

    total = source.seek(0, os.SEEK_END)

    def phase(label: str) -> Callable[[int], None] | None:
        return None if progress is None else (lambda done: progress(label, done, total))

    importer.prepare()
    checking = CsvReader(source, importer.layout, report, phase("checking"))
    for record in checking.records():
        importer.check(record, report)
    if issues:
        raise ImportFailed(issues)

    writing = CsvReader(source, importer.layout, report, phase("dry run" if dry_run else "writing"))
    if dry_run:
        counts = _apply(importer, writing, write=False)
    else:
        with transaction.atomic():
            counts = _apply(importer, writing, write=True)
            if issues or writing.sha256 != checking.sha256:
                report(Issue(1, WHOLE_ROW, "the file changed while it was being imported: run the command again"))
                raise ImportFailed(issues)  # rolls the transaction back
            importer.finish()
            audit_record(
                actor=importer.actor,
                action=importer.action,
                target=("import", checking.sha256, os.path.basename(name)),
                after=_import_summary(importer, name, checking.sha256, counts),
            )
    if issues:
        raise ImportFailed(issues)
    return counts


def _apply(importer: Importer, reader: CsvReader, *, write: bool) -> ImportCounts:
    counts = ImportCounts()
    batch: list[Record] = []
    for record in reader.records():
        batch.append(record)
        if len(batch) >= BATCH_SIZE:
            counts.add(importer.apply(batch, write=write))
            batch = []
    if batch:
        counts.add(importer.apply(batch, write=write))
    return counts


def _import_summary(importer: Importer, name: str, sha256: str, counts: ImportCounts) -> dict[str, Any]:
    return {
        "file": name,
        "sha256": sha256,
        "identity_store_id": importer.identity_center.identity_store_id,
        **asdict(counts),
    }

"""`import_usage`: usage events from a file (CONTRACTS.md "Management commands"; issue 7, item 8).

Columns `idempotency_key,user_name,credits,occurred_at,client_type,model[,messages]`: a CSV with a header row
(read by `directory.importers.reader`), or JSON Lines (`.jsonl`, `.ndjson`) with the same keys, one object a line,
its numbers read as written (`credits.events.json_loads`: 0.1 is exactly 0.1). Unlike the API, `occurred_at` is
required: an import records past use, never "now".

Every row is parsed by `credits.events.event_parse` (the API's parsing and messages) and, in file order, recorded
by `credits.services.usage_record` in chunks of `CHUNK` events, all inside one transaction; so the import applies
exactly the rules of the API, balances, caps, activation and alerts included. A row is an issue, printed as
`FILE:LINE: COLUMN: message`, when it is bad input, names no user of the profile's directory, reuses a key with
another payload, or would be rejected (no access, the allowance used up with overage off, a cap, a model not
approved): with any issue the transaction is rolled back and nothing at all is written. A row whose key was
recorded before with the same payload is "unchanged", so importing a file again changes nothing. A dry run does
all of it and rolls back. Issues are printed in line order, a chunk at a time (each row's bad columns all at once,
in column order). The transaction holds the balances it touched until the end, as any import holds its rows.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, BinaryIO

from django.db import transaction
from django.utils import timezone

from credits.events import EventIn, EventInvalid, event_parse, json_loads
from credits.models import Reason
from credits.services import Result, usage_record
from directory.importers import ImportFailed, Issue
from directory.importers.reader import MAX_LINE_BYTES, PROGRESS_EVERY, WHOLE_ROW, CsvReader, Layout
from kiroconsole.audit import Actor, audit_record
from subscriptions.models import AiModel, Profile

__all__ = ["CHUNK", "LAYOUT", "ImportFailed", "Issue", "UsageCounts", "usage_import"]

LAYOUT = Layout(
    required=("idempotency_key", "user_name", "credits", "occurred_at", "client_type", "model"),
    optional=("messages",),
)
JSON_LINES = (".jsonl", ".ndjson")
CHUNK = 1000  # events per usage_record call (the API's largest batch)
WHEN = "a date and time with its zone, like 2026-11-27T15:04:05Z"
ORDER = {column: position for position, column in enumerate(LAYOUT.columns)}
# A value event_parse accepts, put in place of a bad one so that the row's next bad column is found too.
STAND_INS: dict[str, Any] = {
    "idempotency_key": "stand-in",
    "user_name": "stand-in",
    "credits": "1",
    "occurred_at": None,
    "client_type": "KIRO_IDE",
    "messages": None,
}
# The column an event's rejection is about.
REASON_COLUMNS: dict[str, str] = {
    Reason.NOT_SUBSCRIBED: "user_name",
    Reason.ACCESS_ENDED: "user_name",
    Reason.USER_INACTIVE: "user_name",
    Reason.NOT_YET_SUBSCRIBED: "occurred_at",
    Reason.MODEL_NOT_APPROVED: "model",
}


@dataclass
class UsageCounts:
    accepted: int = 0
    plan_credits: Decimal = Decimal("0.00")
    overage_credits: Decimal = Decimal("0.00")
    unchanged: int = 0

    def summary(self, *, dry_run: bool = False) -> str:
        """`accepted N (plan credits X, overage credits Y), unchanged K`; a dry run says `would accept N (...)`."""
        credits = f"plan credits {self.plan_credits:.2f}, overage credits {self.overage_credits:.2f}"
        verb = "would accept" if dry_run else "accepted"
        return f"{verb} {self.accepted} ({credits}), unchanged {self.unchanged}"

    def as_audit(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "plan_credits": f"{self.plan_credits:.2f}",
            "overage_credits": f"{self.overage_credits:.2f}",
            "unchanged": self.unchanged,
        }


Report = Callable[[Issue], None]


class JsonLinesReader:
    """One pass over a JSON Lines file: `records()` yields (line, object) for each line that holds an object;
    blank lines are skipped, other lines reported. `sha256` is the digest of the bytes read."""

    def __init__(self, stream: BinaryIO, report: Report, progress: Callable[[int], None] | None = None):
        self.stream = stream
        self.report = report
        self.progress = progress
        self.bytes_read = 0
        self._digest = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def records(self) -> Iterator[tuple[int, dict[str, Any]]]:
        self.stream.seek(0)
        number = count = 0
        while raw := self.stream.readline(MAX_LINE_BYTES + 1):
            number += 1
            self._digest.update(raw)
            self.bytes_read += len(raw)
            if len(raw) > MAX_LINE_BYTES:
                self.report(Issue(number, WHOLE_ROW, f"the line is longer than {MAX_LINE_BYTES // 1024} KiB"))
                return
            if number == 1:
                if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    self.report(Issue(1, WHOLE_ROW, "the file is UTF-16: save it as UTF-8"))
                    return
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.report(Issue(number, WHOLE_ROW, f"invalid UTF-8 (byte 0x{raw[exc.start]:02x}): save it as UTF-8"))
                continue
            if not text.strip():
                continue
            try:
                value = json_loads(text.rstrip("\r\n"))
            except json.JSONDecodeError as exc:
                self.report(Issue(number, WHOLE_ROW, f"invalid JSON: {exc.msg} (character {exc.colno})"))
                continue
            except (ValueError, RecursionError) as exc:  # an integer of over 4,300 digits; [[[[... nested too deep
                self.report(Issue(number, WHOLE_ROW, f"invalid JSON: {exc}"))
                continue
            if not isinstance(value, dict):
                self.report(Issue(number, WHOLE_ROW, 'expected a JSON object, like {"idempotency_key": "...", ...}'))
                continue
            yield number, value
            count += 1
            if self.progress is not None and count % PROGRESS_EVERY == 0:
                self.progress(self.bytes_read)
        if self.progress is not None:
            self.progress(self.bytes_read)


class UsageImporter:
    """One import into one profile: `add` each row in file order (recorded a chunk at a time), then `flush`."""

    def __init__(self, *, profile: Profile, actor: Actor, now: Any, report: Report):
        self.profile = profile
        self.actor = actor
        self.now = now
        self.report = report
        self.models = frozenset(AiModel.objects.values_list("code", flat=True))
        self.stand_ins = {**STAND_INS, "model": min(self.models, default="auto")}
        self.counts = UsageCounts()
        self.first_line: dict[str, int] = {}  # key -> the line it first appears on
        self.chunk: list[tuple[int, EventIn]] = []
        self.held: list[Issue] = []  # the issues of the rows read since the last flush

    def hold(self, issue: Issue) -> None:
        """Keep an issue until the chunk it belongs to is recorded, so that issues are printed in line order."""
        self.held.append(issue)

    def add(self, line: int, raw: dict[str, Any]) -> None:
        event = self.parse(line, raw)
        if event is None:
            return
        self.first_line.setdefault(event.key, line)
        self.chunk.append((line, event))
        if len(self.chunk) >= CHUNK:
            self.flush()

    def parse(self, line: int, raw: dict[str, Any]) -> EventIn | None:
        """The row's event, or None after holding an issue for each of its bad columns."""
        issues: list[Issue] = []
        values = dict(raw)
        for name in [name for name in values if name not in ORDER]:  # JSON Lines only: a CSV header is checked
            expected = ", ".join(LAYOUT.columns[:-1]) + f" or {LAYOUT.columns[-1]}"
            issues.append(Issue(line, name, f"unknown field: the fields are {expected}"))
            del values[name]
        if values.get("occurred_at") in (None, ""):
            issues.append(Issue(line, "occurred_at", f"is required: {WHEN}."))
        if values.get("user_name") in (None, ""):
            issues.append(Issue(line, "user_name", "is required."))
            values["user_name"] = STAND_INS["user_name"]
        event = None
        for _ in ORDER:  # at most one more try per column
            try:
                event = event_parse(values, now=self.now, models=self.models)
                break
            except EventInvalid as error:
                issues.append(Issue(line, error.field, error.message))
                values[error.field] = self.stand_ins[error.field]
        if issues:
            self.held.extend(issues)
            return None
        return event

    def flush(self) -> None:
        """Record the chunk; then print the issues of its rows, in line order (and column order in a line)."""
        chunk, self.chunk = self.chunk, []
        if chunk:
            events = [event for _, event in chunk]
            results = usage_record(profile=self.profile, events=events, actor=self.actor, now=self.now)
            for (line, event), result in zip(chunk, results, strict=True):
                self.tell(line, event, result)
        held, self.held = self.held, []
        for issue in sorted(held, key=lambda issue: (issue.line, ORDER.get(issue.column, -1))):
            self.report(issue)

    def tell(self, line: int, event: EventIn, result: Result) -> None:
        """Count the row's result, or report it."""
        counts = self.counts
        if result.conflict:
            first = self.first_line[event.key]
            where = f"is already on line {first}" if first != line else "was recorded before"
            self.held.append(
                Issue(line, "idempotency_key", f"{event.key!r} {where} with another payload: use a new key")
            )
        elif result.invalid_field:  # no such user in the profile's directory
            self.held.append(Issue(line, "user_name", result.detail))
        elif result.replayed:
            counts.unchanged += 1
        elif result.status == "accepted":
            counts.accepted += 1
            counts.plan_credits += result.plan_credits
            counts.overage_credits += result.overage_credits
        else:
            column = REASON_COLUMNS.get(result.reason, "credits")
            self.held.append(Issue(line, column, f"would be rejected ({result.reason}): {result.detail}"))


def usage_import(
    *,
    profile: Profile,
    source: BinaryIO,
    name: str,
    actor: Actor,
    on_issue: Report,
    dry_run: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    now: Any = None,
) -> UsageCounts:
    """Record the usage events of `source` (a seekable binary file; `name` names it in the messages and the audit,
    and its ending chooses JSON Lines over CSV) in `profile`; unless `dry_run`, keep them. Every issue goes to
    `on_issue`; if there is any, nothing is written and ImportFailed is raised."""
    issues = 0

    def report(issue: Issue) -> None:
        nonlocal issues
        issues += 1
        on_issue(issue)

    total = source.seek(0, os.SEEK_END)
    label = "checking" if dry_run else "importing"
    told = None if progress is None else lambda done: progress(label, done, total)
    importer = UsageImporter(profile=profile, actor=actor, now=now or timezone.now(), report=report)
    reader: CsvReader | JsonLinesReader
    if name.lower().endswith(JSON_LINES):
        reader = JsonLinesReader(source, importer.hold, told)
        rows: Iterator[tuple[int, dict[str, Any]]] = reader.records()
    else:
        reader = CsvReader(source, LAYOUT, importer.hold, told)
        rows = ((line, dict(values)) for line, values in reader.records())
    with transaction.atomic():
        for line, raw in rows:
            importer.add(line, raw)
        importer.flush()
        if issues:
            raise ImportFailed(issues)  # rolls back every event recorded before
        counts = importer.counts
        if dry_run:
            transaction.set_rollback(True)
        else:
            audit_record(
                actor=actor,
                action="usage.import",
                target=profile,
                after={"file": name, "sha256": reader.sha256, **counts.as_audit()},
            )
    return counts

"""Reading an import file: a CSV with a header row, streamed record by record (CONTRACTS.md "Management commands").

UTF-8 with or without a byte order mark, LF or CRLF line ends, quoted fields with commas, quotes or line breaks
inside. The file is read one physical line at a time and never held whole; each record carries the line it starts
on, so an error points at the line an editor shows. Problems are reported as they are met, as `Issue`s; a problem
that makes the rest unreadable (no header, a bad header, UTF-16, an endless line) ends the reading.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

WHOLE_ROW = "-"  # the COLUMN of an issue about a whole row or the whole file
MAX_LINE_BYTES = 1024 * 1024  # one physical line; csv itself caps a field at 128 KiB
PROGRESS_EVERY = 1000  # records between two progress reports
SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "vertical bars"}  # what a header of one field may hold instead


@dataclass(frozen=True, slots=True)
class Issue:
    line: int
    column: str  # a header name, or WHOLE_ROW
    message: str

    def format(self, file: str) -> str:
        return f"{file}:{self.line}: {self.column}: {self.message}"


class Record(NamedTuple):
    line: int  # the physical line the record starts on, 1-based
    values: dict[str, str]  # column -> value with surrounding white space removed; only the header's columns


@dataclass(frozen=True)
class Layout:
    """The columns of one kind of import file."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    def field_counts(self) -> str:
        low, high = len(self.required), len(self.columns)
        return f"{low}" if low == high else f"{low} to {high}"


Report = Callable[[Issue], None]
Progress = Callable[[int], None]  # told the bytes read so far


class CsvReader:
    """One pass over an import file. `records()` yields the data records; `sha256` is the digest of every byte
    read, complete once `records()` is exhausted; `failed` tells whether the reading had to stop early."""

    def __init__(self, stream: BinaryIO, layout: Layout, report: Report, progress: Progress | None = None):
        self.stream = stream
        self.layout = layout
        self.report = report
        self.progress = progress
        self.failed = False
        self.bytes_read = 0
        self._digest = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def _fail(self, line: int, message: str) -> None:
        self.failed = True
        self.report(Issue(line, WHOLE_ROW, message))

    def _lines(self) -> Iterator[str]:
        """The file's physical lines, decoded, with their line ends (csv wants them, as with newline='')."""
        self.stream.seek(0)
        number = 0
        while raw := self.stream.readline(MAX_LINE_BYTES + 1):
            number += 1
            self._digest.update(raw)
            self.bytes_read += len(raw)
            if len(raw) > MAX_LINE_BYTES:
                self._fail(number, f"the line is longer than {MAX_LINE_BYTES // 1024} KiB: is this a CSV file?")
                return
            if number == 1:
                if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    self._fail(1, "the file is UTF-16: save it as UTF-8")
                    return
                raw = raw.removeprefix(codecs.BOM_UTF8)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                character = len(raw[: exc.start].decode("utf-8", "replace")) + 1
                byte = f"byte 0x{raw[exc.start]:02x} at character {character}"
                self.report(Issue(number, WHOLE_ROW, f"invalid UTF-8 ({byte}): save the file as UTF-8"))
                text = raw.decode("utf-8", "replace")
            yield text

    def _rows(self) -> Iterator[tuple[int, list[str]]]:
        """(start line, fields) for each record that is not blank."""
        reader = csv.reader(self._lines(), strict=True)
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # bad quoting, or a field over 128 KiB; the reader goes on at the next line
                self.report(Issue(start, WHOLE_ROW, f"unreadable CSV: {exc}"))
                continue
            if any(field.strip() for field in fields):
                yield start, fields

    def records(self) -> Iterator[Record]:
        rows = self._rows()
        first = next(rows, None)
        if first is None:
            if not self.failed:
                self._fail(1, "the file is empty: expected a header row")
            return
        line, header = first
        index = self._columns(line, header)
        if index is None:
            self.failed = True
            return
        width = len(header)
        count = 0
        for line, fields in rows:
            if len(fields) != width:
                self.report(Issue(line, WHOLE_ROW, f"expected {width} fields separated by commas, found {len(fields)}"))
                continue
            yield Record(line, {column: fields[i].strip() for column, i in index.items()})
            count += 1
            if self.progress is not None and count % PROGRESS_EVERY == 0:
                self.progress(self.bytes_read)
        if self.progress is not None:
            self.progress(self.bytes_read)

    def _columns(self, line: int, header: list[str]) -> dict[str, int] | None:
        """{column: position} from the header row, or None after reporting why the header is unusable."""
        layout = self.layout
        names = [name.strip() for name in header]
        known = {column.lower(): column for column in layout.columns}
        if not any(name.lower() in known for name in names):  # another kind of file, or not separated by commas
            message = _separator_message(layout, names)
            if message is not None:
                self.report(Issue(line, WHOLE_ROW, message))
                return None
        index: dict[str, int] = {}
        good = True
        for position, name in enumerate(names):
            column = known.get(name.lower())
            if not name:
                self.report(Issue(line, WHOLE_ROW, f"column {position + 1} of the header has no name"))
            elif column is None:
                expected = ", ".join(layout.columns[:-1]) + f" or {layout.columns[-1]}"
                self.report(Issue(line, name, f"unknown column: the columns are {expected}"))
            elif column in index:
                self.report(Issue(line, column, f"duplicate column (columns {index[column] + 1} and {position + 1})"))
            else:
                index[column] = position
                continue
            good = False
        for column in layout.required:
            if column not in index:
                self.report(Issue(line, column, "missing column"))
                good = False
        return index if good else None


def _separator_message(layout: Layout, names: list[str]) -> str | None:
    """What to say about a header that has none of the columns, when it looks separated by something else."""
    if len(names) < len(layout.required):
        return f"expected {layout.field_counts()} fields separated by commas, found {len(names)}"
    for separator, label in SEPARATORS.items():
        if len(names) == 1 and separator in names[0]:
            return f"expected fields separated by commas, found {label}"
    return None

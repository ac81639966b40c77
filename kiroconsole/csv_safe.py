"""CSV exports that a spreadsheet opens safely: the one place CSV injection is handled (every export reuses it).

A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` as a formula, and one that begins with a tab or a
carriage return may be read as one after its white space is trimmed. Names and emails come from the directory,
which SCIM and imports fill, so any text cell may be hostile (`=HYPERLINK("http://evil", "Click")`). Such a text
cell gets a single quote in front: the spreadsheet shows it as text, and a person reading it sees the quote.
Numbers (int, Decimal) are written as they are: they are ours, and a negative one is no formula.

    response = csv_response("usage-p-1.csv", [["User", "Credits"], ["=cmd()", Decimal("1.50")]])
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.utils.http import content_disposition_header

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> str:
    """A cell's text: None is empty, numbers as they are, text with a leading `'` when a spreadsheet would take it
    for a formula."""
    if value is None:
        return ""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_safe_row(values: Iterable[Any]) -> list[str]:
    return [csv_safe(value) for value in values]


def csv_response(filename: str, rows: Iterable[Iterable[Any]]) -> HttpResponse:
    """A `text/csv` download (`Content-Disposition: attachment`) of `rows`, the header first, every cell made safe.
    CRLF line ends, as RFC 4180 and spreadsheets expect; UTF-8."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    writer = csv.writer(response, lineterminator="\r\n")
    writer.writerows(csv_safe_row(row) for row in rows)
    return response

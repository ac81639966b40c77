"""CSV injection (kiroconsole.csv_safe): a text cell a spreadsheet would run as a formula is written as text."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from kiroconsole.csv_safe import csv_response, csv_safe, csv_safe_row


@pytest.mark.parametrize(
    "value",
    ["=cmd()", "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1", "\r=1", '=HYPERLINK("http://evil.example","x")'],
)
def test_text_that_starts_like_a_formula_gets_a_quote(value):
    assert csv_safe(value) == "'" + value


@pytest.mark.parametrize("value", ["Ann (ann)", "a=b", "ann@example.com", " =1", "", "2026-11-01", "'quoted"])
def test_other_text_is_unchanged(value):
    assert csv_safe(value) == value


def test_numbers_and_none_are_written_as_they_are():
    assert csv_safe_row([Decimal("-1.50"), -3, 0, None, Decimal("1000.00")]) == ["-1.50", "-3", "0", "", "1000.00"]
    assert csv_safe(True) == "True"


def test_the_response_is_a_safe_attachment_with_crlf_lines():
    response = csv_response('usage "q".csv', [["User", "Credits"], ["=cmd()", Decimal("1.50")], ["a,b\nc", 2]])
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="usage \\"q\\".csv"'
    body = response.content.decode()
    assert body.startswith("User,Credits\r\n'=cmd(),1.50\r\n")
    assert list(csv.reader(io.StringIO(body))) == [["User", "Credits"], ["'=cmd()", "1.50"], ["a,b\nc", "2"]]

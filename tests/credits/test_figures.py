"""The dashboard's number filters write exactly what humanize's `intcomma` and `floatformat:"2g"` write."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.humanize.templatetags.humanize import intcomma
from django.template.defaultfilters import floatformat

from credits.templatetags.figures import amount, count


@pytest.mark.parametrize("value", [0, 7, 999, 1000, 1234567, -1234, 10**12, "1234", Decimal("1234.5"), True, None])
def test_count_is_intcomma(value):
    assert count(value) == intcomma(value)


@pytest.mark.parametrize(
    "value",
    [
        Decimal("0"),
        Decimal("0.00"),
        Decimal("1234.5"),
        Decimal("-1234.567"),
        Decimal("0.125"),
        Decimal("0.005"),
        Decimal("1E+6"),
        Decimal("12345678.99"),
        Decimal("-0.001"),
        Decimal("1E+30"),
        Decimal("Infinity"),
        Decimal("NaN"),
        float("inf"),
        True,
        3,
        2.5,
        "12.345",
        None,
        "",
        "not a number",
    ],
)
def test_amount_is_floatformat_2g(value):
    assert amount(value) == floatformat(value, "2g")

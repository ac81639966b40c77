"""Number filters for pages with hundreds of figures (the usage dashboard's tables): the same text as humanize's
`intcomma` and `floatformat:"2g"` in the console's language (English: commas between thousands, a point before
the decimals), made by Python's own formatting instead of Django's localization machinery, about ten times
cheaper a cell. Their text is safe (digits, commas, a point, a minus)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.utils.safestring import SafeString

register = template.Library()
CENTS = Decimal("0.01")


@register.filter(is_safe=True)
def count(value: object) -> object:
    """`intcomma` of a whole number: 1234567 -> "1,234,567". Anything else is returned as it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        return SafeString(f"{value:,}")  # nosec B703 (digits, commas and a minus only)
    return value


@register.filter(is_safe=True)
def amount(value: object) -> object:
    """`floatformat:"2g"`: two decimals, rounded half up, thousands grouped: Decimal("1234.5") -> "1,234.50"."""
    if value is None or value == "":
        return ""
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value))
    except (InvalidOperation, TypeError, ValueError):
        return ""
    rounded = number.quantize(CENTS, rounding=ROUND_HALF_UP)
    # No "-0.00"; digits, commas, a point and a minus only.
    return SafeString(f"{rounded.copy_abs() if rounded == 0 else rounded:,.2f}")  # nosec B703

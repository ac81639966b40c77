"""Chargeback (issue 8, item 4): a month's cost of a profile, seats and overage, attributed to groups so finance can
bill teams (credits.chargeback has the rule), as a page and as a CSV of exactly the rows the page shows.

`?month=YYYY-MM` (default: this month); a month that is not one is said at the month field (status 400).
A constant number of queries: session, user, roles, profile, the header's notification count, and the
chargeback's own (see credits/chargeback.py)."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from credits.chargeback import DIRECT_LABEL, Chargeback, ChargebackLine, chargeback
from kiroconsole.csv_safe import csv_response
from kiroconsole.roles import Cap, requires
from subscriptions import selectors
from subscriptions.billing import CENTS
from subscriptions.calendar import month_label, month_start, next_month_start, parse_month
from subscriptions.views.billing import previous_month_start

TEMPLATE = "credits/chargeback.html"


def _month(request) -> tuple[datetime.datetime | None, str, str | None]:
    """The month asked for (None when it is not one), the text to show in the field, and the error."""
    text = request.GET.get("month", "").strip()
    if not text:
        return month_start(timezone.now()), month_label(month_start(timezone.now())), None
    try:
        month = parse_month(text)
    except ValidationError as exc:
        return None, text, exc.messages[0]
    return month, month_label(month), None


@requires(Cap.VIEW)
@require_GET
def profile_chargeback(request, profile_id: str):
    profile = selectors.profile_by_id(profile_id)
    this_month = month_start(timezone.now())
    month, text, error = _month(request)
    context: dict[str, Any] = {
        "profile": profile,
        "tab": "chargeback",
        "error": error,
        "month_text": text,
        "this_month": this_month,
    }
    if month is None:
        return render(request, TEMPLATE, context, status=400)
    result = chargeback(profile, month)
    context.update(
        {
            "chargeback": result,
            "bill": result.bill,
            "rows": [(line, line.seats_of(result.tiers)) for line in result.lines],
            "total_seats": result.totals.seats_of(result.tiers),
            "previous": month_label(previous_month_start(month)),
            "next": month_label(next_month_start(month)),
            "is_current": month == this_month,
            "is_future": month > this_month,
            "govcloud": result.bill.multiplier != 1,
            "direct_label": DIRECT_LABEL,
        }
    )
    return render(request, TEMPLATE, context)


def csv_rows(result: Chargeback) -> list[list[Any]]:
    """The page's table as rows: the header, a row a line, the totals row (amounts with two decimals; the cells are
    made safe for spreadsheets by `kiroconsole.csv_safe`)."""
    header = ["Group", *(f"{tier.name} seats" for tier in result.tiers)]
    header += ["Seat amount (USD)", "Overage credits", "Overage amount (USD)", "Total (USD)"]

    def row(label: str, line: ChargebackLine) -> list[Any]:
        amounts = (line.seat_amount, line.overage_credits, line.overage_amount, line.total)
        return [label, *line.seats_of(result.tiers), *(amount.quantize(CENTS) for amount in amounts)]

    rows = [header, *(row(line.label, line) for line in result.lines)]
    if result.lines:
        rows.append(row("Total", result.totals))
    return rows


@requires(Cap.VIEW)
@require_GET
def profile_chargeback_csv(request, profile_id: str):
    profile = selectors.profile_by_id(profile_id)
    month, text, error = _month(request)
    if month is None:
        return HttpResponse(f"{error}\n", status=400, content_type="text/plain; charset=utf-8")
    return csv_response(f"chargeback-{profile.profile_id}-{text}.csv", csv_rows(chargeback(profile, month)))

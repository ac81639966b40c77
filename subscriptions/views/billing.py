"""The bill preview of a profile for a month (DOMAIN.md §4 rule 8): lines per tier, overage and total."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kiroconsole.roles import Cap, requires
from subscriptions import selectors
from subscriptions.billing import profile_bill
from subscriptions.calendar import month_label, month_start, next_month_start, parse_month


def previous_month_start(start: datetime.datetime) -> datetime.datetime:
    return month_start(start - datetime.timedelta(days=1))


@requires(Cap.VIEW)
@require_GET
def bill_preview(request, profile_id: str):
    """`?month=YYYY-MM` (default: this month). A month that is not one is said at the month field, with status
    400; the links lead to the months before and after."""
    profile = selectors.profile_by_id(profile_id)
    now = timezone.now()
    this_month = month_start(now)
    text = request.GET.get("month", "").strip()
    error = None
    try:
        month = parse_month(text) if text else this_month
    except ValidationError as exc:
        error, month = exc.messages[0], None
    context = {"profile": profile, "tab": "bill", "error": error, "month_text": text, "this_month": this_month}
    if month is None:
        return render(request, "subscriptions/profile_bill.html", context, status=400)
    bill = profile_bill(profile, month)
    context.update(
        {
            "bill": bill,
            "month_text": month_label(month),
            "previous": month_label(previous_month_start(month)),
            "next": month_label(next_month_start(month)),
            "is_current": month == this_month,
            "is_future": month > this_month,
            "govcloud": bill.multiplier != 1,
        }
    )
    return render(request, "subscriptions/profile_bill.html", context)

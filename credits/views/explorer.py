"""The usage explorer of a profile (issue 8, item 3): the question's form, the answer's table with its total, and the
same rows as a CSV (credits.explorer has the question, the answer and the table).

Bad input (a reversed or absurd range, an unknown user, group, tier, client type, model or grouping) is said at its
field, on a 200 page. With htmx, changing a select (or Show) swaps the form and the results (`#usage-explorer`),
sorting and paging swap only the table, and each pushes its URL. A constant number of queries, whatever the usage:
session, user, roles, profile, the header's notification count, the models (and the tiers once a minute), the
directory's groups (at most 501), the user named, and the aggregate queries of `usage_rows` (one per rollup read:
one for a whole month, up to three for a range of partial months); grouped by group, as many again for the total.
The CSV: the same without the header's count and the groups."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.http import HttpResponseBadRequest, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET
from django_tables2 import RequestConfig

from credits.explorer import UsageAnswer, UsageQuery, UsageQueryForm, UsageTable, csv_rows, usage_answer
from kiroconsole.csv_safe import csv_response
from kiroconsole.htmx_tables import PER_PAGE, CountedPaginator, table_page
from kiroconsole.roles import Cap, requires
from subscriptions import selectors

TEMPLATE = "credits/usage_explorer.html"
EXPLORER_TARGET = "usage-explorer"  # the id of the region the form swaps
TABLE_ID = "table-main"


def _csv_url(request, profile_id: str) -> str:
    """The CSV of what the page shows: its filters and sort, not its page."""
    query = QueryDict(mutable=True)
    for name, value in request.GET.lists():
        if name != "page":
            query.setlist(name, [v for v in value if v])
    return reverse("profile-usage-csv", args=[profile_id]) + (f"?{query.urlencode()}" if query else "")


def _narrowing(query: UsageQuery) -> str:
    """The filters in words, for the results' heading."""
    filters, parts = query.filters, []
    if query.user is not None:
        parts.append(f"user {query.user.user_name}")
    if query.group is not None:
        parts.append(f"group {query.group.display_name}")
    if filters.tier:
        parts.append(f"tier {filters.tier}")
    if filters.client_type:
        parts.append(f"client {filters.client_type}")
    if filters.model:
        parts.append(f"model {(query.model_names or {}).get(filters.model, filters.model)}")
    return ", ".join(parts)


@requires(Cap.VIEW)
@require_GET
def profile_usage(request, profile_id: str):
    profile = selectors.profile_by_id(profile_id)
    form = UsageQueryForm(request.GET, profile=profile)
    context: dict[str, Any] = {"profile": profile, "tab": "usage", "form": form, "table_id": TABLE_ID}
    explorer_swap = bool(request.htmx) and request.htmx.target == EXPLORER_TARGET
    if not form.is_valid():
        template = f"{TEMPLATE}#explorer" if explorer_swap else TEMPLATE
        response = render(request, template, context)
        patch_vary_headers(response, ["HX-Request"])
        return response
    answer = usage_answer(form.query())
    table = UsageTable(answer, csv_url=_csv_url(request, profile.profile_id))
    context.update({"answer": answer, "narrowing": _narrowing(answer.query)})
    if not explorer_swap:
        # The whole page, or (sort, page) the table fragment: the shared table's helper decides.
        return table_page(request, TEMPLATE, table=table, filterset=form, context=context, count=len(answer.rows))
    paginator = partial(CountedPaginator, total=len(answer.rows))  # as table_page: the pinned total is no result
    RequestConfig(request, paginate={"per_page": PER_PAGE, "paginator_class": paginator}).configure(table)
    context.update({"table": table, "filterset": form})
    response = render(request, f"{TEMPLATE}#explorer", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@requires(Cap.VIEW)
@require_GET
def profile_usage_csv(request, profile_id: str):
    """Every row of the page's question, in the table's columns and sort, and the total; 400 with the errors as text
    for a bad question (the page says them at the fields)."""
    profile = selectors.profile_by_id(profile_id)
    form = UsageQueryForm(request.GET, profile=profile, page=False)
    if not form.is_valid():
        lines = [f"{name}: {message}" for name, messages in form.errors_by_field().items() for message in messages]
        return HttpResponseBadRequest("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")
    answer: UsageAnswer = usage_answer(form.query())
    table = UsageTable(answer)
    RequestConfig(request, paginate=False).configure(table)  # the sort of the page
    rows = list(table.data)  # in the table's order, without its pinned total
    span, group_by = answer.query.span, answer.query.group_by
    filename = f"usage-{profile.profile_id}-{span.start:%Y-%m-%d}-to-{span.end:%Y-%m-%d}-by-{group_by}.csv"
    return csv_response(filename, csv_rows(answer, rows))

"""The shared htmx table: one helper every list page uses (STYLE.md "Pages").

A list view builds a django-tables2 table and a django-filter FilterSet and returns `table_page(...)`. The same
URL serves the full page, or for an htmx request (sort, page, filter as you type) only the table fragment:
the `table` partial of templates/components/table.html. `Vary: HX-Request` keeps caches from mixing them.
"""

from __future__ import annotations

from functools import cached_property, partial
from typing import Any

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_tables2 import RequestConfig

PER_PAGE = 50


class CountedPaginator(Paginator):
    """A paginator told the number of rows by its caller, who knows a cheaper way to count them."""

    def __init__(self, object_list, per_page, *args, total: int, **kwargs):
        super().__init__(object_list, per_page, *args, **kwargs)
        self.total = total

    @cached_property
    def count(self) -> int:
        return self.total


def table_page(
    request,
    template: str,
    *,
    table,
    filterset=None,
    context: dict[str, Any] | None = None,
    per_page: int = PER_PAGE,
    count: int | None = None,
):
    """`count`: the number of rows when the caller knows it cheaper than counting the table's queryset."""
    paginate: dict[str, Any] = {"per_page": per_page}
    if count is not None:
        paginate["paginator_class"] = partial(CountedPaginator, total=count)
    RequestConfig(request, paginate=paginate).configure(table)
    ctx = {"table": table, "filterset": filterset, "table_id": f"table-{table.prefix or 'main'}"}
    ctx.update(context or {})
    htmx = getattr(request, "htmx", None)
    # A history-restore request (Back button with an empty history cache) needs the whole page.
    if htmx and not htmx.boosted and not htmx.history_restore_request:
        template = "components/table.html#table"
    response = render(request, template, ctx)
    patch_vary_headers(response, ["HX-Request"])
    return response

"""The shared htmx table: one helper every list page uses (STYLE.md "Pages").

A list view builds a django-tables2 table and a django-filter FilterSet and returns `table_page(...)`. The same
URL serves the full page, or for an htmx request (sort, page, filter as you type) only the table fragment:
the `table` partial of templates/components/table.html. `Vary: HX-Request` keeps caches from mixing them.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_tables2 import RequestConfig

PER_PAGE = 50


def table_page(
    request,
    template: str,
    *,
    table,
    filterset=None,
    context: dict[str, Any] | None = None,
    per_page: int = PER_PAGE,
):
    RequestConfig(request, paginate={"per_page": per_page}).configure(table)
    ctx = {"table": table, "filterset": filterset, "table_id": f"table-{table.prefix or 'main'}"}
    ctx.update(context or {})
    htmx = getattr(request, "htmx", None)
    # A history-restore request (Back button with an empty history cache) needs the whole page.
    if htmx and not htmx.boosted and not htmx.history_restore_request:
        template = "components/table.html#table"
    response = render(request, template, ctx)
    patch_vary_headers(response, ["HX-Request"])
    return response

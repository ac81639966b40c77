"""The shared htmx table: one helper every list page uses (STYLE.md "Pages").

A list view builds a django-tables2 table and a django-filter FilterSet and returns `table_page(...)`. The same
URL serves the full page, or for an htmx request (sort, page, filter as you type) only the table fragment:
the `table` partial of templates/components/table.html. `Vary: HX-Request` keeps caches from mixing them.
"""

from __future__ import annotations

from functools import cached_property, partial
from typing import Any

import django_tables2 as tables
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_tables2 import RequestConfig
from django_tables2.rows import BoundRow, BoundRows
from django_tables2.utils import signature

PER_PAGE = 50


class RecordCellsTable(tables.Table):
    """A table whose cells are cheap to render: a column that renders every record (`empty_values=()`, no link)
    with a `render_<column>(self, record)` method of the table, or a `render(self, record)` of its own, is called
    directly, once per row. django-tables2 would, for each cell, look the column up by name, resolve its accessor on
    the record (raising and catching an exception for a column that is no field), and inspect the render method's
    signature: two thirds of the rendering of a 50-row page. Other columns are rendered as django-tables2 does."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = RecordRows(data=self.data, table=self, pinned_data=self.pinned_data)

    def cell_renderers(self) -> list:
        """(bound column, its render method or None) for each visible column, worked out at the first row."""
        plan = self.__dict__.get("_cell_renderers")
        if plan is None:
            plan = self.__dict__["_cell_renderers"] = [(column, _record_renderer(column)) for column in self.columns]
        return plan


def _record_renderer(bound_column):
    if bound_column.column.empty_values or bound_column.link:
        return None
    args, catch_all = signature(bound_column.render)
    return bound_column.render if args == ("record",) and catch_all is None else None


class RecordRow(BoundRow):
    def items(self):
        record = self.record
        for column, renderer in self.table.cell_renderers():
            if renderer is None:
                value = self._get_and_render_with(column, render_func=self._call_render, default=column.default)
            else:
                value = renderer(record=record)
            # As BoundRow.items: the column's callable attrs may look at them.
            column.current_value, column.current_record = value, record
            yield column, value


class RecordRows(BoundRows):
    def __iter__(self):
        yield from self.generator_pinned_row(self.pinned_data.get("top"))
        table = self.table
        for record in self.data:
            yield RecordRow(record, table=table)
        yield from self.generator_pinned_row(self.pinned_data.get("bottom"))

    def __getitem__(self, key):
        if isinstance(key, slice):
            return RecordRows(data=self.data[key], table=self.table, pinned_data=self.pinned_data)
        return RecordRow(record=self.data[key], table=self.table)


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

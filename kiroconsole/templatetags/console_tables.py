"""Helpers of the shared table template (templates/components/tables2_htmx.html)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def td_attrs(column) -> str:
    """A column's <td> attributes, worked out once per table rather than for every cell as `column.attrs` does
    (a quarter of the rendering of a 50-row page, issue 4). Attributes that depend on the row (callables in the
    column's or the table's `td` or `cell` attrs) are still worked out for each cell."""
    cached = column.__dict__.get("_console_td_attrs")
    if cached is not None:
        return cached
    html = column.attrs["td"].as_html()
    if not _depends_on_row(column):
        column.__dict__["_console_td_attrs"] = html
    return html


def _depends_on_row(column) -> bool:
    for attrs in (column._table.attrs, column.column.attrs):
        for key in ("td", "cell"):
            if any(callable(value) for value in dict(attrs.get(key) or {}).values()):
                return True
    return False

"""Helpers of the shared table template (templates/components/tables2_htmx.html)."""

from __future__ import annotations

from django import template
from django.template.base import render_value_in_context
from django.utils import formats
from django.utils.safestring import SafeString, mark_safe

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


@register.simple_tag(takes_context=True)
def row_cells(context, row) -> SafeString:
    """A row's <td> cells, rendered in Python: what `{% for column, cell in row.items %}<td {{ column|td_attrs }}>
    {{ cell }}</td>{% endfor %}` renders (the column's `localize` honoured), without a template node per cell."""
    html = []
    for column, cell in row.items():
        if column.localize is not None:  # the |localize or |unlocalize filter
            cell = str(formats.localize(cell, use_l10n=column.localize))
        value = render_value_in_context(cell, context)
        html.append(f"<td {td_attrs(column)}>{value}</td>")
    return mark_safe("\n".join(html))  # noqa: S308 (each value escaped; td_attrs is AttributeDict.as_html)  # nosec B308 B703

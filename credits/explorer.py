"""The usage explorer (issue 8, item 3): one question (a date range, filters, a grouping) asked by the page, its CSV
and the API, and its answer read from the rollups by `credits.usage.usage_rows`.

`UsageQueryForm` is the question and its validation, shared by the three doors, so a bad value gets the same
message at the page's field and in the API's 422 (`{"detail": {"<field>": [...]}}`). Its fields are the API's query
parameters: `from`, `to` (YYYY-MM-DD, both included; default this month), `user` (a user name, any case, or a user
id, in the profile's directory; deleted users too, for their history), `group` (a live group's display name, any
case, or its id), `tier`, `client_type`, `model` (codes, any case; every model of the catalogue, retired ones too)
and `group_by` (a key of GROUP_BY; default `day`).

On the page the group is a select of the directory's live groups when it has at most GROUP_SELECT_MAX of them (read
once, at most GROUP_SELECT_MAX + 1 rows, and the look-up is made in that list), else a text input for the name. The
value is the group's name either way, so links, the CSV and the API read the same URLs.

`usage_answer` reads the rows (one or two aggregate queries) and the total: the sum of the rows, except when
grouped by group, where a user in several groups counts in each row but once in the total (one or two queries
more). The table and the CSV show the same columns: the grouping's label, plan, overage and total credits,
messages and events.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import attrgetter
from typing import Any

import django_tables2 as tables
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import F, Q
from django.urls import reverse
from django.utils.html import format_html
from django_tables2.data import TableListData
from django_tables2.utils import OrderBy

from credits import catalogue
from credits.models import ClientType
from credits.usage import (
    GROUP_BY,
    DateRange,
    UsageFilters,
    UsageRow,
    UserRows,
    date_range,
    this_month,
    usage_by_user,
    usage_rows,
)
from directory.models import DirectoryGroup, DirectoryUser
from kiroconsole.htmx_tables import RecordCellsTable
from subscriptions.models import AiModel, Profile

GROUP_SELECT_MAX = 500
DEFAULT_GROUP_BY = "day"
TOTAL_LABEL = "Total"
FIGURE_HEADERS = ("Plan credits", "Overage credits", "Total credits", "Messages", "Events")


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class UsageQuery:
    """A valid question: the profile, the days, the grouping, the narrowing (ids and codes) and what named it."""

    profile: Profile
    span: DateRange
    group_by: str
    filters: UsageFilters
    user: DirectoryUser | None = None
    group: DirectoryGroup | None = None
    model_names: dict[str, str] | None = None

    @property
    def grouping(self) -> str:
        return GROUP_BY[self.group_by]


class UsageQueryForm(forms.Form):
    """The explorer's question (GET parameters). `profile` is the profile asked about; `page=True` builds the page's
    widgets (selects with the catalogues and, when few, the directory's groups); the API validates without them."""

    user = forms.CharField(
        required=False,
        max_length=128,
        label="User name",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    group = forms.CharField(required=False, max_length=128, label="Group")
    tier = forms.CharField(required=False, max_length=16, label="Tier")
    client_type = forms.CharField(required=False, max_length=16, label="Client type")
    model = forms.CharField(required=False, max_length=64, label="Model")
    group_by = forms.CharField(required=False, max_length=16, label="Group by")

    def __init__(self, data: Any = None, *, profile: Profile, page: bool = True, **kwargs: Any):
        data = data.copy() if data is not None else {}
        if not (data.get("from") or "").strip() and not (data.get("to") or "").strip():
            month = this_month()
            data["from"], data["to"] = month.start.isoformat(), month.end.isoformat()
        if not (data.get("group_by") or "").strip():
            data["group_by"] = DEFAULT_GROUP_BY
        super().__init__(data, **kwargs)
        self.profile = profile
        date = forms.DateInput(attrs={"type": "date"})
        # `from` is a Python keyword: the date fields are added by name, first.
        self.fields = {
            "from": forms.CharField(required=False, max_length=32, label="From (UTC)", widget=date),
            "to": forms.CharField(required=False, max_length=32, label="To (UTC, included)", widget=date),
            **self.fields,
        }
        self.tiers = sorted(catalogue.tiers().values(), key=lambda tier: tier.rank)
        self.models = list(AiModel.objects.order_by("position", "name"))
        self.groups: dict[str, DirectoryGroup] | None = None  # lower-case name -> group, when listed
        if page:
            self._page_widgets()

    def _page_widgets(self) -> None:
        groups = list(
            DirectoryGroup.objects.live()
            .filter(identity_center_id=self.profile.identity_center_id)
            .order_by("display_name", "pk")
            .only("pk", "display_name")[: GROUP_SELECT_MAX + 1]
        )
        if len(groups) <= GROUP_SELECT_MAX:
            self.groups = {group.display_name.lower(): group for group in groups}
            choices = [("", "Every group"), *((g.display_name, g.display_name) for g in groups)]
            self.fields["group"].widget = forms.Select(choices=choices)
        else:
            self.fields["group"].label = "Group name"
            self.fields["group"].widget = forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"})
        tiers = [("", "Every tier"), *((tier.code, tier.name) for tier in self.tiers)]
        self.fields["tier"].widget = forms.Select(choices=tiers)
        self.fields["client_type"].widget = forms.Select(choices=[("", "Every client"), *ClientType.choices])
        models = [(m.code, m.name if m.active else f"{m.name} (retired)") for m in self.models]
        self.fields["model"].widget = forms.Select(choices=[("", "Every model"), *models])
        self.fields["group_by"].widget = forms.Select(choices=list(GROUP_BY.items()))

    # Each clean_<field> turns the text into what it names, or says what is wrong.

    def clean_user(self) -> DirectoryUser | None:
        text = self.cleaned_data["user"].strip()
        if not text:
            return None
        match = Q(user_name__iexact=text)
        if (pk := _uuid(text)) is not None:
            match |= Q(pk=pk)
        user = (
            DirectoryUser.objects.filter(match, identity_center_id=self.profile.identity_center_id)
            .order_by(F("deleted_at").desc(nulls_first=True), "pk")  # the live one first
            .first()
        )
        if user is None:
            raise ValidationError(f"No user named {text!r} in this profile's directory.", code="unknown")
        return user

    def clean_group(self) -> DirectoryGroup | None:
        text = self.cleaned_data["group"].strip()
        if not text:
            return None
        if self.groups is not None:
            group = self.groups.get(text.lower())
            if group is None and (pk := _uuid(text)) is not None:
                group = next((g for g in self.groups.values() if g.pk == pk), None)
        else:
            match = Q(display_name__iexact=text)
            if (pk := _uuid(text)) is not None:
                match |= Q(pk=pk)
            group = (
                DirectoryGroup.objects.live()
                .filter(match, identity_center_id=self.profile.identity_center_id)
                .only("pk", "display_name")
                .first()
            )
        if group is None:
            raise ValidationError(f"No group named {text!r} in this profile's directory.", code="unknown")
        return group

    def clean_tier(self) -> str:
        text = self.cleaned_data["tier"].strip()
        codes = [tier.code for tier in self.tiers]
        return _code(text, codes, f"{text!r} is not a tier: give one of {', '.join(codes)}.")

    def clean_client_type(self) -> str:
        text = self.cleaned_data["client_type"].strip()
        codes = list(ClientType.values)
        return _code(text, codes, f"{text!r} is not a client type: give {' or '.join(codes)}.")

    def clean_model(self) -> str:
        text = self.cleaned_data["model"].strip()
        codes = [model.code for model in self.models]
        return _code(text, codes, f"{text!r} is not a model of the catalogue, like {codes[0] if codes else 'auto'}.")

    def clean_group_by(self) -> str:
        text = self.cleaned_data["group_by"].strip().lower()
        if text not in GROUP_BY:
            raise ValidationError(
                f"{self.cleaned_data['group_by']!r} is not a grouping: give one of {', '.join(GROUP_BY)}.",
                code="invalid_choice",
            )
        return text

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "from" in cleaned and "to" in cleaned:
            try:
                cleaned["span"] = date_range(cleaned["from"], cleaned["to"])
            except ValidationError as error:
                self.add_error(None, error)  # a dict by field: each message goes to its field
        return cleaned

    def query(self) -> UsageQuery:
        """The valid question (call after `is_valid()`)."""
        data = self.cleaned_data
        user, group = data["user"], data["group"]
        filters = UsageFilters(
            user_id=user.pk if user else None,
            group_id=group.pk if group else None,
            tier=data["tier"],
            client_type=data["client_type"],
            model=data["model"],
        )
        names = {model.code: model.name for model in self.models}
        return UsageQuery(self.profile, data["span"], data["group_by"], filters, user, group, names)

    def errors_by_field(self) -> dict[str, list[str]]:
        """The errors as the API answers them: a list of messages per field name."""
        return {name: [str(message) for message in messages] for name, messages in self.errors.items()}


def _code(text: str, codes: list[str], message: str) -> str:
    """The code `text` names (any case), "" for none; ValidationError when it names none."""
    if not text:
        return ""
    code = next((code for code in codes if code.lower() == text.lower()), None)
    if code is None:
        raise ValidationError(message, code="invalid_choice")
    return code


@dataclass
class UsageAnswer:
    query: UsageQuery
    rows: Sequence[UsageRow]  # grouped by user: a `UserRows` the database sorts and pages, where it can
    total: UsageRow


def usage_answer(query: UsageQuery) -> UsageAnswer:
    """The rows of the question (models named from the catalogue) and their total."""
    if query.group_by == "user":
        by_user = usage_by_user(query.profile, query.span, query.filters)
        if isinstance(by_user, UserRows):
            return UsageAnswer(query, by_user, by_user.total(TOTAL_LABEL))
    rows = usage_rows(query.profile, query.span, query.group_by, query.filters)
    if query.group_by == "model" and query.model_names:
        for row in rows:
            row.label = query.model_names.get(row.key, row.label)
    # Grouped by group, a user in two groups is in two rows: the total counts the user once.
    counted = rows if query.group_by != "group" else usage_rows(query.profile, query.span, "tier", query.filters)
    total = UsageRow(key=None, label=TOTAL_LABEL)
    for row in counted:
        total.plan_hundredths += row.plan_hundredths
        total.overage_hundredths += row.overage_hundredths
        total.messages += row.messages
        total.events += row.events
    return UsageAnswer(query, rows, total)


def figures(row: UsageRow) -> tuple[Decimal, Decimal, Decimal, int, int]:
    """A row's numbers, in the columns' order."""
    return row.plan_credits, row.overage_credits, row.credits, row.messages, row.events


def csv_rows(answer: UsageAnswer, rows: list[UsageRow] | None = None) -> Iterator[list[Any]]:
    """The CSV of the table: the header (the grouping, then the figures), a line a row (in `rows`' order, default
    the answer's), the total line. Cells unescaped: `kiroconsole.csv_safe` neutralises them."""
    yield [answer.query.grouping, *FIGURE_HEADERS]
    for row in answer.rows if rows is None else rows:
        yield [row.label, *figures(row)]
    if answer.rows:
        yield [TOTAL_LABEL, *figures(answer.total)]


def _credits(value: Decimal) -> str:
    return f"{value:,.2f}"


def _count(value: int) -> str:
    return f"{value:,}"


NUMERIC = {"th": {"class": "numeric"}, "td": {"class": "numeric"}}


class UsageRowsData(TableListData):
    """The rows of a UsageTable, sorted by plain attribute keys: django-tables2's own list sort compares rows
    through accessors, a hundred times slower (9 s for 60,000 users)."""

    def order_by(self, aliases) -> None:
        orders = []
        for alias in aliases:  # which way each column sorts, as TableListData.order_by works it out
            bound_column = self.table.columns[OrderBy(alias).bare]
            same = alias[0] == bound_column.order_by_alias[0]
            orders += bound_column.order_by if same else bound_column.order_by.opposite
        if isinstance(self.data, UserRows):  # sorted (and later cut) by the database
            self.data.sort([(order.bare, order.is_descending) for order in orders])
            return
        for order in reversed(orders):  # stable sorts, the least significant key first
            self.data.sort(key=attrgetter(order.bare), reverse=order.is_descending)


class UsageTable(RecordCellsTable):
    """The answer's rows: sortable by every column; users link to their subscription page; the total pinned below
    them. The table's template adds the CSV link (which carries the filters and the sort) below the shared table.
    Give `table_page` the number of rows (`count=len(answer.rows)`): the pinned total is no result."""

    label = tables.Column(empty_values=(), order_by=("label",))
    plan_credits = tables.Column("Plan credits", empty_values=(), attrs=NUMERIC, order_by=("plan_credits", "label"))
    overage_credits = tables.Column(
        "Overage credits", empty_values=(), attrs=NUMERIC, order_by=("overage_credits", "label")
    )
    credits = tables.Column("Total credits", empty_values=(), attrs=NUMERIC, order_by=("credits", "label"))
    messages = tables.Column("Messages", empty_values=(), attrs=NUMERIC, order_by=("messages", "label"))
    events = tables.Column("Events", empty_values=(), attrs=NUMERIC, order_by=("events", "label"))

    class Meta:
        template_name = "credits/usage_table.html"
        attrs = {"class": "data-table usage-table"}

    def __init__(self, answer: UsageAnswer, *, csv_url: str = "", **kwargs: Any):
        query = answer.query
        self.answer, self.csv_url = answer, csv_url  # before the table reads its pinned row
        super().__init__(UsageRowsData(answer.rows), **kwargs)
        self.columns["label"].column.verbose_name = query.grouping
        self.empty_text = _empty_text(query)
        self.user_url = None
        if query.group_by == "user":
            self.user_url = reverse("profile-subscription", args=[query.profile.profile_id, uuid.UUID(int=0)])

    def get_bottom_pinned_data(self) -> list[UsageRow] | None:
        """The total, below the rows of every page whatever the sort (not counted in the results)."""
        return [self.answer.total] if self.answer.rows else None

    def render_label(self, record: UsageRow):
        if record is self.answer.total:
            return format_html("<strong>{}</strong>", record.label)
        if self.user_url is None:
            return record.label
        url = self.user_url.replace(str(uuid.UUID(int=0)), str(record.key))
        return format_html('<a href="{}">{}</a>', url, record.label)

    def _figure(self, record: UsageRow, text: str):
        return format_html("<strong>{}</strong>", text) if record is self.answer.total else text

    def render_plan_credits(self, record: UsageRow):
        return self._figure(record, _credits(record.plan_credits))

    def render_overage_credits(self, record: UsageRow):
        return self._figure(record, _credits(record.overage_credits))

    def render_credits(self, record: UsageRow):
        return self._figure(record, _credits(record.credits))

    def render_messages(self, record: UsageRow):
        return self._figure(record, _count(record.messages))

    def render_events(self, record: UsageRow):
        return self._figure(record, _count(record.events))


def _empty_text(query: UsageQuery) -> str:
    narrowed = any((query.filters.user_id, query.filters.group_id, query.filters.tier, query.filters.client_type))
    narrowed = narrowed or bool(query.filters.model)
    if narrowed:
        return f"No usage matches these filters from {query.span.label}. Widen the range or clear a filter."
    return (
        f"No usage in this profile from {query.span.label}. Usage appears here once subscribed users use Kiro "
        "(the metering API or import_usage records it); try an earlier range."
    )

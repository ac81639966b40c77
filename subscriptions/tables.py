from __future__ import annotations

import html as stdlib_html

import django_tables2 as tables
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django_tables2.data import TableQuerysetData

from kiroconsole.htmx_tables import RecordCellsTable
from subscriptions.models import GroupAssignment, Profile, Subscription, SubscriptionStatus, Tier
from subscriptions.selectors import effective_rank, in_profile_order, subscriptions_of_users, user_name_order


class ProfileTable(tables.Table):
    name = tables.Column(linkify=lambda record: reverse("profile-detail", args=[record.profile_id]))
    region = tables.Column(accessor="region__code", verbose_name="Region")
    account = tables.Column(accessor="account__name", verbose_name="AWS account")
    identity_center = tables.Column(accessor="identity_center__name", verbose_name="Identity Center")
    profile_id = tables.Column(verbose_name="Profile id")
    created_at = tables.DateTimeColumn(verbose_name="Created (UTC)", format="Y-m-d", attrs={"td": {"class": "nowrap"}})

    class Meta:
        model = Profile
        fields = ["name", "region", "account", "identity_center", "profile_id", "created_at"]
        order_by = ("name",)
        empty_text = "No Kiro profiles yet. Create one for an AWS account in a Region where Kiro runs."

    def render_profile_id(self, value):
        return format_html("<code>{}</code>", value)


# --- The Users and Groups tabs of a profile ----------------------------------------------------------------

BULK_FORM = "bulk-form"  # the Users tab's form of bulk actions, outside the table (which htmx swaps)


def _day(value, tz=None) -> str:
    # Not a DateTimeColumn (it compiles a template for every cell), nor dateformat (slower than strftime).
    return timezone.localtime(value, tz).strftime("%Y-%m-%d") if value else ""


def _html(format_string: str, *args) -> SafeString:
    """`format_html` for the cells of the Users tab (some 450 calls a page), escaping each argument as it does
    (`conditional_escape`: safe strings as they are, anything else through `html.escape`) without the lazy-string
    checks that `django.utils.html.escape` makes on every call, a quarter of rendering the cells."""
    return SafeString(  # nosec B703 (every argument is escaped here, as format_html would)
        format_string.format(*(a.__html__() if hasattr(a, "__html__") else stdlib_html.escape(str(a)) for a in args))
    )


class UrlPattern:
    """A URL reversed once per table with a placeholder id, then filled in for each row (reverse() is slow at 50
    rows)."""

    PLACEHOLDER = "00000000-0000-0000-0000-000000000000"

    def __init__(self, name: str):
        self.name = name
        self._url: str | None = None

    def __call__(self, pk) -> str:
        if self._url is None:
            self._url = reverse(self.name, args=[self.PLACEHOLDER])
        return self._url.replace(self.PLACEHOLDER, str(pk))


def dialog_link(url: str, text: str, hidden: str, css: str = "button button-small") -> SafeString:
    """A link that opens its page in the dialog with htmx (a page of its own without JavaScript)."""
    return format_html(
        '<a class="{}" href="{}" hx-get="{}" hx-target="#dialog-content" hx-swap="innerHTML" '
        'data-opens-dialog="app-dialog">{}<span class="visually-hidden"> {}</span></a>',
        css,
        url,
        url,
        text,
        hidden,
    )


class SelectColumn(tables.Column):
    """A checkbox per row for the bulk actions, labelled with the user's name; the header's box (JavaScript only)
    ticks the whole page."""

    def __init__(self, **kwargs):
        kwargs.update(empty_values=(), orderable=False, attrs={"th": {"class": "select"}, "td": {"class": "select"}})
        super().__init__(**kwargs)

    @property
    def header(self):
        return format_html(
            '<input type="checkbox" class="js-only" data-select-all="{}" aria-label="{}">',
            "users",
            "Select every user on this page",
        )

    def render(self, record):
        return _html(
            '<input type="checkbox" name="users" value="{}" form="{}" aria-label="Select {}">',
            record.user_id,
            BULK_FORM,
            record.user.user_name,
        )


class PagesByUser(TableQuerysetData):
    """The Users tab's rows, a page at a time. On PostgreSQL a later page is read in two steps of one statement: the
    ids of its users, from the filtered and ordered subscriptions cut to the page (LIMIT ... OFFSET), then the
    subscriptions of those users (`subscriptions_of_users`), ordered as the table is. In the default order the first
    step reads the (profile, user name, user) index alone, so that a deep page skips its OFFSET over index entries,
    not rows (at page 500, the 24,950 rows before it and their users are not read). SQLite reads a row's columns
    only once the row is kept: it skips an OFFSET as cheaply in one step, which spares it the second."""

    def __init__(self, data, *, profile: Profile, now):
        super().__init__(data)
        self.profile, self.now = profile, now

    def __getitem__(self, key):
        if not isinstance(key, slice) or connections[self.data.db].vendor == "sqlite":
            return super().__getitem__(key)
        users = self.data.prefetch_related(None).values("user_id")[key]
        page = TableQuerysetData(subscriptions_of_users(self.profile, users, self.now))
        page.set_table(self.table)
        page.order_by(self.table.order_by or ())
        return page.data


class SubscriptionTable(RecordCellsTable):
    # Every cell is rendered from its record (`empty_values=()` and `render_<column>(record)`: see
    # RecordCellsTable), the cheap path of a 50-row page.
    select = SelectColumn()
    user = tables.Column(verbose_name="User", order_by=("user_name", "user_id"), empty_values=())
    # Status, subscribed and last active: orders read from an index (migration 0006), see the order_* methods.
    status = tables.Column(empty_values=())
    # Accessors on the codes: the default ("tier") would fetch each row's Tier; the names come from `tiers`.
    tier = tables.Column(verbose_name="Tier", accessor="tier_id", empty_values=())
    next_tier = tables.Column(verbose_name="Next tier", accessor="next_tier_id", empty_values=(), orderable=False)
    sources = tables.Column(empty_values=(), orderable=False)
    subscribed_at = tables.Column(verbose_name="Subscribed (UTC)", empty_values=(), attrs={"td": {"class": "nowrap"}})
    last_active_at = tables.Column(verbose_name="Last active (UTC)", empty_values=(), attrs={"td": {"class": "nowrap"}})

    class Meta:
        model = Subscription
        fields = ["select", "user", "status", "tier", "next_tier", "sources", "subscribed_at", "last_active_at"]
        order_by = ("user",)
        empty_text = "No subscriptions match. Subscribe users or groups with the Subscribe button."

    def __init__(self, data, *args, profile: Profile, tiers: dict[str, Tier], now, can_change: bool = False, **kwargs):
        self.profile, self.tiers, self.now = profile, tiers, now  # before an order_by= argument calls order_*
        self.tz = timezone.get_current_timezone()
        super().__init__(PagesByUser(data, profile=profile, now=now), *args, **kwargs)
        self.user_url, self.group_url = UrlPattern("directory-user-detail"), UrlPattern("directory-group-detail")
        self.usage_url = reverse("profile-subscription", args=[profile.profile_id, UrlPattern.PLACEHOLDER])
        if not can_change:
            self.exclude = ("select",)

    def render_user(self, record):
        person = record.user
        url = self.user_url(person.pk)
        if person.deleted_at is not None:
            return _html(
                '<span class="cell-title">{}</span><span class="cell-sub">Deleted user</span>', person.user_name
            )
        return _html(
            '<a class="cell-title" href="{}">{}</a><span class="cell-sub">{} · <a href="{}">Usage'
            '<span class="visually-hidden"> of {}</span></a></span>',
            url,
            person.user_name,
            person.display_name,
            self.usage_url.replace(UrlPattern.PLACEHOLDER, str(person.pk)),
            person.user_name,
        )

    def render_status(self, record):
        status = SubscriptionStatus(record.status)
        html = _html('<span class="badge badge-{}">{}</span>', status.value.lower(), status.label)
        if status == SubscriptionStatus.CANCELED and record.access_until:
            ended = record.access_until <= self.now
            html += _html(
                '<span class="cell-sub">{} {}</span>',
                "access ended" if ended else "access until",
                _day(record.access_until, self.tz),
            )
        if record.user.deleted_at is None and not record.user.active:
            html += _html(
                '<span class="flag" title="{}">⚠ Deactivated in the directory</span>',
                "A deactivated user may not use Kiro. Reactivate it or unsubscribe it.",
            )
        return html

    def _in_profile_order(self, queryset, is_descending: bool, *fields: str):
        fields = tuple(f"-{f}" if is_descending else f for f in fields)
        return in_profile_order(queryset, self.profile, *fields), True

    def order_status(self, queryset, is_descending):
        return self._in_profile_order(queryset, is_descending, "status", "subscribed_at", "pk")

    def order_user(self, queryset, is_descending):
        return queryset.order_by(*user_name_order(is_descending)), True

    def order_subscribed_at(self, queryset, is_descending):
        return self._in_profile_order(queryset, is_descending, "subscribed_at", "pk")

    def order_last_active_at(self, queryset, is_descending):
        return self._in_profile_order(queryset, is_descending, "last_active_at", "pk")

    def order_tier(self, queryset, is_descending):
        """By the tier held now (its rank), then by user name."""
        rank = effective_rank(self.now)
        queryset = queryset.alias(current_rank=rank).order_by(
            "-current_rank" if is_descending else "current_rank", *user_name_order()
        )
        return queryset, True

    def render_tier(self, record):
        return self.tiers[record.effective_tier_id(self.now)].name

    def render_next_tier(self, record):
        if record.next_tier_id is None or record.next_tier_from is None or record.next_tier_from <= self.now:
            return "—"
        return _html(
            '{}<span class="cell-sub">from {}</span>',
            self.tiers[record.next_tier_id].name,
            _day(record.next_tier_from, self.tz),
        )

    def render_sources(self, record):
        """Direct (with its tier) and the assigned groups the user is in; after an unsubscribe the groups are struck
        through: they count again once the user is subscribed directly."""
        chips = []
        if record.direct_tier_id and not record.direct_opt_out:
            chips.append(_html('<li class="chip">Direct · {}</li>', self.tiers[record.direct_tier_id].name))
        chips += [
            _html(
                '<li class="chip"><a href="{}">{}</a> · {}</li>',
                self.group_url(m.group_id),
                m.group.display_name,
                self.tiers[m.source_tier].name,
            )
            for m in record.user.assigned_memberships
        ]
        items = SafeString("".join(chips))  # nosec B703 (each chip was made by _html, which escapes)
        html = _html('<ul class="chips{}">{}</ul>', " chips-muted" if record.direct_opt_out else "", items)
        if record.direct_opt_out:
            return (html if chips else _html("{}", "")) + _html(
                '<span class="cell-sub">{}</span>', "Unsubscribed: its groups count again once subscribed directly"
            )
        return html if chips else "—"

    def render_subscribed_at(self, record):
        return _day(record.subscribed_at, self.tz)

    def render_last_active_at(self, record):
        return (
            _day(record.last_active_at, self.tz)
            if record.last_active_at
            else _html('<span class="muted">{}</span>', "Never")
        )


class GroupAssignmentTable(tables.Table):
    group = tables.Column(
        verbose_name="Group",
        order_by=("group__display_name", "pk"),
        linkify=lambda record: reverse("directory-group-detail", args=[record.group_id]),
    )
    member_count = tables.Column(verbose_name="Members", attrs={"td": {"class": "numeric"}, "th": {"class": "numeric"}})
    tier = tables.Column(order_by=("tier__rank", "group__display_name", "pk"))
    # Credits' per-group cap (credits.views.caps): shown to all, its dialog linked for Cap.SETTINGS_CHANGE.
    overage_cap = tables.Column(verbose_name="Overage cap", empty_values=(), orderable=False)
    assigned_at = tables.Column(verbose_name="Assigned (UTC)", attrs={"td": {"class": "nowrap"}})
    actions = tables.Column(empty_values=(), orderable=False, verbose_name="Actions")

    class Meta:
        model = GroupAssignment
        fields = ["group", "member_count", "tier", "overage_cap", "assigned_at", "actions"]
        order_by = ("group",)
        empty_text = "No groups are assigned. Subscribe a group: each of its members gets a subscription."

    def __init__(self, *args, profile, can_change: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.profile, self.can_change = profile, can_change

    def render_group(self, record, value):
        return value.display_name

    def render_member_count(self, value):
        return f"{value:,}"

    def render_tier(self, value):
        return value.name

    def render_overage_cap(self, record):
        from kiroconsole.roles import Cap, has_cap  # this column's one use

        cap = record.overage_cap
        html = format_html('<span class="muted">{}</span>', "No cap") if cap is None else f"{cap:,.2f} credits"
        if has_cap(self.request.user, Cap.SETTINGS_CHANGE):
            url = reverse("profile-group-overage-cap", args=[self.profile.profile_id, record.group_id])
            label = "Set cap" if cap is None else "Change cap"
            html = format_html("{} {}", html, dialog_link(url, label, f"of {record.group.display_name}"))
        return html

    def render_assigned_at(self, value):
        return _day(value)

    def render_actions(self, record):
        name = record.group.display_name
        users = reverse("profile-users", args=[self.profile.profile_id]) + f"?group={record.group_id}"
        html = format_html(
            '<a class="button button-small" href="{}">Subscriptions<span class="visually-hidden"> of {}</span></a>',
            users,
            name,
        )
        if self.can_change:
            args = [self.profile.profile_id, record.group_id]
            html += dialog_link(reverse("profile-group-change-plan", args=args), "Change plan", f"of {name}")
            html += dialog_link(
                reverse("profile-group-unassign", args=args), "Unassign", name, "button button-small button-danger"
            )
        return format_html('<div class="row-actions">{}</div>', html)

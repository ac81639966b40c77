"""The usage dashboard of a profile (issue 8, items 2 and 6; DOMAIN.md §7): `?from=YYYY-MM-DD&to=YYYY-MM-DD`
(default this month) and `?period=day|week|month` (default day). A bad or reversed range is said at its field,
with status 200. With htmx the form and the period switch swap the `body` partial; without JavaScript they load
the page.

When the profile's "usage dashboard" setting is off, the page says so (and who can turn it on) and reads no usage.
A constant number of queries: session, user, roles, the header's notification count, profile, the setting, then
what `credits.dashboard.dashboard` reads (tiers, subscription counts, usage rows, active-user counters, top users,
this month's bill)."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from credits import charts
from credits.dashboard import PERIOD_WORDS, PERIODS, Dashboard, dashboard
from credits.models import ClientType
from credits.usage import date_range
from kiroconsole.roles import Cap, requires
from subscriptions import selectors
from subscriptions.calendar import UTC
from subscriptions.models import ProfileSettings

TEMPLATE = "credits/dashboard.html"
CLIENT_COLOURS = {ClientType.KIRO_IDE.value: charts.PALETTE[0], ClientType.KIRO_CLI.value: charts.PALETTE[1]}


def user_report_url(profile_id: str) -> str:
    """The user activity report's CSV, when the console has it."""
    try:
        return reverse("profile-user-report", args=[profile_id])
    except NoReverseMatch:
        return ""


def dashboard_on(profile) -> bool:
    return bool(ProfileSettings.objects.filter(profile=profile).values_list("usage_dashboard", flat=True).first())


def chart_context(dash: Dashboard) -> dict[str, Any]:
    """The SVG charts and their legends (credits.charts escapes every label)."""
    span, period = dash.span, PERIOD_WORDS[dash.period]
    labels = dash.active_users.labels
    where = f"from {span.label}"
    subs = [
        charts.Line("Active", charts.PALETTE[3], [t.active for t in dash.subscriptions]),
        charts.Line("Pending", charts.PALETTE[5], [t.pending for t in dash.subscriptions]),
    ]
    total = dash.subscriptions_total
    users = dash.active_users
    all_users = charts.Line("All users", charts.TOTAL_COLOUR, users.total.values, bold=True)
    users_by_client = [all_users, *charts.coloured(users.by_client, CLIENT_COLOURS)]
    users_by_tier = [all_users, *charts.coloured(users.by_tier)]
    credits = dash.credits
    credits_by_tier = charts.coloured(credits.by_tier)
    credits_by_client = charts.coloured(credits.by_client, CLIENT_COLOURS)
    top = dash.top_users
    top_lines = [
        charts.Line("Plan credits", charts.PALETTE[0], [row.plan_credits for row in top]),
        charts.Line("Overage credits", charts.PALETTE[1], [row.overage_credits for row in top]),
    ]

    def split(lines: list[charts.Line], places: int = 2) -> str:
        return "; ".join(f"{line.label} {charts.number(sum(line.values), places)}" for line in lines)

    busiest = max(range(len(labels)), key=lambda i: users.total.values[i], default=None)
    return {
        "subscriptions_chart": charts.bars(
            "chart-subscriptions",
            title="Subscriptions per tier",
            desc=f"Horizontal bars of active and pending subscriptions per tier: {total.active:,} active and "
            f"{total.pending:,} pending in all. The table below lists the numbers.",
            labels=[t.name for t in dash.subscriptions],
            lines=subs,
            unit="subscriptions",
            places=0,
        ),
        "subscriptions_legend": charts.legend_html(subs),
        "users_client_chart": charts.lines_chart(
            "chart-users-client",
            title=f"Active users per {period}, by client type",
            desc=f"Lines of distinct active users per {period} {where}: all users and each client type. "
            + (
                f"The busiest {period} was {labels[busiest]} with {users.total.values[busiest]:,} users. "
                if busiest is not None
                else ""
            )
            + "The table below lists the numbers.",
            labels=labels,
            lines=users_by_client,
            unit="users",
        ),
        "users_client_legend": charts.legend_html(users_by_client),
        "users_tier_chart": charts.lines_chart(
            "chart-users-tier",
            title=f"Active users per {period}, by tier",
            desc=f"Lines of distinct active users per {period} {where}: all users and each tier. "
            "The table below lists the numbers.",
            labels=labels,
            lines=users_by_tier,
            unit="users",
        ),
        "users_tier_legend": charts.legend_html(users_by_tier),
        "credits_tier_chart": charts.columns(
            "chart-credits-tier",
            title=f"Credits per {period}, by tier",
            desc=f"Stacked columns of credits consumed per {period} {where}, by tier: {split(credits_by_tier)}. "
            f"Total {charts.number(dash.total_credits, 2)} credits. The table below lists the numbers.",
            labels=credits.labels,
            lines=credits_by_tier,
            unit="credits",
        ),
        "credits_tier_legend": charts.legend_html(credits_by_tier),
        "credits_client_chart": charts.columns(
            "chart-credits-client",
            title=f"Credits per {period}, by client type",
            desc=f"Stacked columns of credits consumed per {period} {where}, by client type: "
            f"{split(credits_by_client)}. The table below lists the numbers.",
            labels=credits.labels,
            lines=credits_by_client,
            unit="credits",
        ),
        "credits_client_legend": charts.legend_html(credits_by_client),
        "top_chart": charts.bars(
            "chart-top-users",
            title=f"Top {len(top)} users by credits",
            desc=f"Horizontal bars of the credits of the {len(top)} users who used the most {where}, plan and "
            "overage credits stacked. The table below lists the numbers.",
            labels=[row.label for row in top],
            lines=top_lines,
            unit="credits",
        ),
        "top_legend": charts.legend_html(top_lines),
    }


@requires(Cap.VIEW)
@require_GET
def profile_dashboard(request, profile_id: str):
    profile = selectors.profile_by_id(profile_id)
    context: dict[str, Any] = {"profile": profile, "tab": "dashboard", "enabled": dashboard_on(profile)}
    if not context["enabled"]:
        return render(request, TEMPLATE, context)
    now = timezone.now()
    today = now.astimezone(UTC).date()
    start, end = request.GET.get("from", "").strip(), request.GET.get("to", "").strip()
    period = request.GET.get("period", "day")
    if period not in PERIODS:
        period = "day"
    context.update(
        {
            "from_text": start,
            "to_text": end,
            "period": period,
            "periods": list(PERIODS),
            "errors": {},
            "today": today,
            "report_url": user_report_url(profile.profile_id),
            "client_types": ClientType.choices,
        }
    )
    try:
        span = date_range(start, end, today=today)
    except ValidationError as exc:
        context["errors"] = {name: messages[0] for name, messages in exc.message_dict.items()}
    else:
        dash = dashboard(profile, span, period, now)
        context.update(chart_context(dash))
        context.update(
            {
                "dash": dash,
                "span": span,
                "from_text": f"{span.start:%Y-%m-%d}",
                "to_text": f"{span.end:%Y-%m-%d}",
                "period_word": PERIOD_WORDS[period],
                "report_date": min(span.end, today) if span.start <= today else span.end,
                "is_this_month": span.start == today.replace(day=1)
                and span.end
                == (today.replace(day=28) + datetime.timedelta(days=4)).replace(day=1) - datetime.timedelta(days=1),
            }
        )
    template = TEMPLATE + "#body" if request.htmx and not request.htmx.history_restore_request else TEMPLATE
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from kiroconsole.audit import Actor
from kiroconsole.forms import apply_service_errors
from kiroconsole.htmx_tables import table_page
from kiroconsole.roles import Cap, has_cap, requires
from subscriptions import selectors, services
from subscriptions.filters import ProfileFilter
from subscriptions.forms import SECTIONS, SECTIONS_BY_SLUG, ProfileEditForm, ProfileForm, SettingsForm
from subscriptions.models import SubscriptionStatus, Tier
from subscriptions.tables import ProfileTable


@requires(Cap.VIEW)
@require_GET
def profile_list(request):
    filterset = ProfileFilter(request.GET, queryset=selectors.profiles())
    return table_page(request, "subscriptions/profile_list.html", table=ProfileTable(filterset.qs), filterset=filterset)


def _render_profile_form(request, form):
    template = "subscriptions/profile_create.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#form"
    # The one-per-account-and-Region error links the profile that is already there.
    duplicate = next(
        (e.params for errors in form.errors.as_data().values() for e in errors if e.code == "duplicate_profile"),
        None,
    )
    return render(request, template, {"form": form, "duplicate": duplicate})


@requires(Cap.ORGANIZATION_CHANGE)
@require_http_methods(["GET", "POST"])
def profile_create(request):
    """The create dialog (a page of its own without JavaScript). `?validate=1` checks without creating, so the
    dialog can show a wrong Region or a duplicate profile as soon as it is chosen."""
    form = ProfileForm(request.POST or None)
    if request.method == "GET":
        return _render_profile_form(request, form)
    validate_only = request.GET.get("validate") == "1"
    if validate_only:
        # Check what is filled in so far; don't complain about fields the user hasn't reached yet.
        form.is_valid()
        for name in list(form.errors):
            if not form.data.get(name):
                del form.errors[name]
        try:
            services.profile_check(
                account=form.cleaned_data.get("account"),
                region=form.cleaned_data.get("region"),
                identity_center=form.cleaned_data.get("identity_center"),
                name=form.cleaned_data.get("name") or "",
                partial=True,
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        return _render_profile_form(request, form)
    if form.is_valid():
        try:
            profile = services.profile_create(**form.cleaned_data, actor=Actor.from_request(request))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Created the Kiro profile “{profile.name}”.")
            url = reverse("profile-detail", args=[profile.profile_id])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return _render_profile_form(request, form)


@dataclass
class TierRow:
    """A row of the profile page's subscriptions table: a tier's counts per status."""

    tier: Tier
    cells: list[tuple[SubscriptionStatus, int]]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.cells)


@requires(Cap.VIEW)
@require_GET
def profile_detail(request, profile_id: str):
    profile = selectors.profile_by_id(profile_id)
    settings = selectors.profile_settings(profile)
    counts = selectors.subscription_counts(profile, timezone.now())
    statuses = list(SubscriptionStatus)
    rows = [
        TierRow(tier=tier, cells=[(status, counts.get((tier.code, status), 0)) for status in statuses])
        for tier in selectors.tier_catalogue()
    ]
    totals = [sum(row.cells[i][1] for row in rows) for i in range(len(statuses))]
    return render(
        request,
        "subscriptions/profile_detail.html",
        {
            "profile": profile,
            "settings": settings,
            "statuses": statuses,
            "tier_rows": rows,
            "status_totals": totals,
            "subscription_total": sum(totals),
        },
    )


@requires(Cap.ORGANIZATION_CHANGE)
@require_http_methods(["GET", "POST"])
def profile_edit(request, profile_id: str):
    profile = selectors.profile_by_id(profile_id)
    form = ProfileEditForm(request.POST or None, initial={"name": profile.name, "description": profile.description})
    if request.method == "POST" and form.is_valid():
        try:
            services.profile_update(profile=profile, **form.cleaned_data, actor=Actor.from_request(request))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, "Saved the name and description.")
            return redirect("profile-detail", profile.profile_id)
    return render(request, "subscriptions/profile_edit.html", {"form": form, "profile": profile})


@requires(Cap.ORGANIZATION_CHANGE)
@require_http_methods(["GET", "POST"])
def profile_delete(request, profile_id: str):
    profile = selectors.profile_by_id(profile_id)
    error = None
    if request.method == "POST":
        try:
            services.profile_delete(profile=profile, actor=Actor.from_request(request))
        except ValidationError as exc:
            error = exc.messages[0]
        else:
            messages.success(request, f"Deleted the Kiro profile “{profile.name}”. Its history is kept.")
            return redirect("profile-list")
    return render(request, "subscriptions/profile_delete.html", {"profile": profile, "error": error})


def _section_context(request, profile, settings, section, form=None, saved=False):
    snapshot = services.settings_snapshot(settings)
    if form is None:
        form = SettingsForm.for_section(
            section,
            instance=settings,
            initial={"approved_models": snapshot["approved_models"], "default_model": snapshot["default_model"]},
        )
    if not has_cap(request.user, Cap.SETTINGS_CHANGE):
        for field in form.fields.values():
            field.disabled = True
    return {"section": section, "form": form, "saved": saved, "profile": profile}


@requires(Cap.VIEW)
@require_GET
def profile_settings(request, profile_id: str):
    profile = selectors.profile_by_id(profile_id)
    settings = selectors.profile_settings(profile)
    sections = [_section_context(request, profile, settings, section) for section in SECTIONS]
    return render(request, "subscriptions/profile_settings.html", {"profile": profile, "sections": sections})


@requires(Cap.SETTINGS_CHANGE)
@require_POST
def profile_settings_section(request, profile_id: str, section: str):
    """Save one section. With htmx the section answers in place ("Saved", or the errors at their fields);
    without JavaScript the page reloads with a message."""
    profile = selectors.profile_by_id(profile_id)
    if section not in SECTIONS_BY_SLUG:
        raise Http404("No such settings section.")
    spec = SECTIONS_BY_SLUG[section]
    settings = selectors.profile_settings(profile)
    form = SettingsForm.for_section(spec, request.POST, instance=settings)
    saved = False
    if form.is_valid():
        try:
            services.profile_settings_update(profile=profile, changes=form.changes(), actor=Actor.from_request(request))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            saved = True
    if request.htmx:
        settings = selectors.profile_settings(profile)
        ctx = _section_context(request, profile, settings, spec, form=None if saved else form, saved=saved)
        return render(request, "subscriptions/profile_settings.html#section", ctx)
    if saved:
        messages.success(request, f"Saved: {spec.title}.")
        return redirect(reverse("profile-settings", args=[profile.profile_id]) + f"#{spec.slug}")
    sections = [_section_context(request, profile, settings, s, form=form if s is spec else None) for s in SECTIONS]
    return render(
        request, "subscriptions/profile_settings.html", {"profile": profile, "sections": sections}, status=200
    )

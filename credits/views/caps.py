"""An assigned group's overage cap (DOMAIN.md §5 rule 4): a dialog opened from the Groups tab, a page of its own
without JavaScript (see `subscriptions.views.dialogs` for how a dialog works). The profile's shared cap is on the
settings page; a user's own cap on the user's subscription page."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.views.decorators.http import require_http_methods

from credits.forms import OverageCapForm
from credits.services import group_assignment_set_overage_cap
from kiroconsole.audit import Actor
from kiroconsole.forms import apply_service_errors
from kiroconsole.roles import Cap, requires
from subscriptions import selectors
from subscriptions.views.dialogs import dialog_done, groups_url, render_dialog

GROUP_CAP_HELP = (
    "Overage credits each member may use a month. Empty: no group cap (it does not lift the caps of the member's "
    "other groups). 0: no overage, unless another group of the member has a higher cap."
)


@requires(Cap.SETTINGS_CHANGE)
@require_http_methods(["GET", "POST"])
def group_overage_cap(request, profile_id: str, group_id):
    profile = selectors.profile_by_id(profile_id)
    assignment = selectors.group_assignment(profile, group_id)
    settings = selectors.profile_settings(profile)
    group = assignment.group
    before = assignment.overage_cap
    initial = {"overage_cap": "" if before is None else f"{before:.2f}"}
    form = OverageCapForm(request.POST or None, initial=initial, help_text=GROUP_CAP_HELP)
    if request.method == "POST" and form.is_valid():
        try:
            assignment = group_assignment_set_overage_cap(
                assignment=assignment, cap=form.cleaned_data["overage_cap"], actor=Actor.from_request(request)
            )
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            cap = assignment.overage_cap
            if cap == before:
                message = f"Nothing changed: {group.display_name} already had {_words(cap)}."
            else:
                message = f"{group.display_name} now has {_words(cap)}."
            return dialog_done(request, message, groups_url(profile))
    return render_dialog(
        request,
        "credits/group_overage_cap.html",
        {
            "profile": profile,
            "assignment": assignment,
            "settings": settings,
            "form": form,
            "title": f"Overage cap of {group.display_name}",
        },
    )


def _words(cap) -> str:
    if cap is None:
        return "no overage cap"
    if cap == 0:
        return "an overage cap of 0: no overage for its members, unless another of their groups allows more"
    return f"an overage cap of {cap:,.2f} credits a month per member"

from __future__ import annotations

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from directory import selectors, services, signals
from directory.filters import DirectoryGroupFilter, DirectoryUserFilter
from directory.forms import DirectoryGroupEditForm, DirectoryGroupForm, DirectoryUserEditForm, DirectoryUserForm
from directory.models import DirectoryUser
from directory.tables import DirectoryGroupTable, DirectoryUserTable, MemberTable
from kiroconsole.audit import Actor
from kiroconsole.forms import apply_service_errors
from kiroconsole.htmx_tables import table_page
from kiroconsole.roles import Cap, has_cap, requires
from kiroconsole.selectors import audit_events_for

MEMBER_SEARCH_LIMIT = 10
GROUP_SUGGESTION_LIMIT = 20


@requires(Cap.VIEW)
@require_GET
def user_list(request):
    filterset = DirectoryUserFilter(request.GET, queryset=selectors.users())
    table = DirectoryUserTable(filterset.qs)
    return table_page(
        request,
        "directory/user_list.html",
        table=table,
        filterset=filterset,
        context={"tab": "users"},
        count=filterset.known_count(),
    )


@requires(Cap.VIEW)
@require_GET
def group_list(request):
    filterset = DirectoryGroupFilter(request.GET, queryset=selectors.groups())
    table = DirectoryGroupTable(filterset.qs)
    return table_page(request, "directory/group_list.html", table=table, filterset=filterset, context={"tab": "groups"})


@requires(Cap.VIEW)
@require_GET
def group_suggest(request):
    """Type-ahead of the Users tab's group filter: the <option>s of its <datalist>, groups whose name contains
    what was typed."""
    typed = request.GET.get("group", "").strip()
    groups = selectors.groups_named_like(typed)[:GROUP_SUGGESTION_LIMIT] if typed else []
    return render(request, "directory/group_suggestions.html", {"groups": groups})


@requires(Cap.VIEW)
@require_GET
def user_detail(request, pk):
    user = selectors.user_by_id(pk)
    # Panels the apps above add (directory.signals.user_panels): the user's subscriptions in every profile.
    panels = [html for _, html in signals.user_panels.send(sender=DirectoryUser, request=request, user=user) if html]
    return render(
        request,
        "directory/user_detail.html",
        {
            "person": user,
            "groups": selectors.user_groups(user),
            "history": audit_events_for("directoryuser", str(user.pk))[:20],
            "panels": panels,
        },
    )


@requires(Cap.DIRECTORY_CHANGE)
@require_http_methods(["GET", "POST"])
def user_create(request):
    form = DirectoryUserForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        instance = data.pop("identity_center")
        try:
            user = services.directory_user_create(identity_center=instance, actor=Actor.from_request(request), **data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Added {user}.")
            return redirect("directory-user-detail", user.pk)
    return render(
        request,
        "components/form_page.html",
        {"form": form, "title": "Add a user", "submit": "Add user", "back": "directory-user-list"},
    )


@requires(Cap.DIRECTORY_CHANGE)
@require_http_methods(["GET", "POST"])
def user_edit(request, pk):
    user = selectors.user_by_id(pk)
    initial = {f: getattr(user, f) for f in services.USER_FIELDS}
    form = DirectoryUserEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.directory_user_update(user=user, actor=Actor.from_request(request), **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Saved {user}.")
            return redirect("directory-user-detail", user.pk)
    return render(
        request,
        "components/form_page.html",
        {"form": form, "title": f"Edit {user}", "submit": "Save", "back": "directory-user-list"},
    )


@requires(Cap.DIRECTORY_CHANGE)
@require_http_methods(["GET", "POST"])
def user_set_active(request, pk):
    """Deactivate (or reactivate) a user, after a confirmation."""
    user = selectors.user_by_id(pk)
    if request.method == "POST":
        services.directory_user_update(user=user, active=not user.active, actor=Actor.from_request(request))
        messages.success(request, f"{user} is now {'active' if user.active else 'deactivated'}.")
        return redirect("directory-user-detail", user.pk)
    return render(request, "directory/user_set_active.html", {"person": user})


@requires(Cap.DIRECTORY_CHANGE)
@require_http_methods(["GET", "POST"])
def user_delete(request, pk):
    user = selectors.user_by_id(pk)
    if request.method == "POST":
        services.directory_user_delete(user=user, actor=Actor.from_request(request))
        messages.success(request, f"Deleted {user}. Its history is kept.")
        return redirect("directory-user-list")
    return render(request, "directory/user_delete.html", {"person": user, "groups": selectors.user_groups(user)})


@requires(Cap.VIEW)
@require_GET
def group_detail(request, pk):
    group = selectors.group_by_id(pk)
    can_change = has_cap(request.user, Cap.DIRECTORY_CHANGE)
    table = MemberTable(selectors.group_members(group), group=group, can_change=can_change, prefix="members-")
    return table_page(
        request,
        "directory/group_detail.html",
        table=table,
        context={"group": group, "can_change_members": can_change},
        count=getattr(group, "member_count", None),  # counted with the group (selectors.groups)
    )


@requires(Cap.DIRECTORY_CHANGE)
@require_GET
def member_search(request, pk):
    """Type-ahead: users of the group's directory who are not members yet, matching `q`."""
    group = selectors.group_by_id(pk)
    q = request.GET.get("q", "").strip()
    candidates = []
    if q:
        candidates = list(
            selectors.search_users(selectors.users().filter(identity_center=group.identity_center), q)
            .exclude(memberships__group=group)
            .order_by("user_name")[:MEMBER_SEARCH_LIMIT]
        )
    base = "components/fragment.html" if request.htmx else "base.html"
    return render(
        request,
        "directory/member_search.html",
        {"group": group, "candidates": candidates, "q": q, "base_template": base},
    )


@requires(Cap.DIRECTORY_CHANGE)
@require_http_methods(["POST"])
def member_add(request, pk):
    group = selectors.group_by_id(pk)
    user_ids = request.POST.getlist("user_id")
    users = list(selectors.users().filter(pk__in=[u for u in user_ids if _is_uuid(u)]))
    if not users:
        messages.error(request, "Choose a user to add.")
    else:
        try:
            added = services.group_members_add(group=group, users=users, actor=Actor.from_request(request))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            names = ", ".join(u.user_name for u in users)
            messages.success(request, f"Added {names} to {group}." if added else f"{names} already in {group}.")
    return redirect("directory-group-detail", group.pk)


@requires(Cap.DIRECTORY_CHANGE)
@require_http_methods(["GET", "POST"])
def member_remove(request, pk, user_id):
    group = selectors.group_by_id(pk)
    user = selectors.user_by_id(user_id)
    if not selectors.membership_exists(group, user):
        raise Http404("This user is not a member of the group.")
    if request.method == "POST":
        removed = services.group_members_remove(group=group, users=[user], actor=Actor.from_request(request))
        if removed:
            messages.success(request, f"Removed {user.user_name} from {group}.")
        return redirect("directory-group-detail", group.pk)
    return render(request, "directory/member_remove.html", {"group": group, "person": user})


@requires(Cap.DIRECTORY_CHANGE)
@require_http_methods(["GET", "POST"])
def group_create(request):
    form = DirectoryGroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        instance = data.pop("identity_center")
        try:
            group = services.directory_group_create(identity_center=instance, actor=Actor.from_request(request), **data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Created the group {group}.")
            return redirect("directory-group-detail", group.pk)
    return render(
        request,
        "components/form_page.html",
        {"form": form, "title": "Create a group", "submit": "Create group", "back": "directory-group-list"},
    )


@requires(Cap.DIRECTORY_CHANGE)
@require_http_methods(["GET", "POST"])
def group_edit(request, pk):
    group = selectors.group_by_id(pk)
    initial = {f: getattr(group, f) for f in services.GROUP_FIELDS}
    form = DirectoryGroupEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.directory_group_update(group=group, actor=Actor.from_request(request), **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Saved {group}.")
            return redirect("directory-group-detail", group.pk)
    return render(
        request,
        "components/form_page.html",
        {"form": form, "title": f"Edit {group}", "submit": "Save", "back": "directory-group-list"},
    )


@requires(Cap.DIRECTORY_CHANGE)
@require_http_methods(["GET", "POST"])
def group_delete(request, pk):
    group = selectors.group_by_id(pk)
    if request.method == "POST":
        services.directory_group_delete(group=group, actor=Actor.from_request(request))
        messages.success(request, f"Deleted the group {group}.")
        return redirect("directory-group-list")
    return render(request, "directory/group_delete.html", {"group": group})


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True

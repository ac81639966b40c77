from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts import selectors, services
from accounts.filters import AwsAccountFilter, RegionFilter
from accounts.forms import AwsAccountEditForm, AwsAccountForm, IdentityCenterEditForm, IdentityCenterForm
from accounts.models import IdentityCenterInstance
from accounts.signals import identity_center_panels
from accounts.tables import AwsAccountTable, IdentityCenterTable, RegionTable
from kiroconsole.audit import Actor
from kiroconsole.forms import apply_service_errors
from kiroconsole.htmx_tables import table_page
from kiroconsole.roles import Cap, requires


@requires(Cap.VIEW)
@require_GET
def region_list(request):
    filterset = RegionFilter(request.GET, queryset=selectors.regions())
    return table_page(request, "accounts/region_list.html", table=RegionTable(filterset.qs), filterset=filterset)


@requires(Cap.VIEW)
@require_GET
def aws_account_list(request):
    filterset = AwsAccountFilter(request.GET, queryset=selectors.aws_accounts())
    table = AwsAccountTable(filterset.qs)
    return table_page(request, "accounts/aws_account_list.html", table=table, filterset=filterset)


@requires(Cap.VIEW)
@require_GET
def aws_account_detail(request, account_id: str):
    account = get_object_or_404(selectors.aws_accounts(), account_id=account_id)
    return render(
        request,
        "accounts/aws_account_detail.html",
        {"account": account, "instances": account.identity_centers.select_related("region")},
    )


@requires(Cap.ORGANIZATION_CHANGE)
@require_http_methods(["GET", "POST"])
def aws_account_create(request):
    form = AwsAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = services.aws_account_create(**form.cleaned_data, actor=Actor.from_request(request))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Added {account}.")
            return redirect("aws-account-detail", account.account_id)
    return render(
        request,
        "components/form_page.html",
        {"form": form, "title": "Add an AWS account", "submit": "Add account", "back": "aws-account-list"},
    )


@requires(Cap.ORGANIZATION_CHANGE)
@require_http_methods(["GET", "POST"])
def aws_account_edit(request, account_id: str):
    account = selectors.aws_account_by_id(account_id)
    form = AwsAccountEditForm(request.POST or None, initial={"name": account.name, "kind": account.kind})
    if request.method == "POST" and form.is_valid():
        try:
            services.aws_account_update(account=account, **form.cleaned_data, actor=Actor.from_request(request))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Saved {account}.")
            return redirect("aws-account-detail", account.account_id)
    return render(
        request,
        "components/form_page.html",
        {"form": form, "title": f"Edit {account}", "submit": "Save", "back": "aws-account-list"},
    )


@requires(Cap.ORGANIZATION_CHANGE)
@require_http_methods(["GET", "POST"])
def aws_account_delete(request, account_id: str):
    account = selectors.aws_account_by_id(account_id)
    error = None
    if request.method == "POST":
        try:
            services.aws_account_delete(account=account, actor=Actor.from_request(request))
        except ValidationError as exc:
            error = exc.messages[0]
        else:
            messages.success(request, f"Deleted {account}.")
            return redirect("aws-account-list")
    return render(request, "accounts/aws_account_delete.html", {"account": account, "error": error})


@requires(Cap.VIEW)
@require_GET
def identity_center_list(request):
    table = IdentityCenterTable(selectors.identity_centers())
    return table_page(request, "accounts/identity_center_list.html", table=table)


@requires(Cap.VIEW)
@require_GET
def identity_center_detail(request, pk):
    instance = get_object_or_404(selectors.identity_centers(), pk=pk)
    panels = [
        html
        for _, html in identity_center_panels.send(sender=IdentityCenterInstance, request=request, instance=instance)
        if html
    ]
    return render(
        request,
        "accounts/identity_center_detail.html",
        {
            "instance": instance,
            "profiles": instance.profiles.filter(deleted_at__isnull=True).select_related("region"),
            "panels": panels,
        },
    )


@requires(Cap.ORGANIZATION_CHANGE)
@require_http_methods(["GET", "POST"])
def identity_center_create(request):
    form = IdentityCenterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            instance = services.identity_center_create(**form.cleaned_data, actor=Actor.from_request(request))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Registered {instance}.")
            return redirect("identity-center-detail", instance.pk)
    return render(
        request,
        "components/form_page.html",
        {
            "form": form,
            "title": "Register an Identity Center instance",
            "submit": "Register",
            "back": "identity-center-list",
        },
    )


@requires(Cap.ORGANIZATION_CHANGE)
@require_http_methods(["GET", "POST"])
def identity_center_edit(request, pk):
    instance = get_object_or_404(selectors.identity_centers(), pk=pk)
    form = IdentityCenterEditForm(request.POST or None, initial={"name": instance.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.identity_center_update(instance=instance, **form.cleaned_data, actor=Actor.from_request(request))
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, f"Saved {instance}.")
            return redirect("identity-center-detail", instance.pk)
    return render(
        request,
        "components/form_page.html",
        {"form": form, "title": f"Rename {instance}", "submit": "Save", "back": "identity-center-list"},
    )

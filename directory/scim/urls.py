"""SCIM URLs, included at /scim/ by kiroconsole/urls.py: the endpoints of /scim/v2/ (CONTRACTS.md), then SCIM
errors for everything else under /scim/ (501 for what IAM Identity Center does not offer, 404 for the rest)."""

from django.urls import path, re_path

from directory.scim import views

urlpatterns = [
    path("v2/", views.not_found, name="scim-root"),
    re_path(r"^v2/ServiceProviderConfig/?$", views.service_provider_config, name="scim-service-provider-config"),
    re_path(r"^v2/Schemas/?$", views.schemas, name="scim-schemas"),
    re_path(r"^v2/Schemas/(?P<urn>[^/]+)/?$", views.schema_detail, name="scim-schema"),
    re_path(r"^v2/ResourceTypes/?$", views.resource_types, name="scim-resource-types"),
    re_path(r"^v2/ResourceTypes/(?P<name>[^/]+)/?$", views.resource_type_detail, name="scim-resource-type"),
    re_path(r"^v2/(?:(?:Users|Groups)/)?\.search/?$", views.not_implemented, name="scim-search"),
    re_path(r"^v2/(?:Bulk|Me)(?:/.*)?$", views.not_implemented, name="scim-not-implemented"),
    re_path(r"^v2/Users/?$", views.users, name="scim-users"),
    re_path(r"^v2/Users/(?P<user_id>[^/]+)/?$", views.user_detail, name="scim-user"),
    re_path(r"^v2/Groups/?$", views.groups, name="scim-groups"),
    re_path(r"^v2/Groups/(?P<group_id>[^/]+)/?$", views.group_detail, name="scim-group"),
    re_path(r"^", views.not_found, name="scim-not-found"),
]

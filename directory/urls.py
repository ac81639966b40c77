from django.urls import path

from directory import views
from directory.scim import pages as scim_pages

urlpatterns = [
    path("directory/users/", views.user_list, name="directory-user-list"),
    path("directory/users/new/", views.user_create, name="directory-user-create"),
    path("directory/users/<uuid:pk>/", views.user_detail, name="directory-user-detail"),
    path("directory/users/<uuid:pk>/edit/", views.user_edit, name="directory-user-edit"),
    path("directory/users/<uuid:pk>/activation/", views.user_set_active, name="directory-user-activation"),
    path("directory/users/<uuid:pk>/delete/", views.user_delete, name="directory-user-delete"),
    path("directory/groups/", views.group_list, name="directory-group-list"),
    path("directory/groups/new/", views.group_create, name="directory-group-create"),
    path("directory/groups/suggest/", views.group_suggest, name="directory-group-suggest"),
    path("directory/groups/<uuid:pk>/", views.group_detail, name="directory-group-detail"),
    path("directory/groups/<uuid:pk>/edit/", views.group_edit, name="directory-group-edit"),
    path("directory/groups/<uuid:pk>/delete/", views.group_delete, name="directory-group-delete"),
    path("directory/groups/<uuid:pk>/members/search/", views.member_search, name="directory-member-search"),
    path("directory/groups/<uuid:pk>/members/add/", views.member_add, name="directory-member-add"),
    path(
        "directory/groups/<uuid:pk>/members/<uuid:user_id>/remove/",
        views.member_remove,
        name="directory-member-remove",
    ),
    # SCIM tokens, on the Identity Center page (directory/scim/pages.py; the SCIM endpoints are under /scim/v2/).
    path(
        "organization/identity-centers/<uuid:pk>/scim-tokens/new/",
        scim_pages.scim_token_create,
        name="identity-center-scim-token-create",
    ),
    path(
        "organization/identity-centers/<uuid:pk>/scim-tokens/<int:token_id>/revoke/",
        scim_pages.scim_token_revoke,
        name="identity-center-scim-token-revoke",
    ),
]

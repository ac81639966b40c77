from django.urls import path

from subscriptions import views

urlpatterns = [
    path("profiles/", views.profile_list, name="profile-list"),
    path("profiles/new/", views.profile_create, name="profile-create"),
    path("profiles/<str:profile_id>/", views.profile_detail, name="profile-detail"),
    path("profiles/<str:profile_id>/edit/", views.profile_edit, name="profile-edit"),
    path("profiles/<str:profile_id>/delete/", views.profile_delete, name="profile-delete"),
    path("profiles/<str:profile_id>/settings/", views.profile_settings, name="profile-settings"),
    path(
        "profiles/<str:profile_id>/settings/<slug:section>/",
        views.profile_settings_section,
        name="profile-settings-section",
    ),
]

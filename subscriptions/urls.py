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
    # Users & Groups of a profile (subscriptions), and the bill preview.
    path("profiles/<str:profile_id>/users/", views.subscription_list, name="profile-users"),
    path(
        "profiles/<str:profile_id>/users/change-plan/",
        views.subscription_change_plan,
        name="profile-subscription-change-plan",
    ),
    path(
        "profiles/<str:profile_id>/users/unsubscribe/",
        views.subscription_unsubscribe,
        name="profile-subscription-unsubscribe",
    ),
    path("profiles/<str:profile_id>/subscribe/", views.subscribe, name="profile-subscribe"),
    path("profiles/<str:profile_id>/groups/", views.group_list, name="profile-groups"),
    path("profiles/<str:profile_id>/groups/suggest/", views.group_suggest, name="profile-group-suggest"),
    path(
        "profiles/<str:profile_id>/groups/<uuid:group_id>/change-plan/",
        views.group_change_plan,
        name="profile-group-change-plan",
    ),
    path(
        "profiles/<str:profile_id>/groups/<uuid:group_id>/unassign/",
        views.group_unassign,
        name="profile-group-unassign",
    ),
    path("profiles/<str:profile_id>/bill/", views.bill_preview, name="profile-bill"),
]

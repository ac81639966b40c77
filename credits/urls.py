from django.urls import path

from credits import views

urlpatterns = [
    path(
        "profiles/<str:profile_id>/users/<uuid:user_id>/",
        views.subscription_detail,
        name="profile-subscription",
    ),
    path(
        "profiles/<str:profile_id>/users/<uuid:user_id>/overage-cap/",
        views.subscription_overage_cap,
        name="profile-subscription-overage-cap",
    ),
    path(
        "profiles/<str:profile_id>/groups/<uuid:group_id>/overage-cap/",
        views.group_overage_cap,
        name="profile-group-overage-cap",
    ),
    path("notifications/", views.notification_list, name="notification-list"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
    path("notifications/read-all/", views.notification_read_all, name="notification-read-all"),
]

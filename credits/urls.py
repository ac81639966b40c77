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
    path("profiles/<str:profile_id>/dashboard/", views.profile_dashboard, name="profile-dashboard"),
    path("profiles/<str:profile_id>/chargeback/", views.profile_chargeback, name="profile-chargeback"),
    path("profiles/<str:profile_id>/chargeback.csv", views.profile_chargeback_csv, name="profile-chargeback-csv"),
    path("profiles/<str:profile_id>/user-activity-report/", views.profile_user_report, name="profile-user-report"),
    path("profiles/<str:profile_id>/usage/", views.profile_usage, name="profile-usage"),
    path("profiles/<str:profile_id>/usage.csv", views.profile_usage_csv, name="profile-usage-csv"),
    path("notifications/", views.notification_list, name="notification-list"),
    path("notifications/<int:pk>/read/", views.notification_read, name="notification-read"),
    path("notifications/read-all/", views.notification_read_all, name="notification-read-all"),
]

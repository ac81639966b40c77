from django.urls import path

from accounts import views

urlpatterns = [
    path("organization/regions/", views.region_list, name="region-list"),
    path("organization/accounts/", views.aws_account_list, name="aws-account-list"),
    path("organization/accounts/new/", views.aws_account_create, name="aws-account-create"),
    path("organization/accounts/<str:account_id>/", views.aws_account_detail, name="aws-account-detail"),
    path("organization/accounts/<str:account_id>/edit/", views.aws_account_edit, name="aws-account-edit"),
    path("organization/accounts/<str:account_id>/delete/", views.aws_account_delete, name="aws-account-delete"),
    path("organization/identity-centers/", views.identity_center_list, name="identity-center-list"),
    path("organization/identity-centers/new/", views.identity_center_create, name="identity-center-create"),
    path("organization/identity-centers/<uuid:pk>/", views.identity_center_detail, name="identity-center-detail"),
    path("organization/identity-centers/<uuid:pk>/edit/", views.identity_center_edit, name="identity-center-edit"),
]

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """AWS accounts, Regions and IAM Identity Center instances."""

    name = "accounts"
    verbose_name = "AWS accounts and Regions"

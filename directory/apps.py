from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    """Identity Center directories: users, groups, memberships, their imports and SCIM."""

    name = "directory"
    verbose_name = "Identity directory"

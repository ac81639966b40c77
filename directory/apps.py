from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    """Identity Center directories: users, groups, memberships, their imports and SCIM."""

    name = "directory"
    verbose_name = "Identity directory"

    def ready(self):
        from accounts.models import IdentityCenterInstance
        from accounts.signals import identity_center_panels
        from directory.scim.pages import identity_center_panel

        identity_center_panels.connect(
            identity_center_panel, sender=IdentityCenterInstance, dispatch_uid="directory.scim_panel"
        )

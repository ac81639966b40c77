from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class KiroConsoleConfig(AppConfig):
    """Core: settings, roles and access, the audit trail, API tokens, the API and SCIM composition."""

    name = "kiroconsole"
    verbose_name = "Console"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in, user_logged_out
        from django.db.models.signals import post_migrate

        from kiroconsole import signals
        from kiroconsole.roles import sync_role_permissions

        # After every migrate (Django creates the permissions of new models in its own post_migrate handler,
        # which runs first because django.contrib.auth is listed before this app).
        post_migrate.connect(sync_role_permissions, dispatch_uid="kiroconsole.sync_role_permissions")
        user_logged_in.connect(signals.audit_login, dispatch_uid="kiroconsole.audit_login")
        user_logged_out.connect(signals.audit_logout, dispatch_uid="kiroconsole.audit_logout")
        # Tokens this process found valid are checked again after any change of a token, a console user or a
        # role, from any entry point (the services, the Django admin) (`api_token_authenticate`).
        from django.contrib.auth.models import Group
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from kiroconsole.models import ApiToken, User
        from kiroconsole.services import forget_verified_tokens_on_commit

        for model in (ApiToken, User, Group):
            for signal in (post_save, post_delete):
                uid = f"kiroconsole.forget_verified_tokens.{model.__name__}"
                signal.connect(forget_verified_tokens_on_commit, sender=model, dispatch_uid=uid)
        m2m_changed.connect(
            forget_verified_tokens_on_commit, sender=User.groups.through, dispatch_uid="kiro.forget.groups"
        )


class KiroAdminConfig(AdminConfig):
    default_site = "kiroconsole.admin_site.KiroAdminSite"

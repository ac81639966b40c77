from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    """Kiro profiles and their settings, tiers, subscriptions, group assignments and billing."""

    name = "subscriptions"
    verbose_name = "Profiles and subscriptions"

    def ready(self) -> None:
        """Subscriptions follow the directory (STYLE.md: the lower app's signals, connected here): members
        added to or removed from assigned groups, users deactivated, reactivated, renamed or deleted, groups
        deleted; and a user's page shows its subscriptions."""
        from directory import signals
        from subscriptions.services import subscribing

        def receiver(service):
            def receive(sender, **kwargs):
                service(**kwargs)

            return receive

        for signal, service in (
            (signals.memberships_changed, subscribing.subscriptions_follow_memberships),
            (signals.users_activation_changed, subscribing.subscriptions_follow_activation),
            (signals.users_deleted, subscribing.subscriptions_follow_deleted_users),
            (signals.users_renamed, subscribing.subscriptions_follow_renames),
            (signals.groups_deleted, subscribing.subscriptions_follow_deleted_groups),
        ):
            signal.connect(receiver(service), weak=False, dispatch_uid=f"subscriptions.{service.__name__}")

        # A directory user's page lists its subscriptions in every profile.
        from directory.models import DirectoryUser
        from subscriptions.views.panels import user_subscriptions_panel

        signals.user_panels.connect(
            user_subscriptions_panel, sender=DirectoryUser, dispatch_uid="subscriptions.user_subscriptions_panel"
        )

from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    """Kiro profiles and their settings, tiers, subscriptions, group assignments and billing."""

    name = "subscriptions"
    verbose_name = "Profiles and subscriptions"

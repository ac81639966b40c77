from django.apps import AppConfig


class CreditsConfig(AppConfig):
    """Usage events, balances, caps, entitlement, rollups, dashboards and reports."""

    name = "credits"
    verbose_name = "Credits and usage"

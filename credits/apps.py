from django.apps import AppConfig


class CreditsConfig(AppConfig):
    """Usage events, balances, caps, entitlement, rollups, dashboards and reports."""

    name = "credits"
    verbose_name = "Credits and usage"

    def ready(self) -> None:
        """The bill of a month counts the overage credits recorded here (subscriptions.billing.OVERAGE_SOURCES)."""
        from credits import catalogue  # noqa: F401  (connects its cache clearing to catalogue changes)
        from credits.selectors import profile_overage_credits
        from subscriptions import billing

        if profile_overage_credits not in billing.OVERAGE_SOURCES:
            billing.OVERAGE_SOURCES.append(profile_overage_credits)

from django.apps import AppConfig


class CreditsConfig(AppConfig):
    """Usage events, balances, caps, entitlement, rollups, dashboards and reports."""

    name = "credits"
    verbose_name = "Credits and usage"

    def ready(self) -> None:
        """The bill of a month counts the overage credits recorded here (subscriptions.billing.OVERAGE_SOURCES);
        usage kept per group follows the directory's memberships."""
        from credits import catalogue  # noqa: F401  (connects its cache clearing to catalogue changes)
        from credits.selectors import profile_overage_credits
        from subscriptions import billing

        if profile_overage_credits not in billing.OVERAGE_SOURCES:
            billing.OVERAGE_SOURCES.append(profile_overage_credits)

        # Usage per group follows the groups' members (STYLE.md: the lower app's signal, connected here).
        from credits.services.rollups import group_rollups_follow_memberships
        from directory import signals

        def receive(sender, **kwargs):
            group_rollups_follow_memberships(**kwargs)

        signals.memberships_changed.connect(receive, weak=False, dispatch_uid="credits.group_rollups")

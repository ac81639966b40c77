"""The credits app's pages: a subscription's use, caps and events (`subscription`), an assigned group's overage cap
(`caps`), and the alerts (`notifications`)."""

from credits.views.caps import group_overage_cap
from credits.views.notifications import notification_list, notification_read, notification_read_all
from credits.views.subscription import subscription_detail, subscription_overage_cap

__all__ = [
    "group_overage_cap",
    "notification_list",
    "notification_read",
    "notification_read_all",
    "subscription_detail",
    "subscription_overage_cap",
]

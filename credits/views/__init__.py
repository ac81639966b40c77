"""The credits app's pages: a subscription's use, caps and events (`subscription`), an assigned group's overage cap
(`caps`), the usage dashboard (`dashboard`) and explorer (`explorer`), the alerts (`notifications`), a month's cost
by group (`chargeback`), and the user activity report's download (`reports`)."""

from credits.views.caps import group_overage_cap
from credits.views.chargeback import profile_chargeback, profile_chargeback_csv
from credits.views.dashboard import profile_dashboard
from credits.views.explorer import profile_usage, profile_usage_csv
from credits.views.notifications import notification_list, notification_read, notification_read_all
from credits.views.reports import profile_user_report
from credits.views.subscription import subscription_detail, subscription_overage_cap

__all__ = [
    "group_overage_cap",
    "notification_list",
    "notification_read",
    "notification_read_all",
    "profile_chargeback",
    "profile_chargeback_csv",
    "profile_dashboard",
    "profile_usage",
    "profile_usage_csv",
    "profile_user_report",
    "subscription_detail",
    "subscription_overage_cap",
]

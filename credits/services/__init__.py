"""Write services of the credits app: recording usage (`metering`), caps (`caps`), alerts (`alerts`); and the
read-only entitlement rules (`entitlement`)."""

from credits.services.caps import group_assignment_set_overage_cap, subscription_set_overage_cap
from credits.services.entitlement import Entitlement, entitlement_for
from credits.services.metering import Result, UnknownUser, usage_record
from credits.services.notifications import notification_mark_read, notifications_mark_all_read

__all__ = [
    "Entitlement",
    "Result",
    "UnknownUser",
    "entitlement_for",
    "group_assignment_set_overage_cap",
    "notification_mark_read",
    "notifications_mark_all_read",
    "subscription_set_overage_cap",
    "usage_record",
]

"""The subscriptions app's pages: profiles and their settings (`profiles`), a profile's Users and Groups tabs with
their dialogs (`subscribers`, `subscribe`, `dialogs`), the bill preview (`billing`), and the panel a directory user's
page shows (`panels`)."""

from subscriptions.views.billing import bill_preview
from subscriptions.views.profiles import (
    profile_create,
    profile_delete,
    profile_detail,
    profile_edit,
    profile_list,
    profile_settings,
    profile_settings_section,
)
from subscriptions.views.subscribe import subscribe
from subscriptions.views.subscribers import (
    group_change_plan,
    group_list,
    group_suggest,
    group_unassign,
    subscription_change_plan,
    subscription_list,
    subscription_unsubscribe,
)

__all__ = [
    "bill_preview",
    "group_change_plan",
    "group_list",
    "group_suggest",
    "group_unassign",
    "profile_create",
    "profile_delete",
    "profile_detail",
    "profile_edit",
    "profile_list",
    "profile_settings",
    "profile_settings_section",
    "subscribe",
    "subscription_change_plan",
    "subscription_list",
    "subscription_unsubscribe",
]

"""What the directory tells the apps above it (STYLE.md: lower apps send signals, higher apps connect in their
apps.py). Each signal is sent once per operation, inside the operation's transaction, so a receiver's writes
(subscriptions following memberships) commit or roll back with the change itself.

memberships_changed(sender, identity_center, added, removed, actor)
    added / removed: lists of (group_id, user_id) UUID pairs that really changed (no-ops are left out).
    Sent by every entry point: pages, API, SCIM, imports, the admin, and user or group deletion.
users_deleted(sender, identity_center, user_ids, actor)
    Users marked deleted (their memberships are reported as removed first, by memberships_changed).
users_activation_changed(sender, identity_center, user_ids, active, actor)
    Users (de)activated.
users_renamed(sender, identity_center, user_ids, actor)
    Users whose user name changed (pages, API, SCIM, imports, the admin).
groups_deleted(sender, identity_center, group_ids, actor)
    Groups marked deleted (memberships reported removed first).
user_panels(sender, request, user)
    Sent while a user's page (directory.views.user_detail) is built. A receiver returns a panel of HTML for the page
    (safe, rendered with the request), or None. The subscriptions app adds the user's subscription in every profile.
"""

from django.dispatch import Signal

memberships_changed = Signal()
users_deleted = Signal()
users_activation_changed = Signal()
users_renamed = Signal()
groups_deleted = Signal()
user_panels = Signal()

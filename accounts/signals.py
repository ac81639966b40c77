"""What the accounts app lets the apps above it add (STYLE.md: lower apps send signals, higher apps connect in
their apps.py).

identity_center_panels(sender, request, instance)
    Sent while the Identity Center page (accounts.views.identity_center_detail) is built. A receiver returns a
    panel of HTML for the page (safe, rendered with the request), or None. The directory adds its SCIM panel
    this way: the endpoint URL, the tokens and the last provisioning activity.
"""

from django.dispatch import Signal

identity_center_panels = Signal()

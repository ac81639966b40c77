"""Receivers for Django's authentication signals: log-ins and log-outs go to the audit trail."""

from kiroconsole.audit import Actor, audit_record


def audit_login(sender, request, user, **kwargs):
    if request is not None:
        audit_record(actor=Actor.from_request(request, user=user), action="console_user.login", target=user)


def audit_logout(sender, request, user, **kwargs):
    if request is not None and user is not None:
        audit_record(actor=Actor.from_request(request, user=user), action="console_user.logout", target=user)

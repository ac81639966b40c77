"""Usage alerts (DOMAIN.md §5 rule 7): a user crossing 50, 75, 90 and 100% of the month's allowance, a profile
reaching its shared overage cap. Raised by the metering transaction while it holds the balance's lock, so each
crossing is seen once; the unique `key` keeps it to one notification per threshold and month regardless.
Administrators with an email address get each new one by mail after the transaction commits."""

from __future__ import annotations

import datetime
import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q

from credits.models import Notification, NotificationKind, credits_of
from kiroconsole.roles import Role
from subscriptions.models import Profile, ProfileSettings

THRESHOLDS = (50, 75, 90, 100)
log = logging.getLogger(__name__)


class Alerts:
    def __init__(self, profile: Profile, settings: ProfileSettings):
        self.profile = profile
        self.settings = settings
        self.pending: dict[str, Notification] = {}

    def allowance(self, sub: Any, user_name: str, month: datetime.date, account: Any) -> None:
        """`account` holds the balance before (`start_*`) and after this call."""
        if account.allowance <= 0:
            return
        before = account.start_plan + account.start_overage
        after = account.plan + account.overage
        for threshold in THRESHOLDS:
            line = account.allowance * threshold / 100
            if before < line <= after:
                self._add(
                    f"allowance:{sub.pk}:{month:%Y-%m}:{threshold}",
                    kind=NotificationKind.ALLOWANCE,
                    subscription_id=sub.pk,
                    month=month,
                    threshold=threshold,
                    message=(
                        f"{user_name} has used {threshold}% of the {month:%B %Y} allowance in {self.profile.name} "
                        f"({credits_of(after):,.2f} of {credits_of(account.allowance):,.2f} credits)."
                    ),
                )

    def shared_cap(self, month: datetime.date, shared: Any, cap: int) -> None:
        if shared.start_overage < cap <= shared.overage:
            self.shared_cap_reached(month)

    def shared_cap_reached(self, month: datetime.date) -> None:
        cap = self.settings.overage_shared_cap
        self._add(
            f"shared:{self.profile.pk}:{month:%Y-%m}",
            kind=NotificationKind.SHARED_CAP,
            subscription_id=None,
            month=month,
            threshold=100,
            message=(
                f"{self.profile.name} has reached its shared overage cap of {cap:,.2f} credits for {month:%B %Y}: "
                "further overage is refused until the 1st."
            ),
        )

    def _add(self, key: str, **values: Any) -> None:
        if key not in self.pending:
            self.pending[key] = Notification(key=key, profile=self.profile, **values)

    def save(self) -> None:
        if not self.pending:
            return
        known = set(Notification.objects.filter(key__in=list(self.pending)).values_list("key", flat=True))
        new = [n for key, n in self.pending.items() if key not in known]
        if not new:
            return
        Notification.objects.bulk_create(new, ignore_conflicts=True)
        messages = [n.message for n in new]
        transaction.on_commit(lambda: mail_administrators(messages))


def administrator_emails() -> list[str]:
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    return sorted(
        set(
            users.filter(Q(is_superuser=True) | Q(groups__name=Role.ADMINISTRATOR.value)).values_list(
                "email", flat=True
            )
        )
    )


def mail_administrators(messages: list[str]) -> None:
    recipients = administrator_emails()
    if not recipients:
        return
    for message in messages:
        try:
            send_mail(f"Kiro console alert: {message[:120]}", message, None, recipients)
        except Exception:  # a mail relay that is down must not fail metering: the alert is in the console
            log.exception("could not mail an alert to administrators")

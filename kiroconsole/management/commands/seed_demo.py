"""An idempotent demo organization (CONTRACTS.md `seed_demo`).

A composition command: like kiroconsole/urls.py it may call every app's services. Each later issue adds its
part (accounts, Identity Center, profiles, directory, subscriptions, usage) here, always through services
and always idempotent: running it twice changes nothing the second time.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from kiroconsole.audit import Actor
from kiroconsole.models import ApiToken, User
from kiroconsole.roles import Role
from kiroconsole.services import api_token_create, console_user_create

DEMO_CONSOLE_USERS = [
    # (user name, role, e-mail); demo users get unusable passwords: log in as the administrator.
    ("dana.support", Role.SUPPORT, "dana.support@example.com"),
    ("vic.viewer", Role.VIEWER, "vic.viewer@example.com"),
    ("kiro-metering", Role.METERING, ""),
]


class Command(BaseCommand):
    help = "Create (or complete) the demo organization. Safe to run again."

    def handle(self, *args, **options):
        actor = Actor.for_command("seed_demo")
        created = 0
        with transaction.atomic():
            for username, role, email in DEMO_CONSOLE_USERS:
                if not User.objects.filter(username=username).exists():
                    console_user_create(username=username, password=None, role=role, email=email, actor=actor)
                    created += 1
            metering = User.objects.get(username="kiro-metering")
            if not ApiToken.objects.filter(user=metering, name="Kiro service (demo)").exists():
                # The raw value is discarded: the demo token only shows what the tokens page lists.
                api_token_create(user=metering, name="Kiro service (demo)", expires_at=None, actor=actor)
                created += 1
        self.stdout.write(
            f"Demo organization ready: created {created}, unchanged {len(DEMO_CONSOLE_USERS) + 1 - created}."
        )

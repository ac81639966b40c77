"""Print a new API token for a console user, once (CONTRACTS.md). Only its hash is stored."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from kiroconsole.audit import Actor
from kiroconsole.models import User
from kiroconsole.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token for USERNAME and print it once."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="What the token is for.")
        parser.add_argument(
            "--days", type=int, default=365, help="Days until it expires (default 365; 0: never expires)."
        )

    def handle(self, *args, username, name, days, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No console user named {username!r}.", returncode=2)
        if days < 0:
            raise CommandError("--days must be 0 (never) or more.", returncode=2)
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            token, raw = api_token_create(
                user=user, name=name, expires_at=expires_at, actor=Actor.for_command("create_api_token")
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stderr.write(
            f"Token {token.prefix}… for {username} ({user.role or 'no role'}), "
            f"{'expires ' + f'{expires_at:%Y-%m-%d}' if expires_at else 'never expires'}. It is shown only now:"
        )
        self.stdout.write(raw)

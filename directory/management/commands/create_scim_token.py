"""`create_scim_token --identity-store ID` (CONTRACTS.md): print a new SCIM bearer token of a directory, once.

Only its hash is stored. A directory has at most two valid tokens: a third is refused (exit status 1) until one is
revoked on the Identity Center page. `--identity-store` may be left out when there is one Identity Center.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from directory.management.commands._import import identity_center_option
from directory.services import scim_token_create
from kiroconsole.audit import Actor


class Command(BaseCommand):
    help = "Create a SCIM token for a directory (Identity Center instance) and print it once."

    def add_arguments(self, parser):
        parser.add_argument(
            "--identity-store",
            metavar="ID",
            help="the directory's identity store id (d-...); may be left out when there is only one",
        )

    def handle(self, *args, identity_store: str | None, **options):
        identity_center = identity_center_option(identity_store)
        try:
            token, raw = scim_token_create(
                identity_center=identity_center, actor=Actor.for_command("create_scim_token")
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages), returncode=1) from exc
        self.stderr.write(
            f"SCIM token {token.prefix}… for {identity_center} (endpoint path {reverse('scim-root')}), expires "
            f"{token.expires_at:%Y-%m-%d}. It is shown only now:"
        )
        self.stdout.write(raw)

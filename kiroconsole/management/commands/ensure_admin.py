"""Make sure an administrator can log in: create the console user if missing, print how to log in.

  manage.py ensure_admin                      # user "admin"; password from $KIRO_ADMIN_PASSWORD, else generated
  manage.py ensure_admin --username alice --password-file /run/secrets/alice

A generated password is written to var/admin-password.txt (mode 600) so that the dev command can print it
again on the next start. An existing user keeps its password unless --reset-password is given.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from kiroconsole.audit import Actor
from kiroconsole.models import User
from kiroconsole.roles import Role
from kiroconsole.services import console_user_create, console_user_set_password, console_user_set_role


class Command(BaseCommand):
    help = "Create (or check) an administrator console user and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default="")
        parser.add_argument("--password-file", help="Read the password from this file instead of generating one.")
        parser.add_argument("--reset-password", action="store_true", help="Set a new password on an existing user.")

    def handle(self, *args, username, email, password_file, reset_password, **options):
        actor = Actor.for_command("ensure_admin")
        saved = Path(settings.VAR_DIR) / f"{username}-password.txt"
        password = None
        if password_file:
            try:
                password = Path(password_file).read_text().strip()
            except OSError as exc:
                raise CommandError(f"{password_file}: {exc.strerror}") from exc
        password = password or os.environ.get("KIRO_ADMIN_PASSWORD") or None

        user = User.objects.filter(username=username).first()
        if user is None:
            password = password or secrets.token_urlsafe(12)
            user = console_user_create(
                username=username, password=password, role=Role.ADMINISTRATOR, email=email, actor=actor
            )
            self._remember(saved, password, password_file)
            self.stdout.write(f"Created administrator {username!r}.")
        else:
            if user.role != Role.ADMINISTRATOR:
                console_user_set_role(user=user, role=Role.ADMINISTRATOR, actor=actor)
            if reset_password:
                password = password or secrets.token_urlsafe(12)
                console_user_set_password(user=user, password=password, actor=actor)
                self._remember(saved, password, password_file)
            elif saved.exists():
                password = saved.read_text().strip()
        self.stdout.write(f"Log in as: {username}")
        if password and not password_file:
            self.stdout.write(f"Password:  {password}")
        elif not password:
            self.stdout.write("Password:  (unchanged; use --reset-password to set a new one)")

    def _remember(self, path: Path, password: str, password_file: str | None) -> None:
        if password_file:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)

"""`import_subscriptions FILE --profile P [--dry-run]` (CONTRACTS.md): `type,name,tier` rows subscribe users directly
and assign groups. The rules of the file are in subscriptions/importers.py; the error lines, progress bar, summary
line and exit statuses are the directory imports' (directory/management/commands/_import.py)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from tqdm import tqdm

from directory.management.commands._import import ImportCommand
from kiroconsole.audit import Actor
from kiroconsole.bulk import large_cache
from subscriptions import selectors
from subscriptions.importers import ImportFailed, subscriptions_import
from subscriptions.models import Profile


def profile_option(reference: str) -> Profile:
    """The live profile of `--profile` (its id, ARN or name), else exit status 2 saying why."""
    profile = selectors.profile_by_reference(reference)
    if profile is not None:
        return profile
    if selectors.profiles().filter(name=reference.strip()).count() > 1:
        raise CommandError(f"Several Kiro profiles are named {reference!r}: give the profile id instead.", returncode=2)
    known = ", ".join(f"{p.profile_id} ({p.name})" for p in selectors.profiles()[:10]) or "none yet"
    raise CommandError(f"No Kiro profile {reference!r}: give its id, ARN or name. Profiles: {known}.", returncode=2)


class Command(ImportCommand):
    help = "Subscribe users and assign groups to tiers from a CSV file (type user or group, name, tier code)."
    columns = "type,name,tier"

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help=f"a CSV file with a header row: {self.columns}")
        parser.add_argument("--profile", metavar="P", required=True, help="the Kiro profile's id, ARN or name")
        parser.add_argument("--dry-run", action="store_true", help="check and tell what would change; write nothing")

    def handle(self, *args: Any, **options: Any) -> None:  # --profile, not --identity-store
        file, dry_run = options["file"], options["dry_run"]
        target = profile_option(options["profile"])
        try:
            source = open(file, "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise CommandError(f"Can't read {file}: {exc.strerror or exc}.", returncode=2) from exc
        self.file = file
        self.bar: tqdm | None = None
        self.verbosity = options.get("verbosity", 1)
        self.logged = ("", -1)
        try:
            with source, large_cache():
                counts = subscriptions_import(
                    profile=target,
                    source=source,
                    name=file,
                    actor=Actor.for_command("import_subscriptions"),
                    on_issue=self.print_issue,
                    dry_run=dry_run,
                    progress=self.show_progress,
                )
        except ImportFailed as exc:
            raise CommandError(f"{file}: {exc}.", returncode=1) from exc
        except ValidationError as exc:  # the directory changed while the file was read: nothing was written
            raise CommandError(f"{file}: {' '.join(exc.messages)} Nothing was written.", returncode=1) from exc
        except OSError as exc:
            raise CommandError(f"Can't read {file}: {exc.strerror or exc}.", returncode=2) from exc
        finally:
            if self.bar is not None:
                self.bar.close()
        self.stdout.write(counts.summary(dry_run=dry_run))

"""`import_subscriptions FILE --profile P [--dry-run]` (CONTRACTS.md): `type,name,tier` rows subscribe users directly
and assign groups. The rules of the file are in subscriptions/importers.py; the error lines, progress bar, summary
line and exit statuses are the directory imports' (directory/management/commands/_import.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from directory.management.commands._import import ImportCommand
from subscriptions import selectors
from subscriptions.importers import subscriptions_import
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


class ProfileImportCommand(ImportCommand):
    """An import into one Kiro profile (`--profile P`), otherwise as the directory imports."""

    def add_target_argument(self, parser) -> None:
        parser.add_argument("--profile", metavar="P", required=True, help="the Kiro profile's id, ARN or name")

    def target(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"profile": profile_option(options["profile"])}


class Command(ProfileImportCommand):
    help = "Subscribe users and assign groups to tiers from a CSV file (type user or group, name, tier code)."
    columns = "type,name,tier"
    service = staticmethod(subscriptions_import)

"""`manage.py check_balances [--profile P]`: prove that every balance equals the sum of its accepted events."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from credits.selectors import balance_mismatches
from subscriptions.selectors import profile_by_reference


class Command(BaseCommand):
    help = (
        "Compare every monthly balance (per subscription, and per profile for the shared cap) with the sum of its "
        "accepted usage events. Prints each difference; exit status 1 if there is any."
    )

    def add_arguments(self, parser):
        parser.add_argument("--profile", help="Only this profile (its id, ARN or name).")

    def handle(self, *args, profile=None, **options):
        target = None
        if profile:
            target = profile_by_reference(profile)
            if target is None:
                raise CommandError(f"No Kiro profile {profile!r}.", returncode=2)
        problems = balance_mismatches(target)
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"{len(problems)} balance(s) differ from their events.")
        self.stdout.write("balances agree with their events")

"""`manage.py rebuild_rollups [--profile P] [--check]`: recompute the usage rollups from the accepted events."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from credits.services.rollups import rollups_differences, rollups_rebuild
from kiroconsole.audit import Actor, audit_record
from kiroconsole.dbstats import analyze
from subscriptions.management.commands.import_subscriptions import profile_option


class Command(BaseCommand):
    help = (
        "Recompute the usage rollups (daily and monthly usage per user, daily usage per profile, active users) from "
        "the accepted usage events and replace the stored ones. With --check, change nothing: print every "
        "difference between the stored rollups and the events; exit status 1 if there is any."
    )

    def add_arguments(self, parser):
        parser.add_argument("--profile", help="Only this profile (its id, ARN or name).")
        parser.add_argument("--check", action="store_true", help="Only compare; write nothing.")

    def handle(self, *args, profile=None, check=False, **options):
        target = profile_option(profile) if profile else None
        ids = [target.pk] if target is not None else None
        if check:
            problems = rollups_differences(ids, limit=50)
            for problem in problems:
                self.stderr.write(problem)
            if problems:
                raise CommandError(f"the rollups differ from the events (first {len(problems)} differences above).")
            self.stdout.write("rollups agree with the events")
            return
        written = rollups_rebuild(ids)
        audit_record(
            actor=Actor.for_command("rebuild_rollups"),
            action="usage.rollups_rebuild",
            target=target if target is not None else ("profile", "*", "all profiles"),
            after=written,
        )
        self.stdout.write("rebuilt: " + ", ".join(f"{name} {count}" for name, count in written.items()))
        try:
            self.stdout.write(f"planner statistics refreshed in {analyze():.1f} s")
        except DatabaseError as exc:  # the rollups are rebuilt and committed: only the statistics are missing
            self.stderr.write(f"warning: the planner statistics were not refreshed ({exc}); run analyze_database")

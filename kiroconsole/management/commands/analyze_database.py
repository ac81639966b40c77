"""`manage.py analyze_database`: refresh the database's planner statistics (see kiroconsole.dbstats)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from kiroconsole.dbstats import analyze


class Command(BaseCommand):
    help = (
        "Refresh the database's planner statistics (ANALYZE), so that queries whose best index depends on the data "
        "(a group's usage by day, for one) choose it. PostgreSQL also does this on its own; on SQLite run it after "
        "large imports and from time to time (for example nightly)."
    )

    def handle(self, *args, **options):
        seconds = analyze()
        self.stdout.write(f"statistics refreshed in {seconds:.1f} s")

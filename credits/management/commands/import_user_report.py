"""`import_user_report FILE... --profile P [--dry-run]` (CONTRACTS.md): real Kiro user activity reports as usage
history. What a row means, the checks and the rules are in credits/report_import.py; the error lines, progress bar
and exit statuses are the other imports' (directory/management/commands/_import.py), for several files at once."""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.management.base import CommandError
from tqdm import tqdm

from credits.report_import import ImportFailed, Issue, user_report_import
from credits.reports import HEADER
from kiroconsole.audit import Actor
from kiroconsole.bulk import large_cache
from subscriptions.management.commands.import_subscriptions import ProfileImportCommand


class Command(ProfileImportCommand):
    help = (
        "Import Kiro user activity reports (the daily CSV files Kiro writes to S3, one per client type) as usage "
        "history of a profile. Every row is checked first; any issue is printed as FILE:LINE: COLUMN: message and "
        "nothing is written (exit status 1). Rows imported before with the same values are unchanged. The last "
        "line is 'imported N rows (plan credits X, overage credits Y), unchanged K, skipped Z without credits' "
        "('would import ...' with --dry-run)."
    )
    columns = ",".join(HEADER)

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE", help=f"a user activity report CSV: {self.columns}")
        self.add_target_argument(parser)
        parser.add_argument(
            "--from-profile",
            metavar="ARN",
            default="",
            help="the ProfileId of the files when they are another profile's (Kiro's own, or another console "
            "profile's): by default they must be this profile's",
        )
        parser.add_argument("--dry-run", action="store_true", help="check and tell what would change; write nothing")

    def handle(self, *args: Any, **options: Any) -> None:  # FILE... (not FILE) and --from-profile
        files: list[str] = options.pop("files")
        dry_run: bool = options.pop("dry_run")
        from_profile: str = options.pop("from_profile")
        target = self.target(options)
        self.file = files[0]
        self.bar: tqdm | None = None
        self.verbosity = options.get("verbosity", 1)
        self.logged: tuple[str, int] = ("", -1)
        with contextlib.ExitStack() as stack:
            sources = []
            for file in files:
                try:
                    sources.append((file, stack.enter_context(open(file, "rb"))))
                except OSError as exc:
                    raise CommandError(f"Can't read {file}: {exc.strerror or exc}.", returncode=2) from exc
            try:
                with large_cache():
                    counts = user_report_import(
                        **target,
                        sources=sources,
                        actor=Actor.for_command("import_user_report"),
                        on_issue=self.print_file_issue,
                        dry_run=dry_run,
                        progress=self.show_progress,
                        from_profile=from_profile,
                    )
            except ImportFailed as exc:
                raise CommandError(f"{exc}.", returncode=1) from exc
            except OSError as exc:
                raise CommandError(f"Can't read the files: {exc.strerror or exc}.", returncode=2) from exc
            finally:
                if self.bar is not None:
                    self.bar.close()
        self.stdout.write(counts.summary(dry_run=dry_run))

    def print_file_issue(self, file: str, issue: Issue) -> None:
        self.file = file
        self.print_issue(issue)

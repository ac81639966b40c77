"""`import_usage FILE --profile P [--dry-run]` (CONTRACTS.md): usage events from a CSV or JSON Lines file, under
the API's rules. What a row means is in credits/importers.py; the error lines, progress bar and exit statuses are
the other imports' (directory/management/commands/_import.py)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError
from tqdm import tqdm

from credits.importers import ImportFailed, usage_import
from directory.management.commands._import import ImportCommand
from kiroconsole.audit import Actor
from kiroconsole.bulk import large_cache
from subscriptions.management.commands.import_subscriptions import profile_option


class Command(ImportCommand):
    help = (
        "Record usage events from a CSV file with a header row, or a .jsonl file (one JSON object a line) with the "
        "same keys: idempotency_key,user_name,credits,occurred_at,client_type,model[,messages]. The API's rules "
        "apply; a row that is bad, names an unknown user, reuses a key with another payload or would be rejected "
        "is printed as FILE:LINE: COLUMN: message and nothing is written (exit status 1). Keys recorded before "
        "with the same payload are unchanged. The last line is 'accepted N (plan credits X, overage credits Y), "
        "unchanged K' ('would accept ...' with --dry-run)."
    )
    columns = "idempotency_key,user_name,credits,occurred_at,client_type,model[,messages]"

    def add_arguments(self, parser):
        parser.add_argument(
            "file", metavar="FILE", help=f"a CSV file with a header row, or a .jsonl file: {self.columns}"
        )
        parser.add_argument("--profile", metavar="P", required=True, help="the Kiro profile's id, ARN or name")
        parser.add_argument("--dry-run", action="store_true", help="check and tell what would happen; write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        file, dry_run = options["file"], options["dry_run"]
        profile = profile_option(options["profile"])
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
                counts = usage_import(
                    profile=profile,
                    source=source,
                    name=file,
                    actor=Actor.for_command("import_usage"),
                    on_issue=self.print_issue,
                    dry_run=dry_run,
                    progress=self.show_progress,
                )
        except ImportFailed as exc:
            raise CommandError(f"{file}: {exc}.", returncode=1) from exc
        except OSError as exc:
            raise CommandError(f"Can't read {file}: {exc.strerror or exc}.", returncode=2) from exc
        finally:
            if self.bar is not None:
                self.bar.close()
        self.stdout.write(counts.summary(dry_run=dry_run))

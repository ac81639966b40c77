"""What the three directory import commands share (CONTRACTS.md "Management commands"): the arguments, the choice
of directory, the error lines `FILE:LINE: COLUMN: message` and the progress bar on standard error, the summary
line on standard output, and the exit statuses (1: the file has errors, nothing written; 2: wrong arguments, an
unreadable file or no such directory). The work itself is the `directory.importers` service the command names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.models import IdentityCenterInstance
from directory import selectors
from directory.importers import ImportFailed, Issue
from kiroconsole.audit import Actor
from kiroconsole.bulk import large_cache

PROGRESS_MIN_BYTES = 1024 * 1024  # smaller files are done before a bar would tell anything


def identity_center_option(identity_store_id: str | None) -> IdentityCenterInstance:
    """The directory of `--identity-store`, or the only one when the option is left out (else exit status 2)."""
    instance = selectors.identity_center_by_store_id(identity_store_id)
    if instance is not None:
        return instance
    if identity_store_id:
        raise CommandError(f"No Identity Center has the identity store id {identity_store_id!r}.", returncode=2)
    known = list(IdentityCenterInstance.objects.values_list("identity_store_id", flat=True)[:10])
    if not known:
        raise CommandError("There is no Identity Center yet: register one first.", returncode=2)
    raise CommandError(
        f"There are several Identity Centers: choose one with --identity-store ({', '.join(known)}).", returncode=2
    )


class ImportCommand(BaseCommand):
    """An import of a file into one directory (`--identity-store`). Imports into something else (a profile) override
    `add_target_argument` and `target` (the service's keyword arguments naming it); `file_help` describes FILE."""

    columns: str  # for the help
    service: Callable[..., Any]  # (target..., source, name, actor, on_issue, dry_run, progress) -> counts
    file_help = "a CSV file with a header row"

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help=f"{self.file_help}: {self.columns}")
        self.add_target_argument(parser)
        parser.add_argument("--dry-run", action="store_true", help="check and tell what would change; write nothing")

    def add_target_argument(self, parser) -> None:
        parser.add_argument(
            "--identity-store",
            metavar="ID",
            help="the directory's identity store id (d-...); may be left out when there is only one",
        )

    def target(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"identity_center": identity_center_option(options.get("identity_store"))}

    def handle(self, *args: Any, file: str, dry_run: bool, **options: Any) -> None:
        target = self.target(options)
        try:
            source = open(file, "rb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise CommandError(f"Can't read {file}: {exc.strerror or exc}.", returncode=2) from exc
        self.file = file
        self.bar: tqdm | None = None
        self.verbosity = options.get("verbosity", 1)
        self.logged: tuple[str, int] = ("", -1)  # the phase and tenth of the file last logged
        name = self.__module__.rsplit(".", 1)[-1]
        try:
            with source, large_cache():
                counts = self.service(
                    **target,
                    source=source,
                    name=file,
                    actor=Actor.for_command(name),
                    on_issue=self.print_issue,
                    dry_run=dry_run,
                    progress=self.show_progress,
                )
        except ImportFailed as exc:
            raise CommandError(f"{file}: {exc}.", returncode=1) from exc
        except ValidationError as exc:  # what the file names changed while it was read: nothing was written
            raise CommandError(f"{file}: {' '.join(exc.messages)} Nothing was written.", returncode=1) from exc
        except OSError as exc:
            raise CommandError(f"Can't read {file}: {exc.strerror or exc}.", returncode=2) from exc
        finally:
            if self.bar is not None:
                self.bar.close()
        self.stdout.write(counts.summary(dry_run=dry_run))

    def print_issue(self, issue: Issue) -> None:
        with tqdm.external_write_mode(file=self.stderr._out):
            self.stderr.write(issue.format(self.file))

    def show_progress(self, phase: str, done: int, total: int) -> None:
        if not self.stderr.isatty():  # a log: with -v 2, a line at each tenth of the file
            tenth = done * 10 // max(total, 1)
            if self.verbosity >= 2 and (phase, tenth) != self.logged:
                self.logged = (phase, tenth)
                self.stderr.write(f"{phase}: {done * 100 // max(total, 1)}% ({done:,} of {total:,} bytes)")
            return
        if total < PROGRESS_MIN_BYTES:
            return
        if self.bar is None or self.bar.desc != phase:
            if self.bar is not None:
                self.bar.close()
            self.bar = tqdm(total=total, desc=phase, unit="B", unit_scale=True, file=self.stderr._out, leave=False)
        self.bar.update(done - self.bar.n)

"""`export_user_report --profile P --date YYYY-MM-DD [--client-type T] [--output DIR]` (CONTRACTS.md): write the
Kiro user activity report of a profile and day, one file per client type (both when none is given), named as Kiro
names them (see credits/reports.py). Prints each file's path and row count."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from credits.models import ClientType
from credits.reports import ReportInvalid, report_client_type, report_day, user_report
from subscriptions.management.commands.import_subscriptions import profile_option


class Command(BaseCommand):
    help = (
        "Write the user activity report of a profile for one UTC day: a CSV per client type (KIRO_IDE, KIRO_CLI), "
        "with one row per user who used Kiro that day, in the columns of Kiro's own report."
    )

    def add_arguments(self, parser):
        parser.add_argument("--profile", metavar="P", required=True, help="the Kiro profile's id, ARN or name")
        parser.add_argument("--date", metavar="YYYY-MM-DD", required=True, help="the day (UTC)")
        parser.add_argument(
            "--client-type", metavar="T", help=f"{' or '.join(ClientType.values)}; default: a file for each"
        )
        parser.add_argument("--output", metavar="DIR", default=".", help="the folder to write to (default: here)")

    def handle(self, *args: Any, profile: str, date: str, client_type: str | None, output: str, **options: Any):
        target = profile_option(profile)
        try:
            day = report_day(date)
            client_types = [report_client_type(client_type)] if client_type is not None else list(ClientType.values)
        except ReportInvalid as exc:
            option = "--date" if exc.field == "date" else "--client-type"
            raise CommandError(f"{option}: {exc.message}", returncode=2) from exc
        if not os.path.isdir(output):
            raise CommandError(f"--output: {output!r} is not a folder.", returncode=2)
        for code in client_types:
            report = user_report(profile=target, day=day, client_type=code)
            path = os.path.join(output, report.filename)
            try:
                with open(path, "w", encoding="utf-8", newline="") as file:
                    for line in report.lines():
                        file.write(line)
            except OSError as exc:
                raise CommandError(f"Can't write {path}: {exc.strerror or exc}.", returncode=2) from exc
            self.stdout.write(f"{path}: {report.count} row{'s' if report.count != 1 else ''}")

"""`import_usage FILE --profile P [--dry-run]` (CONTRACTS.md): usage events from a CSV or JSON Lines file, under
the API's rules. What a row means is in credits/importers.py; the error lines, progress bar and exit statuses are
the other imports' (directory/management/commands/_import.py)."""

from __future__ import annotations

from credits.importers import usage_import
from subscriptions.management.commands.import_subscriptions import ProfileImportCommand


class Command(ProfileImportCommand):
    help = (
        "Record usage events from a CSV file with a header row, or a .jsonl file (one JSON object a line) with the "
        "same keys: idempotency_key,user_name,credits,occurred_at,client_type,model[,messages]. The API's rules "
        "apply; a row that is bad, names an unknown user, reuses a key with another payload or would be rejected "
        "is printed as FILE:LINE: COLUMN: message and nothing is written (exit status 1). Keys recorded before "
        "with the same payload are unchanged. The last line is 'accepted N (plan credits X, overage credits Y), "
        "unchanged K' ('would accept ...' with --dry-run)."
    )
    columns = "idempotency_key,user_name,credits,occurred_at,client_type,model[,messages]"
    file_help = "a CSV file with a header row, or a .jsonl file"
    service = staticmethod(usage_import)

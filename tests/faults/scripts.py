"""Work that the fault tests run in a subprocess (`manage.py shell -c "from tests.faults.scripts import ...; ..."`), on
the database of the subprocess's DATABASE_URL."""

from __future__ import annotations

import json
import sys

from django.db import connection
from django.utils import timezone


def ingest(*, profile_id: str, user_names: list[str], count: int, batch: int, prefix: str = "ingest") -> None:
    """Record `count` usage events (keys `PREFIX-00000`...) of 1.25 credits each, for the users in turn, through
    `usage_record` a batch of `batch` events at a time (a transaction each), as the API's batches are. After each
    batch, `committed N` on standard error (N: events so far)."""
    from credits.events import event_parse
    from credits.services import usage_record
    from kiroconsole.audit import Actor
    from subscriptions.models import AiModel, Profile

    profile = Profile.objects.get(pk=profile_id)
    models = frozenset(AiModel.objects.values_list("code", flat=True))
    actor = Actor.for_command("faults-ingest")
    for start in range(0, count, batch):
        now = timezone.now()
        raws = [
            {
                "idempotency_key": f"{prefix}-{n:05d}",
                "user_name": user_names[n % len(user_names)],
                "credits": "1.25",
                "client_type": "KIRO_CLI" if n % 3 else "KIRO_IDE",
                "model": "auto",
            }
            for n in range(start, min(start + batch, count))
        ]
        results = usage_record(
            profile=profile, events=[event_parse(raw, now=now, models=models) for raw in raws], actor=actor, now=now
        )
        assert all(result.status == "accepted" for result in results), results
        print(f"committed {start + len(raws)}", file=sys.stderr, flush=True)


def state() -> None:
    """Print, as JSON on standard output, what the restart tests check on the database: every event's key with its
    outcome, balance and rollup differences."""
    from credits.models import UsageEvent
    from credits.selectors import balance_mismatches
    from credits.services.rollups import rollups_differences

    keys = list(UsageEvent.objects.order_by().values_list("idempotency_key", "outcome"))
    print(
        json.dumps(
            {
                "events": keys,
                "balances": balance_mismatches(),
                "rollups": rollups_differences(),
                "vendor": connection.vendor,
            }
        )
    )

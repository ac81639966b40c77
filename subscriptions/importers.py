"""`import_subscriptions`: `type,name,tier` (CONTRACTS.md "Management commands").

Each row subscribes a user of the profile's directory directly (`user`, by user name) or assigns a group (`group`,
by display name) at a tier; names, types and tier codes are case-insensitive. A row already true changes nothing;
an assigned group at another tier changes plan (up now, down from the 1st, as everywhere). Rows are checked, all
of them, against the directory and the profile as they are when the import starts (the profile locked), and
reported as `FILE:LINE: COLUMN: message`; with any issue nothing is written. Otherwise the changes are made in the
same transaction through the subscription services, set-based: one `subscription_subscribe` per tier for all the
users at that tier, one service call per group, so 100,000 rows are a handful of calls, each a few statements per
2,000 users (see `propagation.recompute`). The reading is the directory imports' (`directory.importers.reader`).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict
from typing import BinaryIO, NamedTuple
from uuid import UUID

from django.db import transaction

from directory.importers import ImportCounts, ImportFailed, Issue
from directory.importers.reader import CsvReader, Layout, Record
from directory.models import DirectoryGroup, DirectoryUser
from kiroconsole.audit import Actor, audit_record
from subscriptions.models import GroupAssignment, Profile, Subscription, SubscriptionStatus, Tier
from subscriptions.services.propagation import CHUNK, lock_profile
from subscriptions.services.subscribing import group_assign, group_change_plan, subscription_subscribe

__all__ = ["ImportCounts", "ImportFailed", "Issue", "subscriptions_import"]

LAYOUT = Layout(required=("type", "name", "tier"))
TYPES = ("user", "group")
USE_TYPES = "write user or group"


class Row(NamedTuple):
    kind: str  # "user" or "group"
    pk: UUID
    tier: str
    change: str  # "created", "updated" or "unchanged"


class SubscriptionImporter:
    """One import into one profile: `prepare`, `check` each record, then `write`."""

    def __init__(self, *, profile: Profile, actor: Actor):
        self.profile = profile
        self.actor = actor
        self.rows: list[Row] = []
        self.seen: dict[tuple[str, str], int] = {}  # (type, lower-case name) -> line

    def prepare(self) -> None:
        """What the checks need, in a few queries: the directory's names, the tiers, the profile's state."""
        directory = {"identity_center_id": self.profile.identity_center_id}
        users = DirectoryUser.objects.live().filter(**directory).order_by()
        self.users = {
            name.lower(): (pk, name, active)
            for pk, name, active in users.values_list("pk", "user_name", "active").iterator(10_000)
        }
        groups = DirectoryGroup.objects.live().filter(**directory).order_by().values_list("pk", "display_name")
        self.groups = {name.lower(): pk for pk, name in groups}
        self.store = self.profile.identity_center.identity_store_id
        self.tiers = list(Tier.objects.order_by("rank").values_list("code", flat=True))
        self.subscriptions = {
            user_id: (status, direct_tier, opt_out)
            for user_id, status, direct_tier, opt_out in Subscription.objects.filter(profile=self.profile)
            .order_by()
            .values_list("user_id", "status", "direct_tier_id", "direct_opt_out")
            .iterator(10_000)
        }
        self.assignments = dict(GroupAssignment.objects.filter(profile=self.profile).values_list("group_id", "tier_id"))

    def check(self, record: Record, report: Callable[[Issue], None]) -> None:
        """Report the record's issues, column by column; keep a good row with what it would change."""
        line, values = record
        kind, name, tier = values["type"].lower(), values["name"], values["tier"].upper()
        pk = None
        if kind not in TYPES:
            given = values["type"]
            report(Issue(line, "type", f"unknown type {given!r}: {USE_TYPES}" if given else f"missing: {USE_TYPES}"))
        else:
            pk = self._named(line, kind, name, report)
        if tier not in self.tiers:
            given, use = values["tier"], f"write one of {', '.join(self.tiers)}"
            report(Issue(line, "tier", f"unknown tier {given!r}: {use}" if given else f"missing: {use}"))
        elif pk is not None:
            self.rows.append(Row(kind, pk, tier, self._change(kind, pk, tier)))

    def _named(self, line: int, kind: str, name: str, report: Callable[[Issue], None]) -> UUID | None:
        """The id of the user or group named, or None after reporting why not."""
        if not name:
            report(Issue(line, "name", f"missing: write a {'user name' if kind == 'user' else 'group display name'}"))
            return None
        if (first := self.seen.setdefault((kind, name.lower()), line)) != line:
            report(Issue(line, "name", f"the {kind} {name!r} is already on line {first} (case ignored)"))
            return None
        if kind == "group":
            group = self.groups.get(name.lower())
            if group is None:
                report(Issue(line, "name", f"no group named {name!r} in this profile's directory ({self.store})"))
            return group
        user = self.users.get(name.lower())
        if user is None:
            report(Issue(line, "name", f"no user named {name!r} in this profile's directory ({self.store})"))
            return None
        pk, user_name, active = user
        if not active:
            report(Issue(line, "name", f"{user_name} is deactivated: reactivate the user before subscribing it"))
            return None
        return pk

    def _change(self, kind: str, pk: UUID, tier: str) -> str:
        """What the row changes: "created", "updated" or "unchanged"."""
        if kind == "group":
            current = self.assignments.get(pk)
            return "created" if current is None else "unchanged" if current == tier else "updated"
        subscription = self.subscriptions.get(pk)
        if subscription is None:
            return "created"
        status, direct_tier, opt_out = subscription
        live = status != SubscriptionStatus.CANCELED
        return "unchanged" if live and (direct_tier, opt_out) == (tier, False) else "updated"

    def counts(self) -> ImportCounts:
        counts = ImportCounts()
        for row in self.rows:
            setattr(counts, row.change, getattr(counts, row.change) + 1)
        return counts

    def write(self) -> None:
        """The changes, through the services: each group, then all the users of each tier in one call."""
        changed = [row for row in self.rows if row.change != "unchanged"]
        groups = DirectoryGroup.objects.in_bulk([row.pk for row in changed if row.kind == "group"])
        for row in changed:
            if row.kind == "group":
                service = group_assign if row.change == "created" else group_change_plan
                service(profile=self.profile, group=groups[row.pk], tier=row.tier, actor=self.actor)
        by_tier: dict[str, list[UUID]] = defaultdict(list)
        for row in changed:
            if row.kind == "user":
                by_tier[row.tier].append(row.pk)
        fields = ("id", "identity_center_id", "user_name", "active", "deleted_at")
        for tier, ids in by_tier.items():
            users: list[DirectoryUser] = []
            for start in range(0, len(ids), CHUNK):
                users.extend(DirectoryUser.objects.filter(pk__in=ids[start : start + CHUNK]).only(*fields))
            subscription_subscribe(profile=self.profile, users=users, tier=tier, actor=self.actor)


def subscriptions_import(
    *,
    profile: Profile,
    source: BinaryIO,
    name: str,
    actor: Actor,
    on_issue: Callable[[Issue], None],
    dry_run: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> ImportCounts:
    """Check `source` (a binary CSV file; `name` names it in the messages and the audit) and, unless `dry_run`,
    apply it to `profile`. Every issue goes to `on_issue`; if there is any, nothing is written and ImportFailed
    is raised. The services' ValidationError (a change of the directory while the file was read) also writes
    nothing."""
    issues = 0

    def report(issue: Issue) -> None:
        nonlocal issues
        issues += 1
        on_issue(issue)

    total = source.seek(0, os.SEEK_END)
    label = "checking" if dry_run else "importing"
    reader = CsvReader(source, LAYOUT, report, None if progress is None else lambda done: progress(label, done, total))
    importer = SubscriptionImporter(profile=profile, actor=actor)
    with transaction.atomic():
        if not dry_run:
            lock_profile(profile)  # the state the rows are checked against stays true until they are written
        importer.prepare()
        for record in reader.records():
            importer.check(record, report)
        if issues:
            raise ImportFailed(issues)
        counts = importer.counts()
        if not dry_run:
            importer.write()
            audit_record(
                actor=actor,
                action="subscription.import",
                target=profile,
                after={"file": name, "sha256": reader.sha256, **asdict(counts)},
            )
    return counts

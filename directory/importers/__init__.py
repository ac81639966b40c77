"""Bulk imports of a directory from CSV files: users, groups, memberships (CONTRACTS.md "Management commands").

The services below are what the `import_users`, `import_groups` and `import_memberships` commands call (and what
a page or the API would call to import an uploaded file). `base` holds the pipeline, `reader` the CSV reading, and
one module per kind of file its columns, checks and writes. The checks reuse the field validators of
`directory.services`, so an import names a bad value with the same message as a page or the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO

from accounts.models import IdentityCenterInstance
from directory.importers.base import ImportCounts, Importer, ImportFailed, run_import
from directory.importers.groups import GroupImporter
from directory.importers.memberships import MembershipImporter
from directory.importers.reader import Issue
from directory.importers.users import UserImporter
from kiroconsole.audit import Actor

__all__ = [
    "ImportCounts",
    "ImportFailed",
    "Issue",
    "directory_groups_import",
    "directory_memberships_import",
    "directory_users_import",
]

OnIssue = Callable[[Issue], None]
Progress = Callable[[str, int, int], None]


def _import(
    kind: type[Importer],
    *,
    identity_center: IdentityCenterInstance,
    source: BinaryIO,
    name: str,
    actor: Actor,
    on_issue: OnIssue,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportCounts:
    importer = kind(identity_center=identity_center, actor=actor)
    return run_import(importer, source=source, name=name, dry_run=dry_run, on_issue=on_issue, progress=progress)


def directory_users_import(
    *,
    identity_center: IdentityCenterInstance,
    source: BinaryIO,
    name: str,
    actor: Actor,
    on_issue: OnIssue,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportCounts:
    """Create or update users from `user_name,display_name,given_name,family_name,email[,external_id][,active]`.

    `source` is a seekable binary file (it is read twice: checked, then applied); `name` names it in the
    messages and the audit. Every issue goes to `on_issue`; if there is any, nothing is written and
    ImportFailed is raised."""
    return _import(
        UserImporter,
        identity_center=identity_center,
        source=source,
        name=name,
        actor=actor,
        on_issue=on_issue,
        dry_run=dry_run,
        progress=progress,
    )


def directory_groups_import(
    *,
    identity_center: IdentityCenterInstance,
    source: BinaryIO,
    name: str,
    actor: Actor,
    on_issue: OnIssue,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportCounts:
    """Create or update groups from `display_name[,description][,external_id]` (see directory_users_import)."""
    return _import(
        GroupImporter,
        identity_center=identity_center,
        source=source,
        name=name,
        actor=actor,
        on_issue=on_issue,
        dry_run=dry_run,
        progress=progress,
    )


def directory_memberships_import(
    *,
    identity_center: IdentityCenterInstance,
    source: BinaryIO,
    name: str,
    actor: Actor,
    on_issue: OnIssue,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportCounts:
    """Add the memberships of `group,user_name` (see directory_users_import); others are left alone."""
    return _import(
        MembershipImporter,
        identity_center=identity_center,
        source=source,
        name=name,
        actor=actor,
        on_issue=on_issue,
        dry_run=dry_run,
        progress=progress,
    )

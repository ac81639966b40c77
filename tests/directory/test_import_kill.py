"""`kill -9` in the middle of an import (issue 4): the process dies after it has written several batches inside its
transaction; the directory is then exactly as before, and running the command again finishes the import."""

from __future__ import annotations

import re

import pytest

from directory.importers.base import BATCH_SIZE
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from kiroconsole.models import AuditEvent
from tests.factories import DirectoryUserFactory
from tests.processes import kill_when, manage

pytestmark = pytest.mark.django_db(transaction=True)

USERS = 12 * BATCH_SIZE
PERCENT = re.compile(r"^importing: (\d+)% ")


def state() -> tuple:
    return (
        sorted(map(str, DirectoryUser.objects.values_list())),
        sorted(map(str, DirectoryGroup.objects.values_list())),
        sorted(map(str, GroupMembership.objects.values_list("group_id", "user_id", "created_at"))),
        sorted(AuditEvent.objects.values_list("pk", flat=True)),
    )


def users_file(path, count: int) -> str:
    lines = ["user_name,display_name,given_name,family_name,email"]
    lines += [f"user{n:06},User {n},User,N{n},user{n}@example.com" for n in range(count)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def past(percent: int):
    """True for a progress line at or past `percent` of the file: by then several batches have been written."""
    return lambda line: (match := PERCENT.match(line)) is not None and int(match.group(1)) >= percent


def test_import_killed_mid_write_leaves_the_directory_as_before_and_a_rerun_finishes_it(
    catalogues, identity_center, tmp_path
):
    DirectoryUserFactory(identity_center=identity_center, user_name="already.here")
    path = users_file(tmp_path / "users.csv", USERS)
    before = state()

    process = manage("import_users", path, "--identity-store", identity_center.identity_store_id, "-v", "2")
    lines = kill_when(process, past(50))  # half the file read: at least five batches of 2,000 written

    assert any(PERCENT.match(line) for line in lines)
    assert state() == before  # the transaction died with the process

    again = manage("import_users", path, "--identity-store", identity_center.identity_store_id)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert out.strip().splitlines()[-1] == f"created {USERS}, updated 0, unchanged 0"
    assert DirectoryUser.objects.count() == USERS + 1
    assert AuditEvent.objects.filter(action="directory_user.create").count() == USERS
    assert AuditEvent.objects.filter(action="directory.import_users").count() == 1

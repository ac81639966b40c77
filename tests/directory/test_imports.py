"""import_users, import_groups, import_memberships (CONTRACTS.md "Management commands"): one test per rule, with the
exact `FILE:LINE: COLUMN: message` lines, and the database left exactly as it was whenever a file is refused."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from directory import signals
from directory.importers import base as importer_base
from directory.importers import memberships as memberships_importer
from directory.importers import users as users_importer
from directory.management.commands.import_users import Command as ImportUsersCommand
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from directory.services import group_snapshot, user_snapshot
from kiroconsole.models import AuditEvent
from tests.factories import DirectoryGroupFactory, DirectoryUserFactory

USERS_HEADER = "user_name,display_name,given_name,family_name,email"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Run in a scratch folder, so files are named as a person would type them (`users.csv`)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(name: str, text: str | bytes) -> str:
    with open(name, "wb") as file:
        file.write(text.encode() if isinstance(text, str) else text)
    return name


def run(command: str, *args: str) -> tuple[int, str, list[str]]:
    """(exit status, stdout, stderr lines) of a command run as `manage.py` would."""
    out, err = StringIO(), StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue().splitlines()
    return 0, out.getvalue(), err.getvalue().splitlines()


def state() -> tuple:
    """Everything an import may write: compare before and after a refused import."""
    return (
        sorted(map(str, DirectoryUser.objects.values_list())),
        sorted(map(str, DirectoryGroup.objects.values_list())),
        sorted(map(str, GroupMembership.objects.values_list("group_id", "user_id", "created_at"))),
        sorted(AuditEvent.objects.values_list("pk", flat=True)),
    )


def refused(command: str, name: str, text: str | bytes, *args: str) -> list[str]:
    """Run an import that must be refused; check that nothing was written; return the error lines."""
    write(name, text)
    before = state()
    status, out, errors = run(command, name, *args)
    assert status == 1
    assert out == ""
    assert state() == before
    return errors


def alice(**changes: str) -> str:
    row = {
        "user_name": "alice",
        "display_name": "Alice Liddell",
        "given_name": "Alice",
        "family_name": "Liddell",
        "email": "alice@example.com",
    } | changes
    return ",".join(row.values())


# --- users -----------------------------------------------------------------------------------------------------


def test_import_users_creates_the_users_and_prints_the_summary(identity_center):
    write(
        "users.csv",
        f"{USERS_HEADER},external_id,active\n{alice()},ext-1,\nbob,Bob Ross,Bob,Ross,bob@example.com,,no\n",
    )
    status, out, errors = run("import_users", "users.csv")
    assert (status, errors) == (0, [])
    assert out.splitlines()[-1] == "created 2, updated 0, unchanged 0"
    users = {u.user_name: u for u in DirectoryUser.objects.all()}
    assert users["alice"].identity_center == identity_center
    assert (users["alice"].display_name, users["alice"].external_id, users["alice"].active) == (
        "Alice Liddell",
        "ext-1",
        True,
    )
    assert (users["bob"].email, users["bob"].external_id, users["bob"].active) == ("bob@example.com", "", False)


def test_active_accepts_true_false_1_0_yes_no_in_any_case_and_empty_means_true(identity_center):
    values = ["TRUE", "False", "1", "0", "Yes", "no", ""]
    rows = [f"u{i},U {i},U,{i},u{i}@example.com,{value}" for i, value in enumerate(values)]
    write("users.csv", "\n".join([f"{USERS_HEADER},active", *rows]))
    assert run("import_users", "users.csv")[0] == 0
    active = dict(DirectoryUser.objects.values_list("user_name", "active"))
    assert [active[f"u{i}"] for i in range(len(values))] == [True, False, True, False, True, False, True]


def test_a_bad_active_value_is_an_error(identity_center):
    errors = refused("import_users", "users.csv", f"{USERS_HEADER},active\n{alice()},maybe\n")
    assert errors == ["users.csv:2: active: 'maybe' is not one of true/false/yes/no/1/0"]


def test_a_missing_required_column_is_an_error_at_line_1(identity_center):
    errors = refused("import_users", "users.csv", "user_name,display_name,given_name,email\nalice,A,A,a@example.com\n")
    assert errors == ["users.csv:1: family_name: missing column"]


def test_an_unknown_column_is_an_error(identity_center):
    errors = refused("import_users", "users.csv", f"{USERS_HEADER},department\n{alice()},Research\n")
    assert errors == [
        "users.csv:1: department: unknown column: the columns are user_name, display_name, given_name, "
        "family_name, email, external_id or active"
    ]


def test_a_duplicate_column_is_an_error(identity_center):
    errors = refused("import_users", "users.csv", f"{USERS_HEADER},email\n{alice()},alice@example.com\n")
    assert errors == ["users.csv:1: email: duplicate column (columns 5 and 6)"]


def test_a_header_column_without_a_name_is_an_error(identity_center):
    errors = refused("import_users", "users.csv", f"{USERS_HEADER},\n{alice()},\n")
    assert errors == ["users.csv:1: -: column 6 of the header has no name"]


def test_empty_required_values_are_errors_with_the_services_messages(identity_center):
    errors = refused(
        "import_users", "users.csv", f"{USERS_HEADER}\n{alice(given_name='', email=' ')}\n,B,B,B,b@x.org\n"
    )
    assert errors == [
        "users.csv:2: given_name: Enter a given name.",
        "users.csv:2: email: Enter an email.",
        "users.csv:3: user_name: Enter a user name.",
    ]


def test_a_bad_email_is_an_error(identity_center):
    errors = refused("import_users", "users.csv", f"{USERS_HEADER}\n{alice(email='alice.example.com')}\n")
    assert errors == ["users.csv:2: email: 'alice.example.com' is not a valid email address."]


def test_a_user_name_with_a_space_is_an_error(identity_center):
    errors = refused("import_users", "users.csv", f"{USERS_HEADER}\n{alice(user_name='alice liddell')}\n")
    assert errors == ["users.csv:2: user_name: A user name has no spaces."]


def test_values_over_the_length_limits_are_errors(identity_center):
    long_name, long_display = "a" * 129, "D" * 257
    errors = refused(
        "import_users",
        "users.csv",
        f"{USERS_HEADER},external_id\n{alice(user_name=long_name, display_name=long_display)},{'x' * 257}\n",
    )
    assert errors == [
        "users.csv:2: user_name: Use at most 128 characters (it has 129).",
        "users.csv:2: display_name: Use at most 256 characters (it has 257).",
        "users.csv:2: external_id: Use at most 256 characters (it has 257).",
    ]


def test_values_at_the_length_limits_are_accepted(identity_center):
    write("users.csv", f"{USERS_HEADER}\n{alice(user_name='a' * 128, display_name='D' * 256)}\n")
    assert run("import_users", "users.csv")[0] == 0
    assert DirectoryUser.objects.get().user_name == "a" * 128


def test_a_user_name_twice_in_the_file_is_an_error_even_in_another_case(identity_center):
    errors = refused(
        "import_users",
        "users.csv",
        f"{USERS_HEADER}\n{alice()}\n{alice(email='a2@example.com')}\n{alice(user_name='ALICE', email='a3@x.org')}\n",
    )
    assert errors == [
        "users.csv:3: user_name: the user name 'alice' is already on line 2 (case ignored)",
        "users.csv:4: user_name: the user name 'ALICE' is already on line 2 (case ignored)",
    ]


def test_an_email_twice_in_the_file_is_an_error(identity_center):
    errors = refused(
        "import_users",
        "users.csv",
        f"{USERS_HEADER}\n{alice()}\n{alice(user_name='alice2', email='Alice@Example.com')}\n",
    )
    assert errors == ["users.csv:3: email: the email 'Alice@Example.com' is already on line 2 (case ignored)"]


def test_an_email_of_another_existing_user_is_an_error(identity_center):
    DirectoryUserFactory(identity_center=identity_center, user_name="carol", email="alice@example.com")
    errors = refused("import_users", "users.csv", f"{USERS_HEADER}\n{alice(email='ALICE@example.com')}\n")
    assert errors == [
        "users.csv:2: email: The email 'ALICE@example.com' is already used by another user in this directory (carol)."
    ]


def test_emails_of_deleted_users_and_of_other_directories_are_free(identity_center, second_identity_center):
    DirectoryUserFactory(identity_center=second_identity_center, user_name="carol", email="alice@example.com")
    gone = DirectoryUserFactory(identity_center=identity_center, user_name="dave", email="alice@example.com")
    DirectoryUser.objects.filter(pk=gone.pk).update(deleted_at=gone.created_at)
    write("users.csv", f"{USERS_HEADER}\n{alice()}\n")
    status, out, _ = run("import_users", "users.csv", "--identity-store", "d-1234567890")
    assert (status, out) == (0, "created 1, updated 0, unchanged 0\n")


def test_an_existing_user_name_is_updated_not_a_clash_and_case_is_ignored(identity_center):
    user = DirectoryUserFactory(
        identity_center=identity_center, user_name="Alice", email="alice@example.com", external_id="keep"
    )
    write("users.csv", f"{USERS_HEADER}\n{alice(display_name='Alice L.')}\n")
    status, out, _ = run("import_users", "users.csv")
    assert (status, out) == (0, "created 0, updated 1, unchanged 0\n")
    user.refresh_from_db()
    # The file spells the user name; external_id and active are not in the header, so they stay as they were.
    assert (user.user_name, user.display_name, user.external_id, user.active) == ("alice", "Alice L.", "keep", True)
    assert DirectoryUser.objects.count() == 1


def test_a_wrong_delimiter_is_named(identity_center):
    errors = refused("import_users", "users.csv", f"{USERS_HEADER.replace(',', ';')}\n{alice().replace(',', ';')}\n")
    assert errors == ["users.csv:1: -: expected 5 to 7 fields separated by commas, found 1"]


def test_a_row_with_the_wrong_number_of_fields_is_an_error(identity_center):
    errors = refused("import_users", "users.csv", f"{USERS_HEADER}\n{alice()},extra\nbob;Bob;Bob;Ross;b@x.org\n")
    assert errors == [
        "users.csv:2: -: expected 5 fields separated by commas, found 6",
        "users.csv:3: -: expected 5 fields separated by commas, found 1",
    ]


def test_invalid_utf8_is_an_error_with_its_line(identity_center):
    latin1 = f"{USERS_HEADER}\n{alice()}\n{alice(user_name='rene', display_name='René', email='r@x.org')}\n"
    errors = refused("import_users", "users.csv", latin1.encode("latin-1"))
    assert errors == ["users.csv:3: -: invalid UTF-8 (byte 0xe9 at character 9): save the file as UTF-8"]


def test_utf16_is_refused(identity_center):
    errors = refused("import_users", "users.csv", f"{USERS_HEADER}\n{alice()}\n".encode("utf-16"))
    assert errors == ["users.csv:1: -: the file is UTF-16: save it as UTF-8"]


def test_bad_quoting_is_an_error(identity_center):
    errors = refused("import_users", "users.csv", f'{USERS_HEADER}\n"alice"x,A,A,L,a@x.org\n')
    assert errors == ["users.csv:2: -: unreadable CSV: ',' expected after '\"'"]


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff"])
def test_an_empty_file_is_an_error(identity_center, text):
    errors = refused("import_users", "users.csv", text)
    assert errors == ["users.csv:1: -: the file is empty: expected a header row"]


def test_a_header_only_file_is_valid_and_changes_nothing(identity_center):
    write("users.csv", f"{USERS_HEADER},external_id,active\r\n")
    status, out, errors = run("import_users", "users.csv")
    assert (status, out, errors) == (0, "created 0, updated 0, unchanged 0\n", [])
    assert DirectoryUser.objects.count() == 0


def test_bom_crlf_quoted_fields_and_blank_lines_are_accepted(identity_center):
    text = (
        "\ufeff" + USERS_HEADER + ",external_id\r\n"
        '"alice","Liddell, Alice",Alice,Liddell,alice@example.com,"ext-1"\r\n'
        "\r\n"
        'bob,"Bob ""The Painter"" Ross",Bob,Ross,bob@example.com,\r\n'
    )
    write("users.csv", text)
    assert run("import_users", "users.csv") == (0, "created 2, updated 0, unchanged 0\n", [])
    users = {u.user_name: u for u in DirectoryUser.objects.all()}
    assert (users["alice"].display_name, users["alice"].external_id) == ("Liddell, Alice", "ext-1")
    assert users["bob"].display_name == 'Bob "The Painter" Ross'


def test_a_record_spanning_lines_is_reported_at_its_first_line_and_the_next_lines_keep_counting(identity_center):
    text = (
        f"{USERS_HEADER},external_id\r\n"
        f'{alice()},"line one\r\nline two"\r\n'
        "\r\n"
        "carol,Carol,Carol,,carol@example.com,\r\n"
    )
    assert refused("import_users", "users.csv", text) == [
        "users.csv:2: external_id: Remove the control characters.",
        "users.csv:5: family_name: Enter a family name.",
    ]


def test_a_quoted_group_description_may_span_lines(identity_center):
    write("groups.csv", 'display_name,description\r\nResearch,"Frankfurt lab,\r\nsecond floor"\r\nSales,\r\n')
    assert run("import_groups", "groups.csv")[:2] == (0, "created 2, updated 0, unchanged 0\n")
    assert DirectoryGroup.objects.get(display_name="Research").description == "Frankfurt lab,\r\nsecond floor"


def test_the_errors_of_every_row_are_listed_in_file_order(identity_center):
    errors = refused(
        "import_users",
        "users.csv",
        f"{USERS_HEADER}\n{alice(email='nope')}\n{alice(user_name='bob', email='b@x.org')}\n{alice(user_name='Bob')}\n",
    )
    assert errors == [
        "users.csv:2: email: 'nope' is not a valid email address.",
        "users.csv:4: user_name: the user name 'Bob' is already on line 3 (case ignored)",
    ]


def test_importing_the_same_file_twice_changes_nothing_the_second_time(identity_center):
    write("users.csv", f"{USERS_HEADER},external_id,active\n{alice()},x,yes\nbob,Bob,Bob,Ross,bob@example.com,,0\n")
    assert run("import_users", "users.csv")[:2] == (0, "created 2, updated 0, unchanged 0\n")
    users = sorted(map(str, DirectoryUser.objects.values_list()))
    events = AuditEvent.objects.exclude(action="directory.import_users").count()
    assert run("import_users", "users.csv")[:2] == (0, "created 0, updated 0, unchanged 2\n")
    assert sorted(map(str, DirectoryUser.objects.values_list())) == users
    assert AuditEvent.objects.exclude(action="directory.import_users").count() == events


def test_dry_run_reports_what_would_change_and_writes_nothing(identity_center):
    DirectoryUserFactory(identity_center=identity_center, user_name="alice", email="alice@example.com")
    DirectoryUserFactory(
        identity_center=identity_center,
        user_name="bob",
        display_name="Bob Ross",
        given_name="Bob",
        family_name="Ross",
        email="bob@example.com",
    )
    write("users.csv", f"{USERS_HEADER}\n{alice()}\nbob,Bob Ross,Bob,Ross,bob@example.com\ncarol,C,C,K,c@x.org\n")
    before = state()
    status, out, errors = run("import_users", "users.csv", "--dry-run")
    assert (status, out, errors) == (0, "would create 1, update 1, unchanged 1\n", [])
    assert state() == before


def test_dry_run_of_an_invalid_file_exits_1(identity_center):
    write("users.csv", f"{USERS_HEADER}\n{alice(email='nope')}\n")
    status, out, errors = run("import_users", "users.csv", "--dry-run")
    assert (status, out, errors) == (1, "", ["users.csv:2: email: 'nope' is not a valid email address."])


def test_the_import_and_each_user_are_audited_as_the_command(identity_center):
    bob = DirectoryUserFactory(
        identity_center=identity_center, user_name="bob", display_name="Bobby", email="bob@example.com"
    )
    content = f"{USERS_HEADER}\n{alice()}\nbob,Bob Ross,Bob,Ross,bob@example.com\n"
    write("users.csv", content)
    start = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    assert run("import_users", "users.csv")[0] == 0
    events = AuditEvent.objects.filter(pk__gt=start).order_by("pk")
    assert {e.actor_label for e in events} == {"manage.py import_users"}
    assert {e.source for e in events} == {"command"}
    by_action = {e.action: e for e in events}
    assert sorted(by_action) == ["directory.import_users", "directory_user.create", "directory_user.update"]
    assert len(events) == 3
    sha256 = hashlib.sha256(content.encode()).hexdigest()
    run_event = by_action["directory.import_users"]
    assert (run_event.target_type, run_event.target_id, run_event.target_label) == ("import", sha256, "users.csv")
    assert run_event.after == {
        "file": "users.csv",
        "sha256": sha256,
        "identity_store_id": "d-1234567890",
        "created": 1,
        "updated": 1,
        "unchanged": 0,
    }
    alice_user = DirectoryUser.objects.get(user_name="alice")
    created = by_action["directory_user.create"]
    assert (created.target_type, created.target_id) == ("directoryuser", str(alice_user.pk))
    assert created.after["email"] == "alice@example.com"
    assert created.after == user_snapshot(alice_user)  # what the services record
    updated = by_action["directory_user.update"]
    assert updated.before == user_snapshot(bob)
    assert updated.after == user_snapshot(DirectoryUser.objects.get(pk=bob.pk))
    assert (updated.before["display_name"], updated.after["display_name"]) == ("Bobby", "Bob Ross")
    assert (updated.target_id, updated.target_label) == (str(bob.pk), "Bob Ross (bob)")


def test_a_change_of_active_is_announced_once_per_direction(identity_center):
    DirectoryUserFactory(identity_center=identity_center, user_name="alice", email="alice@example.com")
    calls = []

    def receiver(**kwargs):
        calls.append((sorted(kwargs["user_ids"]), kwargs["active"]))

    signals.users_activation_changed.connect(receiver)
    try:
        write("users.csv", f"{USERS_HEADER},active\n{alice()},no\nbob,Bob,Bob,Ross,bob@example.com,no\n")
        assert run("import_users", "users.csv")[0] == 0
    finally:
        signals.users_activation_changed.disconnect(receiver)
    assert calls == [([DirectoryUser.objects.get(user_name="alice").pk], False)]


def test_a_failure_in_the_middle_of_writing_leaves_the_directory_as_it_was(identity_center, monkeypatch):
    DirectoryUserFactory(identity_center=identity_center, user_name="zed", email="zed@example.com")
    monkeypatch.setattr(importer_base, "BATCH_SIZE", 2)
    rows = [alice(user_name=f"user{i}", email=f"u{i}@example.com") for i in range(5)]
    write("users.csv", "\n".join([USERS_HEADER, *rows, "zed,Zed,Zed,Z,zed@example.com"]))
    before = state()
    original = users_importer.audit_record_many
    batches = []

    def crash_on_the_third_batch(**kwargs):
        batches.append(DirectoryUser.objects.count())
        if len(batches) == 3:
            raise RuntimeError("disk full")
        return original(**kwargs)

    monkeypatch.setattr(users_importer, "audit_record_many", crash_on_the_third_batch)
    with pytest.raises(RuntimeError, match="disk full"):
        run("import_users", "users.csv")
    assert batches == [3, 5, 6]  # users were written batch after batch when the crash came
    assert state() == before
    monkeypatch.setattr(users_importer, "audit_record_many", original)
    assert run("import_users", "users.csv")[:2] == (0, "created 5, updated 1, unchanged 0\n")


def test_a_large_file_is_checked_and_written_in_batches(identity_center, django_assert_max_num_queries):
    rows = [f"u{i},User {i},User,N{i},u{i}@example.com" for i in range(5000)]
    write("users.csv", "\n".join([USERS_HEADER, *rows]))
    # prepare, then per batch of 2,000: users + audit events; then the import event (and the savepoints).
    with django_assert_max_num_queries(20):
        assert run("import_users", "users.csv")[:2] == (0, "created 5000, updated 0, unchanged 0\n")
    assert DirectoryUser.objects.count() == 5000
    assert AuditEvent.objects.filter(action="directory_user.create").count() == 5000


# --- exit status 2 --------------------------------------------------------------------------------------------


def test_a_missing_file_exits_2(identity_center):
    assert run("import_users", "nope.csv")[:2] == (2, "")


def test_a_folder_instead_of_a_file_exits_2(identity_center, in_tmp):
    (in_tmp / "folder.csv").mkdir()
    assert run("import_users", "folder.csv")[0] == 2


def test_an_unknown_identity_store_exits_2(identity_center):
    write("users.csv", f"{USERS_HEADER}\n{alice()}\n")
    with pytest.raises(CommandError, match="No Identity Center has the identity store id 'd-0000000000'") as exc:
        call_command("import_users", "users.csv", "--identity-store", "d-0000000000")
    assert exc.value.returncode == 2
    assert DirectoryUser.objects.count() == 0


def test_the_identity_store_must_be_named_when_there_are_several(identity_center, second_identity_center):
    write("users.csv", f"{USERS_HEADER}\n{alice()}\n")
    with pytest.raises(CommandError, match="choose one with --identity-store") as exc:
        call_command("import_users", "users.csv")
    assert exc.value.returncode == 2
    assert run("import_users", "users.csv", "--identity-store", "d-abcdef0123")[0] == 0
    assert DirectoryUser.objects.get().identity_center == second_identity_center


def test_no_identity_center_at_all_exits_2(db):
    write("users.csv", f"{USERS_HEADER}\n{alice()}\n")
    assert run("import_users", "users.csv")[0] == 2


def test_the_command_line_exit_statuses(identity_center, capsys, monkeypatch):
    """Through run_from_argv, as `manage.py` runs it: 2 for a wrong argument or no file, 1 for a bad file."""
    monkeypatch.setattr(connections, "close_all", lambda: None)  # run_from_argv closes them: keep the test's
    for argv, status in [
        (["import_users"], 2),
        (["import_users", "users.csv", "--bogus"], 2),
        (["import_users", "missing.csv"], 2),
        (["import_users", write("users.csv", f"{USERS_HEADER}\n{alice(email='x')}\n")], 1),
    ]:
        with pytest.raises(SystemExit) as exit_:
            ImportUsersCommand().run_from_argv(["manage.py", *argv])
        assert exit_.value.code == status, argv
    err = capsys.readouterr().err
    assert "users.csv:2: email: 'x' is not a valid email address.\n" in err
    assert "CommandError: users.csv: 1 error: nothing was written." in err
    assert "Can't read missing.csv: No such file or directory." in err


# --- groups ---------------------------------------------------------------------------------------------------


def test_import_groups_creates_and_updates_by_display_name(identity_center):
    group = DirectoryGroupFactory(identity_center=identity_center, display_name="Engineering", external_id="e1")
    write(
        "groups.csv",
        'display_name,description\nengineering,Builds things\n"Research, EU",Frankfurt lab\n',
    )
    assert run("import_groups", "groups.csv")[:2] == (0, "created 1, updated 1, unchanged 0\n")
    group.refresh_from_db()
    assert (group.display_name, group.description, group.external_id) == ("engineering", "Builds things", "e1")
    assert DirectoryGroup.objects.get(display_name="Research, EU").description == "Frankfurt lab"
    assert run("import_groups", "groups.csv")[:2] == (0, "created 0, updated 0, unchanged 2\n")
    research = DirectoryGroup.objects.get(display_name="Research, EU")
    created = AuditEvent.objects.get(action="directory_group.create")
    assert (created.target_id, created.target_label, created.after) == (
        str(research.pk),
        "Research, EU",
        group_snapshot(research),
    )
    assert AuditEvent.objects.get(action="directory_group.update").after == group_snapshot(group)
    actions = list(AuditEvent.objects.filter(source="command").values_list("action", flat=True).order_by("pk"))
    assert sorted(actions[-4:]) == [
        "directory.import_groups",
        "directory.import_groups",
        "directory_group.create",
        "directory_group.update",
    ]


def test_a_group_name_twice_in_the_file_is_an_error(identity_center):
    errors = refused("import_groups", "groups.csv", "display_name\nEngineering\nResearch\nENGINEERING\n")
    assert errors == ["groups.csv:4: display_name: the group 'ENGINEERING' is already on line 2 (case ignored)"]


def test_group_values_are_checked_with_the_services_rules(identity_center):
    errors = refused(
        "import_groups", "groups.csv", f"display_name,description,external_id\n,x,\nG,{'d' * 1025},\n{'g' * 129},,\n"
    )
    assert errors == [
        "groups.csv:2: display_name: Enter a display name.",
        "groups.csv:3: description: Use at most 1024 characters (it has 1025).",
        "groups.csv:4: display_name: Use at most 128 characters (it has 129).",
    ]


def test_groups_header_errors(identity_center):
    assert refused("import_groups", "groups.csv", "name,description\nEngineering,x\n") == [
        "groups.csv:1: name: unknown column: the columns are display_name, description or external_id",
        "groups.csv:1: display_name: missing column",
    ]
    assert refused("import_groups", "groups.csv", "display_name\tdescription\nEngineering\tx\n") == [
        "groups.csv:1: -: expected fields separated by commas, found tabs"
    ]


# --- memberships ----------------------------------------------------------------------------------------------


@pytest.fixture
def people(identity_center):
    users = {
        name: DirectoryUserFactory(identity_center=identity_center, user_name=name)
        for name in ["alice", "bob", "carol"]
    }
    groups = {
        name: DirectoryGroupFactory(identity_center=identity_center, display_name=name)
        for name in ["Engineering", "Research"]
    }
    GroupMembership.objects.create(group=groups["Research"], user=users["carol"])
    return users, groups


def pairs() -> set[tuple[str, str]]:
    return set(GroupMembership.objects.values_list("group__display_name", "user__user_name"))


def test_import_memberships_adds_and_keeps_the_others(people):
    users, groups = people
    calls = []

    def receiver(sender, **kwargs):
        calls.append(kwargs)

    signals.memberships_changed.connect(receiver)
    try:
        write("members.csv", "group,user_name\nengineering,Alice\nEngineering,bob\nResearch,carol\nResearch,alice\n")
        assert run("import_memberships", "members.csv")[:2] == (0, "created 3, updated 0, unchanged 1\n")
        assert pairs() == {
            ("Engineering", "alice"),
            ("Engineering", "bob"),
            ("Research", "carol"),
            ("Research", "alice"),
        }
        assert len(calls) == 1
        assert calls[0]["identity_center"] == groups["Engineering"].identity_center
        assert calls[0]["removed"] == []
        assert sorted(calls[0]["added"]) == sorted(
            [
                (groups["Engineering"].pk, users["alice"].pk),
                (groups["Engineering"].pk, users["bob"].pk),
                (groups["Research"].pk, users["alice"].pk),
            ]
        )
        assert calls[0]["actor"].label == "manage.py import_memberships"

        # Again: nothing to add, so nothing is announced.
        assert run("import_memberships", "members.csv")[:2] == (0, "created 0, updated 0, unchanged 4\n")
        assert len(calls) == 1
    finally:
        signals.memberships_changed.disconnect(receiver)


def test_each_group_that_gained_members_is_audited_once_naming_them(people):
    _, groups = people
    write("members.csv", "group,user_name\nEngineering,Bob\nResearch,carol\nEngineering,alice\n")
    assert run("import_memberships", "members.csv")[0] == 0
    added = AuditEvent.objects.get(action="directory_group.members_import")  # Research gained no one
    assert (added.target_type, added.target_id, added.target_label) == (
        "directorygroup",
        str(groups["Engineering"].pk),
        "Engineering",
    )
    assert added.after == {"added": 2, "users": ["alice", "bob"]}
    assert added.source == "command" and added.actor_label == "manage.py import_memberships"
    assert AuditEvent.objects.get(action="directory.import_memberships").after["created"] == 2


def test_unknown_groups_and_users_are_errors(people, second_identity_center):
    DirectoryGroupFactory(identity_center=second_identity_center, display_name="Elsewhere")
    errors = refused(
        "import_memberships",
        "members.csv",
        "group,user_name\nEngineering,alice\nSales,bob\nResearch,mallory\nElsewhere,\n",
        "--identity-store=d-1234567890",
    )
    assert errors == [
        "members.csv:3: group: no group named 'Sales' in this directory",
        "members.csv:4: user_name: no user named 'mallory' in this directory",
        "members.csv:5: group: no group named 'Elsewhere' in this directory",
        "members.csv:5: user_name: Enter a user name.",
    ]


def test_a_membership_twice_in_the_file_is_an_error(people):
    errors = refused("import_memberships", "members.csv", "group,user_name\nEngineering,alice\nENGINEERING,Alice\n")
    assert errors == ["members.csv:3: -: the same membership is already on line 2"]


def test_membership_header_errors(people):
    assert refused("import_memberships", "members.csv", "group;user_name\nEngineering;alice\n") == [
        "members.csv:1: -: expected 2 fields separated by commas, found 1"
    ]
    assert refused("import_memberships", "members.csv", "group\nEngineering\n") == [
        "members.csv:1: user_name: missing column"
    ]


def test_dry_run_of_memberships_writes_nothing(people):
    write("members.csv", "group,user_name\nEngineering,alice\nResearch,carol\n")
    before = state()
    assert run("import_memberships", "members.csv", "--dry-run")[:2] == (0, "would create 1, update 0, unchanged 1\n")
    assert state() == before


def test_a_failure_while_adding_memberships_leaves_everything_as_it_was(people, monkeypatch):
    monkeypatch.setattr(importer_base, "BATCH_SIZE", 2)
    write("members.csv", "group,user_name\nEngineering,alice\nEngineering,bob\nEngineering,carol\nResearch,bob\n")
    before = state()
    calls = []
    original = memberships_importer.insert_rows

    def crash_on_the_second_batch(model, fields, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("connection lost")
        return original(model, fields, rows)

    monkeypatch.setattr(memberships_importer, "insert_rows", crash_on_the_second_batch)
    with pytest.raises(RuntimeError, match="connection lost"):
        run("import_memberships", "members.csv")
    assert calls == [2, 2]
    assert state() == before


def test_verbosity_2_logs_progress_by_tenths_when_standard_error_is_not_a_terminal(identity_center):
    rows = "".join(f"user{n},User {n},User,N{n},user{n}@example.com\n" for n in range(3000))
    write("users.csv", f"{USERS_HEADER}\n{rows}")
    status, out, err = run("import_users", "users.csv", "-v", "2")
    assert status == 0 and out.strip() == "created 3000, updated 0, unchanged 0"
    size = len(f"{USERS_HEADER}\n{rows}".encode())
    assert err[-1] == f"importing: 100% ({size:,} of {size:,} bytes)"
    assert all(line.startswith("importing: ") for line in err) and 2 <= len(err) <= 11
    assert run("import_users", "users.csv")[2] == []  # verbosity 1: quiet

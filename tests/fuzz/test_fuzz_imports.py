"""Fuzzing the import commands (issue 9; CONTRACTS.md "Management commands"): every CSV (and JSON Lines) import fed
random and hostile files: random bytes, other encodings and byte order marks, huge fields, NULs, stray quotes,
missing and extra columns, formula injections, valid-looking rows mixed with invalid ones.

For every file: the command raises nothing but CommandError (exit status 1 or 2); when it fails it writes nothing
(every table it could touch, audit included, is as before); when it succeeds, importing the same file again changes
nothing but the import's own audit event, and says so in its summary. The books stay right after every import
(`balance_mismatches`, `rollups_differences`).

Each example runs inside a savepoint that is rolled back, so examples don't see each other's writes.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from hypothesis import event, given, settings
from hypothesis import strategies as st

from credits.models import Balance, Notification, ProfileBalance, UsageEvent
from credits.reports import HEADER as REPORT_HEADER
from credits.selectors import balance_mismatches
from credits.services.rollups import ROLLUP_MODELS, rollups_differences
from directory.models import DirectoryGroup, DirectoryUser, GroupMembership
from kiroconsole.models import AuditEvent
from subscriptions.models import GroupAssignment, Subscription
from subscriptions.services import profile_settings_update, subscription_subscribe
from tests.fuzz.conftest import examples
from tests.subscriptions.conftest import ACTOR, clock, org  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db

TABLES = (
    DirectoryUser,
    DirectoryGroup,
    GroupMembership,
    Subscription,
    GroupAssignment,
    UsageEvent,
    Balance,
    ProfileBalance,
    *ROLLUP_MODELS,
    Notification,
)

# Values that have broken parsers somewhere: formulas, quotes, NULs, numbers a float or int() chokes on, dates out of
# datetime's range, strange Unicode, long text.
HOSTILE = (
    "",
    " ",
    "\x00",
    "a\x00b",
    '"',
    '""',
    '"a"b',
    "'",
    "\\",
    '=HYPERLINK("http://x")',
    "=cmd|' /C calc'!A0",
    "+SUM(A1:A9)",
    "-1",
    "@SUM(1)",
    "\t=1",
    "\r",
    "\n",
    "a,b",
    "a\nb",
    "a\r\nb",
    ";",
    "é",
    "\u202eevil",
    "\ufeff",
    "\ud7ff\ue000",
    "😀😀😀",
    "x" * 300,
    "x" * 5000,
    "NaN",
    "Infinity",
    "-Infinity",
    "sNaN",
    "1e30",
    "1e-30",
    "1E+999999999",
    "0",
    "-0",
    "0.001",
    "00001",
    "1_000",
    "0x10",
    "true",
    "True",
    "FALSE",
    "yes",
    "null",
    "None",
    "[]",
    "{}",
    "²",
    "١٢",
    "9" * 30,
    "9" * 5000,
    "2026-11-15T12:00:00Z",
    "2026-11-15T12:00:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "2026-02-30",
    "2026-13-01",
    "9999-12-31",
    "0000-00-00",
    "d-1234567890",
    "d-1234567890.not-a-uuid",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    "Robert'); DROP TABLE directory_directoryuser;--",
)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
HOSTILE_VALUE = st.one_of(st.sampled_from(HOSTILE), TEXT)
TERMINATORS = ("\n", "\r\n", "\r")
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1", "cp1252")


@dataclass
class Spec:
    """One import: its command, its arguments, its columns and what valid values look like per column."""

    command: str
    args: tuple[str, ...]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    valid: dict[str, st.SearchStrategy[str]]
    done: Callable[[str], bool]  # whether a re-run's summary says nothing changed
    suffix: str = ".csv"

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


def _row(spec: Spec, header: list[str], valid_only: bool) -> st.SearchStrategy[list[str]]:
    by_lower = {column.lower(): column for column in spec.columns}
    cells = []
    for name in header:
        column = by_lower.get(name.strip().lower())
        valid = None if column is None else spec.valid.get(column)
        if valid is None:
            cells.append(HOSTILE_VALUE)
        elif valid_only:
            cells.append(valid)
        else:
            cells.append(st.one_of(valid, valid, HOSTILE_VALUE))
    return st.tuples(*cells).map(list)


@st.composite
def csv_files(draw: st.DrawFn, spec: Spec) -> bytes:
    """A CSV import file: mostly well-formed, with every kind of damage drawn now and then."""
    header = list(spec.required)
    if spec.optional:
        header += draw(st.lists(st.sampled_from(spec.optional), unique=True))
    damage = draw(st.sampled_from(("none", "none", "none", "shuffle", "case", "drop", "extra", "dup", "blank")))
    if damage == "shuffle":
        header = draw(st.permutations(header))
    elif damage == "case":
        header = [name.upper() if draw(st.booleans()) else f" {name} " for name in header]
    elif damage == "drop" and header:
        header.pop(draw(st.integers(0, len(header) - 1)))
    elif damage == "extra":
        header.append(draw(st.sampled_from(("extra", "=1+1", "", "user_name", "Date"))))
    elif damage == "dup" and header:
        header.append(draw(st.sampled_from(header)))
    elif damage == "blank":
        header = []
    valid_only = draw(st.booleans())
    rows = draw(st.lists(_row(spec, header, valid_only), max_size=6))
    if not valid_only:  # rows with fields missing or added
        for row in rows:
            change = draw(st.sampled_from((0, 0, 0, -1, 1)))
            if change < 0 and row:
                row.pop()
            elif change > 0:
                row.append(draw(HOSTILE_VALUE))
    terminator = draw(st.sampled_from(TERMINATORS)) if not valid_only else "\n"
    out = io.StringIO()
    if draw(st.booleans()):
        quoting = draw(st.sampled_from((csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC)))
        csv.writer(out, lineterminator=terminator, quoting=quoting).writerows([header, *rows])
    else:  # naive joining: quotes and commas inside fields break the layout
        out.write("".join(",".join(row) + terminator for row in [header, *rows]))
    text = out.getvalue()
    encoding = "utf-8" if valid_only else draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding, errors="replace")
    return _damage_bytes(draw, data) if not valid_only else data


@st.composite
def jsonl_files(draw: st.DrawFn, spec: Spec) -> bytes:
    """A JSON Lines file: objects with the import's keys, values of any JSON type, and lines that are no JSON."""
    scalar = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=False, allow_infinity=False),
        HOSTILE_VALUE,
    )
    value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3))
    valid_only = draw(st.booleans())
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        keys = list(spec.columns) + ([] if valid_only else draw(st.lists(TEXT, max_size=2)))
        obj: dict[str, Any] = {}
        for key in keys:
            if not valid_only and draw(st.integers(0, 5)) == 0:
                continue  # a missing key
            valid = spec.valid.get(key)
            if valid is not None and (valid_only or draw(st.booleans())):
                obj[key] = draw(valid)
            else:
                obj[key] = draw(value)
        kind = "object" if valid_only else draw(st.sampled_from(("object",) * 6 + ("raw", "nested", "number", "big")))
        if kind == "raw":
            lines.append(draw(st.sampled_from(("{", "[1, 2]", '"text"', "NaN", "{'a': 1}", '{"a": NaN}', ""))))
        elif kind == "nested":
            lines.append("[" * 5000 + "]" * 5000)  # deeper than the JSON decoder's recursion
        elif kind == "number":
            lines.append('{"credits": 1' + "0" * 5000 + "}")  # more digits than int() converts
        elif kind == "big":
            lines.append(json.dumps({"idempotency_key": "x" * 200_000}))
        else:
            lines.append(json.dumps(obj, ensure_ascii=draw(st.booleans())))
    data = ("\n".join(lines) + "\n").encode()
    return _damage_bytes(draw, data) if not valid_only else data


def _damage_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """Now and then: a NUL, a cut, random bytes or a huge field spliced in."""
    damage = draw(st.sampled_from(("none", "none", "nul", "cut", "splice", "bom16", "huge", "longline")))
    if damage == "none" or not data:
        return data
    at = draw(st.integers(0, len(data)))
    if damage == "nul":
        return data[:at] + b"\x00" + data[at:]
    if damage == "cut":
        return data[:at]
    if damage == "splice":
        return data[:at] + draw(st.binary(max_size=40)) + data[at:]
    if damage == "bom16":
        return b"\xff\xfe" + data
    if damage == "huge":  # one field larger than csv's 128 KiB limit
        return data[:at] + b"h" * (130 * 1024) + data[at:]
    return data[:at] + b"l" * (1024 * 1024 + 10) + data[at:]  # a line over the readers' 1 MiB limit


def files(spec: Spec) -> st.SearchStrategy[bytes]:
    structured = jsonl_files(spec) if spec.suffix == ".jsonl" else csv_files(spec)
    return st.one_of(structured, structured, structured, st.binary(max_size=300))


def run(command: str, *args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr); anything but CommandError escapes and fails the test."""
    out, err = StringIO(), StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def state() -> tuple:
    """Every row an import could write (the audit aside)."""
    return tuple(sorted(map(str, model.objects.values_list())) for model in TABLES)


def counts() -> tuple:
    """The row counts of those tables and of the audit, in one query: a refused import must leave them as they are
    (and, as every write is audited, an unchanged audit means no row was updated either)."""
    tables = [model._meta.db_table for model in (*TABLES, AuditEvent)]
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {connection.ops.quote_name(t)})" for t in tables)  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql)  # nosec B608 (table names of our models)
        return tuple(cursor.fetchone())


def audit_count() -> int:
    return AuditEvent.objects.count()


def check_import(spec: Spec, data: bytes, tmp_path) -> str:
    """Import `data`: the contract's outcome on failure or success (see the module). Returns the outcome."""
    path = str(tmp_path / f"fuzz{spec.suffix}")
    with open(path, "wb") as file:
        file.write(data)
    with transaction.atomic():  # every example starts from the fixture's data
        before = counts()
        status, out, err = run(spec.command, path, *spec.args)
        if status:
            assert status in (1, 2), (status, err)
            assert out == ""
            assert err or status == 2
            assert counts() == before, "a refused import wrote something"
            outcome = "refused"
        else:
            assert counts()[-1] > before[-1], "an import without its audit event"
            after = state()
            again_status, again, again_err = run(spec.command, path, *spec.args)
            assert again_status == 0, again_err
            assert spec.done(again), again
            assert state() == after, "importing the same file twice changed something"
            assert balance_mismatches() == []
            assert rollups_differences() == []
            outcome = "imported"
        transaction.set_rollback(True)
    return outcome


# --- The imports ------------------------------------------------------------------------------------------------


@pytest.fixture
def world(org, clock):  # noqa: F811  (the fixtures imported above)
    """`org` (now 2026-11-15 12:00 UTC; ann, bob, cat, dan deactivated; Engineering and Research) with ann at Pro
    and bob at Pro+ in Production since October 1st, overage on."""
    clock.set(2026, 10, 1)
    subscription_subscribe(profile=org.profile, users=org.users["ann"], tier="PRO", actor=ACTOR)
    subscription_subscribe(profile=org.profile, users=org.users["bob"], tier="PRO_PLUS", actor=ACTOR)
    clock.set(2026, 11, 15, 12, 0)
    profile_settings_update(profile=org.profile, changes={"overage_enabled": True}, actor=ACTOR)
    return org


NAMES = st.sampled_from(("ann", "bob", "cat", "dan", "ANN", "Bob ", "zed", "new.user", "ümlaut"))
GROUPS = st.sampled_from(("Engineering", "Research", "engineering", "Sales", "New group"))
TIERS = st.sampled_from(("PRO", "PRO_PLUS", "PRO_MAX", "POWER", "pro", "FREE"))


def _created_nothing(out: str) -> bool:
    return out.startswith("created 0, updated 0,")


def directory_specs(store: str) -> dict[str, Spec]:
    args = ("--identity-store", store)
    return {
        "import_users": Spec(
            "import_users",
            args,
            ("user_name", "display_name", "given_name", "family_name", "email"),
            ("external_id", "active"),
            {
                "user_name": NAMES,
                "display_name": st.sampled_from(("Ann", "Bob Builder", "Zed", "=1+1")),
                "given_name": st.sampled_from(("Ann", "Bob", "Zed")),
                "family_name": st.sampled_from(("Tester", "Other")),
                "email": st.sampled_from(("ann@example.com", "bob@example.com", "zed@example.com", "x@y.z")),
                "external_id": st.sampled_from(("", "00u-1", "ext-2")),
                "active": st.sampled_from(("", "true", "false", "yes", "0", "1")),
            },
            _created_nothing,
        ),
        "import_groups": Spec(
            "import_groups",
            args,
            ("display_name",),
            ("description", "external_id"),
            {
                "display_name": GROUPS,
                "description": st.sampled_from(("", "The team", "=HYPERLINK(1)")),
                "external_id": st.sampled_from(("", "g-1", "g-2")),
            },
            _created_nothing,
        ),
        "import_memberships": Spec(
            "import_memberships",
            args,
            ("group", "user_name"),
            (),
            {"group": GROUPS, "user_name": NAMES},
            _created_nothing,
        ),
    }


def profile_specs(org) -> dict[str, Spec]:  # noqa: F811  (the org of a test, not the fixture)
    args = ("--profile", org.profile.profile_id)
    usage_valid = {
        "idempotency_key": st.sampled_from(("k-1", "k-2", "k-3", "k-4")),
        "user_name": st.sampled_from(("ann", "bob", "ANN", "cat", "zed")),
        "credits": st.sampled_from(("1", "2.50", "0.01", "999.99", "1500")),
        "occurred_at": st.sampled_from(("2026-11-10T10:00:00Z", "2026-10-03T09:00:00+02:00", "2026-11-15T12:00:00Z")),
        "client_type": st.sampled_from(("KIRO_IDE", "KIRO_CLI", "kiro_ide")),
        "model": st.sampled_from(("auto", "claude-sonnet-4.5", "Claude-Haiku-4.5")),
        "messages": st.sampled_from(("", "1", "12")),
    }
    usage_columns = ("idempotency_key", "user_name", "credits", "occurred_at", "client_type", "model")
    store = org.ic.identity_store_id
    user_ids = [f"{store}.{org.users[name].pk}" for name in ("ann", "bob", "cat")]
    report_valid = {
        "Date": st.sampled_from(("2026-10-03", "2026-11-02", "2026-11-16")),
        "UserId": st.sampled_from((*user_ids, f"{store}.00000000-0000-0000-0000-000000000000")),
        "Client_Type": st.sampled_from(("KIRO_IDE", "KIRO_CLI")),
        "Chat_Conversations": st.sampled_from(("0", "1", "3")),
        "Credits_Used": st.sampled_from(("0", "5.00", "12.5", "1500")),
        "Overage_Cap": st.sampled_from(("", "100.00")),
        "Overage_Credits_Used": st.sampled_from(("0", "0.00", "1.00")),
        "Overage_Enabled": st.sampled_from(("false", "true", "TRUE")),
        "ProfileId": st.sampled_from((org.profile.arn, org.profile.profile_id, org.other.arn)),
        "Subscription_Tier": st.sampled_from(("PRO", "PRO_PLUS", "pro")),
        "Total_Messages": st.sampled_from(("0", "3", "40")),
        "New_User": st.sampled_from(("false", "true")),
        "User_Email": st.sampled_from(("ann@example.com", "")),
        "Usage_Limit": st.sampled_from(("1000", "2000")),
    }
    return {
        "import_subscriptions": Spec(
            "import_subscriptions",
            args,
            ("type", "name", "tier"),
            (),
            {
                "type": st.sampled_from(("user", "group", "USER", "team")),
                "name": st.one_of(NAMES, GROUPS),
                "tier": TIERS,
            },
            _created_nothing,
        ),
        "import_usage": Spec(
            "import_usage",
            args,
            usage_columns,
            ("messages",),
            usage_valid,
            lambda out: out.startswith("accepted 0 "),
        ),
        "import_usage_jsonl": Spec(
            "import_usage",
            args,
            usage_columns,
            ("messages",),
            usage_valid,
            lambda out: out.startswith("accepted 0 "),
            suffix=".jsonl",
        ),
        "import_user_report": Spec(
            "import_user_report",
            args,
            tuple(c for c in REPORT_HEADER if c != "New_User"),
            ("New_User",),
            report_valid,
            lambda out: out.startswith("imported 0 rows"),
        ),
    }


IMPORTS = (
    "import_users",
    "import_groups",
    "import_memberships",
    "import_subscriptions",
    "import_usage",
    "import_usage_jsonl",
    "import_user_report",
)


@pytest.mark.parametrize("name", IMPORTS)
@settings(settings.get_profile("fuzz"), max_examples=examples(25))
@given(data=st.data())
def test_an_import_never_crashes_and_writes_all_or_nothing(world, tmp_path, name, data):
    specs = directory_specs(world.ic.identity_store_id) | profile_specs(world)
    spec = specs[name]
    event(check_import(spec, data.draw(files(spec), label="file"), tmp_path))


@pytest.mark.parametrize("name", IMPORTS)
def test_the_fuzzed_files_include_good_ones(world, tmp_path, name):
    """The generator is not only noise: a file of valid rows is imported (so the success path is fuzzed too)."""
    specs = directory_specs(world.ic.identity_store_id) | profile_specs(world)
    spec = specs[name]
    good = {
        "import_users": "user_name,display_name,given_name,family_name,email\nzed,Zed,Zed,Tester,zed@example.com\n",
        "import_groups": "display_name,description\nSales,=HYPERLINK(1)\n",
        "import_memberships": "group,user_name\nResearch,ann\n",
        "import_subscriptions": "type,name,tier\ngroup,Research,PRO\nuser,cat,POWER\n",
        "import_usage": "idempotency_key,user_name,credits,occurred_at,client_type,model\n"
        "k-1,ann,2.50,2026-11-10T10:00:00Z,KIRO_IDE,auto\n",
        "import_usage_jsonl": json.dumps(
            {
                "idempotency_key": "k-1",
                "user_name": "bob",
                "credits": "1",
                "occurred_at": "2026-11-10T10:00:00Z",
                "client_type": "KIRO_CLI",
                "model": "auto",
            }
        )
        + "\n",
        "import_user_report": ",".join(REPORT_HEADER)
        + "\n"
        + ",".join(
            (
                "2026-11-02",
                f"{world.ic.identity_store_id}.{world.users['ann'].pk}",
                "KIRO_IDE",
                "1",
                "5.00",
                "",
                "0",
                "false",
                world.profile.arn,
                "PRO",
                "3",
                "false",
                "ann@example.com",
                "1000",
            )
        )
        + "\n",
    }[name]
    assert check_import(spec, good.encode(), tmp_path) == "imported"

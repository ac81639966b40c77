"""The benchmarks' results file (bench/_results.py) and the recording API of the harness: pure Python, no database,
no server."""

from __future__ import annotations

import pytest

from bench import _results
from bench.harness import BenchError, Context, Table


def context() -> Context:
    return Context(runs=1, warmup=0, rebuild=False, show_queries=False, memory=False, max_seconds=1, database="bench")


def run(key: str = "audit_log (SQLite)", **changes) -> _results.Run:
    ctx = context()
    ctx.table("audit_log: 200,000 events")
    ctx.record("(a) admin changelist  /admin/x/?a=1|2", "p50 286.3 ms", ratio="baseline")
    ctx.record("(b) audit log  /audit/", "p50 140.2 ms", ratio="0.49x base")
    ctx.target("p50 < 100 ms", False, operation="(b) audit log")
    ctx.target("single events 161/s (target >= 1,000)", False)
    fields = {
        "key": key,
        "command": "python -m bench audit_log --database-url sqlite:///var/bench.sqlite3",
        "started": "2026-11-27 22:00 UTC",
        "commit": "ef9f87b",
        "seconds": 130.4,
        "load_start": 1.0,
        "load_end": 2.5,
        "status": "ok",
        "environment": {"rows": "200,000 audit events"},
        "tables": ctx.tables,
        "targets": ctx.targets,
    }
    return _results.Run(**(fields | changes))


def test_a_section_shows_its_run_its_table_and_its_targets():
    text = _results.render_section(run())

    assert text.startswith("<!-- bench: audit_log (SQLite) seconds=130 -->\n## audit_log (SQLite)\n")
    assert text.endswith("<!-- /bench: audit_log (SQLite) -->\n")
    assert "2026-11-27 22:00 UTC, commit ef9f87b, 2 min 10 s, load average 1.0 at the start and 2.5 at the end" in text
    assert "| (a) admin changelist  /admin/x/?a=1\\|2 | p50 286.3 ms | baseline |  |  |" in text
    assert "| (b) audit log  /audit/ | p50 140.2 ms | 0.49x base | p50 < 100 ms | **missed** |" in text
    assert "Targets: 0 met, 2 missed." in text
    assert "- single events 161/s (target >= 1,000): **missed**" in text
    assert "- rows: 200,000 audit events" in text


def test_a_failed_run_says_so():
    assert "**FAILED: GET /audit/ answered 500, not 200.**" in _results.render_section(
        run(status="FAILED: GET /audit/ answered 500, not 200.")
    )


def test_a_rerun_replaces_its_own_section_only_and_keeps_the_header():
    header = _results.render_header("`python -m bench all`, 2026-11-27", {"CPU": "AMD EPYC, 2 cores"})
    first = _results.render_section(run())
    other = _results.render_section(run(key="credits_ingest (PostgreSQL)", seconds=61))
    first_key = "audit_log (SQLite)"
    text = _results.replace_section(header, first_key, first)
    text = _results.replace_section(text, "credits_ingest (PostgreSQL)", other)

    again = _results.render_section(run(seconds=99, status="FAILED: boom"))
    updated = _results.replace_section(text, first_key, again)

    assert updated.startswith(header)
    assert updated.count("<!-- bench: ") == 2
    assert "FAILED: boom" in updated and first not in updated
    assert other in updated
    assert updated.index("audit_log (SQLite)") < updated.index("credits_ingest (PostgreSQL)")  # its place kept
    assert _results.previous_seconds(updated, first_key) == 99
    assert _results.previous_seconds(updated, "credits_ingest (PostgreSQL)") == 61
    assert _results.previous_seconds(updated, "load_mixed (PostgreSQL)") is None
    assert _results.replace_section(updated, first_key, again) == updated  # the same run twice: the same file


def test_a_new_header_keeps_the_sections():
    text = _results.replace_section(
        _results.render_header("old", {}), "a (SQLite)", _results.render_section(run("a (SQLite)"))
    )

    updated = _results.replace_header(text, _results.render_header("new", {"CPU": "x"}))

    assert "| written by | new |" in updated and "| written by | old |" not in updated
    assert _results.split(updated)[1] == _results.split(text)[1]


def test_write_section_starts_a_new_file_with_the_header(tmp_path):
    path = tmp_path / "RESULTS.md"

    _results.write_section(path, run(), _results.render_header("first", {}))
    _results.write_section(path, run(seconds=5), _results.render_header("second", {}))

    text = path.read_text()
    assert text.startswith(_results.TITLE) and "| written by | first |" in text
    assert text.count("<!-- bench: audit_log (SQLite)") == 1
    assert _results.previous_seconds(text, "audit_log (SQLite)") == 5


def test_the_command_line_leaves_the_results_file_out_and_names_the_database():
    assert (
        _results.command_line(
            "load_mixed",
            ["--duration", "60", "--results", "bench/RESULTS.md"],
            "postgres://postgres@127.0.0.1:5432/bench_load",
        )
        == "python -m bench load_mixed --duration 60 --database-url postgres://postgres@127.0.0.1:5432/bench_load"
    )
    assert _results.command_line(
        "audit_log", ["--results=x.md", "--database-url", f"sqlite:///{_results.ROOT}/var/bench.sqlite3"], "ignored"
    ) == ("python -m bench audit_log --database-url sqlite:///var/bench.sqlite3")


@pytest.mark.parametrize(("seconds", "text"), [(42.4, "42 s"), (185, "3 min 05 s"), (3725, "1 h 02 min")])
def test_durations_read_as_people_say_them(seconds, text):
    assert _results.duration(seconds) == text


def test_a_row_target_needs_a_recorded_row():
    ctx = context()
    ctx.record("(a) something", "1 ms")

    with pytest.raises(BenchError):
        ctx.target("p50 < 100 ms", True, operation="(z) nothing")
    assert ctx.tables == [Table("results", ctx.tables[0].rows)]

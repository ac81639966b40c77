"""`python -m bench all`: which benchmarks run where, with which options, and how long they should take (pure
Python: a registry of fakes, no database, nothing run)."""

from __future__ import annotations

import pytest

from bench import _all, _results
from bench.__main__ import build_parser
from bench.harness import DEFAULT_DATABASE_URL, Benchmark

SERVER = "postgres://postgres@127.0.0.1:5432"


def fake(name: str, **options) -> Benchmark:
    return Benchmark(name, "", lambda ctx: None, **options)


REGISTRY = {
    "audit_log": fake("audit_log", minutes=2),
    "credits_ingest": fake(
        "credits_ingest", databases=("sqlite", "postgresql:bench_credits"), minutes=2.5, quick=("--users", "1000")
    ),
    "load_mixed": fake("load_mixed", databases=("postgresql:bench_load",), minutes=7, quick=("--users", "500")),
    "usage_dashboard": fake(
        "usage_dashboard",
        databases=("sqlite:///var/bench_usage.sqlite3",),
        quick=("--database-url", "sqlite:///var/bench_usage_quick.sqlite3", "--users", "1000"),
    ),
}


def keys(steps):
    return [(s.name, s.url) for s in steps]


def test_each_benchmark_runs_on_each_of_its_databases():
    steps = _all.plan(REGISTRY, postgres_server=SERVER + "/")

    assert keys(steps) == [
        ("audit_log", DEFAULT_DATABASE_URL),
        ("credits_ingest", DEFAULT_DATABASE_URL),
        ("credits_ingest", f"{SERVER}/bench_credits"),
        ("load_mixed", f"{SERVER}/bench_load"),
        ("usage_dashboard", "sqlite:///var/bench_usage.sqlite3"),
    ]
    assert [s.key for s in steps][2:4] == ["credits_ingest (PostgreSQL)", "load_mixed (PostgreSQL)"]
    assert all(s.options == [] for s in steps)


def test_estimates_come_from_the_last_run_else_from_the_registry():
    previous = _results.render_section(_results.Run("audit_log (SQLite)", "c", "d", "x", 95, 0, 0, "ok", {}, [], []))

    steps = _all.plan(REGISTRY, postgres_server=SERVER, previous=previous)

    assert [s.estimate for s in steps] == [95, 150, 150, 420, None]


def test_quick_runs_are_small_and_never_touch_the_big_usage_database():
    steps = _all.plan(REGISTRY, postgres_server=SERVER, quick=True)

    usage = next(s for s in steps if s.name == "usage_dashboard")
    assert usage.url == "sqlite:///var/bench_usage_quick.sqlite3"
    assert "--database-url" not in usage.options and usage.options[-2:] == ["--users", "1000"]
    assert next(s for s in steps if s.name == "load_mixed").options == [*_all.QUICK_OPTIONS, "--users", "500"]
    assert all(s.estimate is None for s in steps)


def test_only_and_skip_choose_benchmarks():
    assert keys(_all.plan(REGISTRY, postgres_server=SERVER, only={"load_mixed"})) == [
        ("load_mixed", f"{SERVER}/bench_load")
    ]
    assert [s.name for s in _all.plan(REGISTRY, postgres_server=SERVER, skip={"credits_ingest", "audit_log"})] == [
        "load_mixed",
        "usage_dashboard",
    ]


def test_the_options_of_all_are_passed_on():
    args = build_parser().parse_args(["all", "--runs", "5", "--max-seconds", "15", "--show-queries", "--quick"])

    assert _all.passed_on(args) == ["--runs", "5", "--max-seconds", "15", "--show-queries"]
    assert _all.passed_on(build_parser().parse_args(["all"])) == []


def test_all_refuses_options_that_belong_to_one_benchmark(capsys):
    args = build_parser().parse_args(["all", "--database-url", "sqlite:///var/bench.sqlite3"])

    with pytest.raises(SystemExit) as exit_:
        _all.run_all(args, [], REGISTRY, build_parser())
    assert exit_.value.code == 2
    assert "--postgres-server" in capsys.readouterr().err


def test_database_entries_resolve_to_urls():
    assert _all.resolve_database("sqlite", SERVER) == DEFAULT_DATABASE_URL
    assert _all.resolve_database("postgresql:bench_load", SERVER) == f"{SERVER}/bench_load"
    assert _all.resolve_database("sqlite:///x_bench.sqlite3", SERVER) == "sqlite:///x_bench.sqlite3"

"""`python -m bench NAME [--runs N] [--database-url URL] [--rebuild] [--show-queries] [--memory] [--users N]
[--pages-only] [--duration S] [--results PATH]`, `python -m bench all [--quick] [--only ...] [--skip ...]` and
`python -m bench list`. Run from the repository root with the project's Python: `.venv/bin/python -m bench list`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

from bench import harness

RUNS, WARMUP, MAX_SECONDS = 10, 2, 30.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of the Kiro console: large synthetic data, medians, ratios against a baseline.",
    )
    parser.add_argument("name", help="the benchmark to run, 'all' to run every one, or 'list' to list them")
    parser.add_argument("--runs", type=int, help=f"timed rounds, each timing every operation once (default {RUNS})")
    parser.add_argument("--warmup", type=int, help=f"untimed calls of each operation before timing (default {WARMUP})")
    parser.add_argument(
        "--database-url",
        help="the bench's own database, whose name must contain 'bench' (default: the benchmark's own, SQLite "
        "var/bench.sqlite3 for most; e.g. postgres://postgres@127.0.0.1:5432/bench, created if missing)",
    )
    parser.add_argument("--rebuild", action="store_true", help="drop the bench database and build the data anew")
    parser.add_argument("--show-queries", action="store_true", help="print each operation's queries with times")
    parser.add_argument(
        "--memory", action="store_true", help="also measure each operation's peak Python allocations (tracemalloc)"
    )
    parser.add_argument(
        "--users",
        type=int,
        metavar="N",
        help="directory_import: the number of users (groups and memberships follow), default 100,000; "
        "scim_provision: the number of users provisioned, default 10,000; credits_ingest, load_mixed: the "
        "subscribed users",
    )
    parser.add_argument(
        "--pages-only",
        action="store_true",
        help="directory_import: skip the timed imports; reuse the directory of an earlier run of the same size, "
        "or load it raw (fast), and time the pages only",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        help=f"time budget per operation: a slower one gets fewer runs, at least 3 (default {MAX_SECONDS:g})",
    )
    parser.add_argument(
        "--duration", type=float, metavar="S", help="load_mixed: how long the load lasts (default 300 s)"
    )
    parser.add_argument(
        "--results",
        metavar="PATH",
        help="write the run's tables into this markdown file, replacing the benchmark's section (default with "
        "'all': bench/RESULTS.md)",
    )
    group = parser.add_argument_group("all")
    group.add_argument("--only", help="all: these benchmarks only (comma-separated names)")
    group.add_argument("--skip", help="all: not these benchmarks (comma-separated names)")
    group.add_argument(
        "--quick",
        action="store_true",
        help="all: a check of the plumbing, small sizes and few runs (results into var/bench-results-quick.md)",
    )
    group.add_argument("--plan", action="store_true", help="all: print what would run and how long, run nothing")
    group.add_argument(
        "--postgres-server",
        default="postgres://postgres@127.0.0.1:5432",
        help="all: the PostgreSQL server of the PostgreSQL runs, whose bench_* databases they use "
        "(default postgres://postgres@127.0.0.1:5432)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.runs is not None and args.runs < 1) or (args.warmup is not None and args.warmup < 0):
        parser.error("--runs must be at least 1 and --warmup at least 0")
    if args.name != "all" and (args.only or args.skip or args.quick or args.plan):
        parser.error("--only, --skip, --quick and --plan go with 'all'")

    # Always the bench's own database, whatever DATABASE_URL the shell holds. DEBUG=1 only for the settings
    # (SECRET_KEY, ALLOWED_HOSTS with testserver, no HTTPS redirect); it is turned off again below.
    os.environ["DATABASE_URL"] = args.database_url or harness.DEFAULT_DATABASE_URL
    os.environ["DEBUG"] = "1"
    os.environ["DJANGO_SETTINGS_MODULE"] = "kiroconsole.settings"

    import django
    from django.conf import settings

    django.setup()  # opens no database connection: the database can still be dropped and created below
    # Time what production runs: without DEBUG's query log on every cursor and debug template rendering. Set
    # before the first request, when the template engine and the middleware are built.
    settings.DEBUG = False
    # With DEBUG off, WhiteNoise warns that collectstatic has not filled STATIC_ROOT; no benchmark needs it.
    warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)

    benchmarks = harness.discover()
    if args.name == "list":
        width = max(len(name) for name in [*benchmarks, "all"])
        for name, benchmark in sorted(benchmarks.items()):
            where = ", ".join(benchmark.databases)
            print(f"{name.ljust(width)}  {benchmark.description} [{where}]")
        print(f"{'all'.ljust(width)}  every benchmark above, one after the other, on its databases (bench/README.md)")
        return 0
    if args.name == "all":
        from bench import _all

        return _all.run_all(args, argv, benchmarks, parser)
    if args.name not in benchmarks:
        parser.error(f"unknown benchmark {args.name!r}; choose one of: all, {', '.join(sorted(benchmarks))}")
    benchmark = benchmarks[args.name]
    if args.database_url is None:
        # The benchmark's own default database (load_mixed: PostgreSQL). Django is set up on DATABASE_URL, so the
        # command starts again with it rather than switching databases under Django's feet.
        from bench._all import resolve_database

        url = resolve_database(benchmark.databases[0], args.postgres_server)
        if url != harness.DEFAULT_DATABASE_URL:
            os.execv(sys.executable, [sys.executable, "-m", "bench", *argv, "--database-url", url])  # noqa: S606
        args.database_url = url
    return run_one(args, argv, benchmark, parser)


def run_one(
    args: argparse.Namespace, argv: list[str], benchmark: harness.Benchmark, parser: argparse.ArgumentParser
) -> int:
    try:
        database = harness.prepare_database(args.database_url, rebuild=args.rebuild)
    except harness.BenchError as exc:
        parser.error(str(exc))

    ctx = harness.Context(
        runs=args.runs if args.runs is not None else RUNS,
        warmup=args.warmup if args.warmup is not None else WARMUP,
        rebuild=args.rebuild,
        show_queries=args.show_queries,
        memory=args.memory,
        max_seconds=args.max_seconds if args.max_seconds is not None else MAX_SECONDS,
        database=database,
        users=args.users,
        pages_only=args.pages_only,
        duration=args.duration,
    )
    started, load_start = time.monotonic(), os.getloadavg()[0]
    started_at = _results_now()
    print(f"bench {benchmark.name}: {benchmark.description}")
    status, code = "ok", 0
    try:
        print(f"migrate: {harness.migrate():.1f} s", flush=True)
        benchmark.run(ctx)
    except harness.BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        status, code = f"FAILED: {exc}", 1
    except BaseException as exc:
        status = f"ERROR: {type(exc).__name__}: {exc}"
        if args.results:
            write_results(args, argv, benchmark, ctx, started, started_at, load_start, status)
        raise
    if args.results:
        write_results(args, argv, benchmark, ctx, started, started_at, load_start, status)
    return code


def _results_now() -> str:
    from bench._results import now_utc

    return now_utc()


def write_results(
    args: argparse.Namespace,
    argv: list[str],
    benchmark: harness.Benchmark,
    ctx: harness.Context,
    started: float,
    started_at: str,
    load_start: float,
    status: str,
) -> None:
    """The benchmark's section of the results file (--results), replacing the one of its last run."""
    from pathlib import Path

    from bench import _results

    try:
        environment = ctx.environment_lines()
    except Exception as exc:  # a broken connection after a failure: the notes alone
        environment = {**ctx.environment, "environment": f"not read ({type(exc).__name__})"}
    command = _results.command_line(benchmark.name, argv[1:], args.database_url)
    run = _results.Run(
        key=_results.section_key(benchmark.name, args.database_url),
        command=command,
        started=started_at,
        commit=_results.git_commit(),
        seconds=time.monotonic() - started,
        load_start=load_start,
        load_end=os.getloadavg()[0],
        status=status,
        environment=environment,
        tables=ctx.tables,
        targets=ctx.targets,
    )
    path = Path(args.results)
    header = _results.render_header(
        f"`python -m bench {benchmark.name}`, {started_at}, commit {run.commit}, load average {load_start:.1f} at "
        "the start",
        _results.machine(
            args.database_url if _results.database_label(args.database_url) == "PostgreSQL" else args.postgres_server
        ),
    )
    _results.write_section(path, run, header)
    print(f"results: section {run.key!r} of {path}")


if __name__ == "__main__":
    sys.exit(main())

"""`python -m bench NAME [--runs N] [--database-url URL] [--rebuild] [--show-queries] [--memory] [--users N]
[--pages-only]`, and `python -m bench list`. Run from the repository root with the project's Python:
`.venv/bin/python -m bench list`.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from bench import harness


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of the Kiro console: large synthetic data, medians, ratios against a baseline.",
    )
    parser.add_argument("name", help="the benchmark to run, or 'list' to list them")
    parser.add_argument(
        "--runs", type=int, default=10, help="timed rounds, each timing every operation once (default 10)"
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed calls of each operation before timing (default 2)"
    )
    parser.add_argument(
        "--database-url",
        default=harness.DEFAULT_DATABASE_URL,
        help="the bench's own database, whose name must contain 'bench' (default: SQLite var/bench.sqlite3; "
        "e.g. postgres://postgres@127.0.0.1:5432/bench, created if missing)",
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
        "scim_provision: the number of users provisioned, default 10,000",
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
        default=30,
        help="time budget per operation: a slower one gets fewer runs, at least 3 (default 30)",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")

    # Always the bench's own database, whatever DATABASE_URL the shell holds. DEBUG=1 only for the settings
    # (SECRET_KEY, ALLOWED_HOSTS with testserver, no HTTPS redirect); it is turned off again below.
    os.environ["DATABASE_URL"] = args.database_url
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
        width = max(len(name) for name in benchmarks)
        for name, benchmark in sorted(benchmarks.items()):
            print(f"{name.ljust(width)}  {benchmark.description}")
        return 0
    if args.name not in benchmarks:
        parser.error(f"unknown benchmark {args.name!r}; choose one of: {', '.join(sorted(benchmarks))}")
    try:
        database = harness.prepare_database(args.database_url, rebuild=args.rebuild)
    except harness.BenchError as exc:
        parser.error(str(exc))

    ctx = harness.Context(
        runs=args.runs,
        warmup=args.warmup,
        rebuild=args.rebuild,
        show_queries=args.show_queries,
        memory=args.memory,
        max_seconds=args.max_seconds,
        database=database,
        users=args.users,
        pages_only=args.pages_only,
    )
    print(f"bench {args.name}: {benchmarks[args.name].description}")
    print(f"migrate: {harness.migrate():.1f} s", flush=True)
    try:
        benchmarks[args.name].run(ctx)
    except harness.BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

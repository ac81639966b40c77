"""The harness: a registry of benchmarks, the bench database, timing, query counting and the printed table.

A benchmark is a function in a module of this package, decorated with `@register(name, description)`. It takes a
`Context`, builds its data (skipping what a previous run already built), then hands a list of `Operation`s to
`ctx.run(...)`, which times them and prints the table. This module is imported before `django.setup()` (by
`__main__`, which prepares the database first), so it imports Django inside its functions; benchmark modules are
imported after it (`discover`) and may import models at the top.
"""

from __future__ import annotations

import gc
import importlib
import math
import os
import pkgutil
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}"

# --- Registry ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    name: str
    description: str
    run: Callable[[Context], None]
    # The databases `python -m bench all` runs it on, in order; the first is its default without --database-url.
    # "sqlite" (DEFAULT_DATABASE_URL), "postgresql:NAME" (database NAME on the PostgreSQL server of `all`), or a URL.
    databases: tuple[str, ...] = ("sqlite",)
    minutes: float | None = None  # how long a full run takes on a quiet 2-CPU machine (the estimate `all` prints)
    quick: tuple[str, ...] = ()  # the options of `all --quick` for it (a small size), beside fewer runs


REGISTRY: dict[str, Benchmark] = {}


def register(
    name: str,
    description: str,
    *,
    databases: tuple[str, ...] = ("sqlite",),
    minutes: float | None = None,
    quick: tuple[str, ...] = (),
) -> Callable[[Callable[[Context], None]], Callable[[Context], None]]:
    """Register a benchmark function under `name` (what `python -m bench NAME` runs). `databases`, `minutes` and
    `quick` tell `python -m bench all` where to run it, how long that takes, and how to make it small."""

    def decorator(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        if name in REGISTRY or name in {"all", "list"}:
            raise ValueError(f"Benchmark {name!r} is registered twice (or is a command's name).")
        REGISTRY[name] = Benchmark(name, description, fn, databases=databases, minutes=minutes, quick=quick)
        return fn

    return decorator


def discover() -> dict[str, Benchmark]:
    """Import every module of this package, so each benchmark registers itself."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name not in {"harness", "__main__"} and not module.name.startswith("_"):
            importlib.import_module(f"{__package__}.{module.name}")
    return REGISTRY


# --- The bench database ------------------------------------------------------------------------------------


class BenchError(RuntimeError):
    """A benchmark cannot run or measured something wrong (a page that is not 200, a missing row)."""


def prepare_database(url: str, *, rebuild: bool) -> str:
    """Make sure the bench database exists (dropping it first with `rebuild`); returns a printable name.

    Runs before Django connects. The database's name must contain "bench", so a mistyped URL can never point
    the bench (which drops and fills its database) at the development or production database.
    """
    import dj_database_url

    config = dj_database_url.parse(url)
    engine, name = config["ENGINE"], str(config["NAME"])
    if "bench" not in Path(name).name:
        raise BenchError(f"The bench database's name must contain 'bench' (got {name!r}): it is dropped and refilled.")
    if engine == "django.db.backends.sqlite3":
        path = Path(name)
        if rebuild:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(path)
    if engine == "django.db.backends.postgresql":
        import psycopg
        from psycopg import sql

        maintenance = psycopg.connect(
            dbname="postgres",
            host=config.get("HOST") or None,
            port=config.get("PORT") or None,
            user=config.get("USER") or None,
            password=config.get("PASSWORD") or None,
            autocommit=True,
        )
        with maintenance:
            exists = maintenance.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if exists and rebuild:
                maintenance.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
                exists = None
            if not exists:
                maintenance.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return f"{config.get('HOST') or 'localhost'}:{config.get('PORT') or 5432}/{name}"
    raise BenchError(f"Unsupported database engine for the bench: {engine}")


def migrate() -> float:
    """Bring the bench database's schema up to date; returns the seconds it took."""
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    return time.perf_counter() - started


def delete_all_rows(model: Any) -> None:
    """Empty a table of the (throwaway) bench database with raw SQL, past guards such as append-only managers."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608


def analyze() -> None:
    """After a bulk load on PostgreSQL: VACUUM ANALYZE, the steady state autovacuum reaches in production soon
    after (planner statistics, and the visibility map that lets counts use index-only scans).

    SQLite is left alone: Django never runs ANALYZE there, so neither does the bench.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


# --- Measuring ---------------------------------------------------------------------------------------------


def measure(fn: Callable[[], Any], runs: int, warmup: int = 1, cpu: list[float] | None = None) -> list[float]:
    """Call `fn` `warmup` times untimed, then `runs` times; returns the wall-clock seconds of each timed call.

    With `cpu`, the process's CPU seconds (user + system) of each timed call are appended to it."""
    for _ in range(warmup):
        fn()
    timings = []
    for _ in range(runs):
        gc.collect()  # collect between runs, so one run does not pay for the garbage of the previous one
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        timings.append(time.perf_counter() - started)
        if cpu is not None:
            cpu.append(time.process_time() - started_cpu)
    return timings


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct` percentile (0-100) with linear interpolation between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def p95(values: Sequence[float]) -> float:
    return percentile(values, 95)


@dataclass
class Capture:
    """One untimed call of an operation: its queries (SQL and seconds each) and how long it took."""

    queries: list[dict[str, str]]
    seconds: float

    @property
    def db_seconds(self) -> float:
        return sum(float(q["time"]) for q in self.queries)


def capture(fn: Callable[[], Any]) -> Capture:
    """Call `fn` once, recording the queries it runs (CaptureQueriesContext) and its duration."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    gc.collect()
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return Capture(queries=list(ctx.captured_queries), seconds=time.perf_counter() - started)


def traced_peak_bytes(fn: Callable[[], Any]) -> int:
    """Call `fn` once under tracemalloc; returns the peak of Python allocations during the call.

    tracemalloc slows the call (several times for code that allocates a lot), so it is a call of its own.
    """
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def peak_rss_bytes() -> int:
    """The process's peak resident memory so far (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


# --- Operations and the table ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One thing to time. `fn` does it once and raises BenchError when the outcome is wrong."""

    name: str
    fn: Callable[[], Any]
    baseline: bool = False


@dataclass
class Result:
    operation: Operation
    timings: list[float]
    capture: Capture
    peak_bytes: int | None = None
    cpu_timings: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return p50(self.timings)

    @property
    def p95(self) -> float:
        return p95(self.timings)

    @property
    def cpu_p50(self) -> float:
        return p50(self.cpu_timings)


def http_get(
    client: Any,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    expect: Sequence[str] = (),
    reject: Sequence[str] = (),
) -> Any:
    """GET `url` with a django.test.Client; fail loudly unless it answers 200 with every `expect` text in the
    body and no `reject` text."""
    response = client.get(url, headers=headers or {})
    if response.status_code != 200:
        location = f" -> {response.get('Location')}" if response.has_header("Location") else ""
        raise BenchError(f"GET {url} answered {response.status_code}{location}, not 200.")
    body = response.content.decode()
    for text in expect:
        if text not in body:
            raise BenchError(f"GET {url}: the page does not contain {text!r}.")
    for text in reject:
        if text in body:
            raise BenchError(f"GET {url}: the page contains {text!r}.")
    return response


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def print_table(results: Sequence[Result], title: str) -> None:
    """Rows of (operation, runs, p50 ms, p95 ms, queries, db ms, [peak MiB,] ratio of p50 to the baseline's)."""
    baseline = next(r for r in results if r.operation.baseline)
    memory = any(r.peak_bytes is not None for r in results)
    headers = [
        "operation",
        "runs",
        "p50 ms",
        "p95 ms",
        "cpu ms",
        "queries",
        "db ms",
        *(["peak MiB"] if memory else []),
        "x base",
    ]
    rows = []
    for result in results:
        peak = [f"{result.peak_bytes / 2**20:,.1f}" if result.peak_bytes is not None else "-"] if memory else []
        rows.append(
            [
                result.operation.name,
                str(len(result.timings)),
                _ms(result.p50),
                _ms(result.p95),
                _ms(result.cpu_p50),
                str(len(result.capture.queries)),
                _ms(result.capture.db_seconds),
                *peak,
                f"{result.p50 / baseline.p50:,.2f}",
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    print(f"\n{title}")
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
    print(
        "p50/p95: wall clock of one call over `runs` timed runs (interleaved rounds). cpu ms: p50 of this process's "
        "CPU time (user + system) per call, which a busy machine inflates much less (SQLite's work included, not a "
        "PostgreSQL server's). queries, db ms: one extra "
        f"untimed call. {'peak MiB: Python allocations of one call (tracemalloc). ' if memory else ''}"
        f"x base: p50 / p50 of the baseline, {baseline.operation.name.split('  ')[0]}."
    )


def print_queries(results: Sequence[Result], width: int = 220) -> None:
    """Each operation's queries, slowest first, with their time (from the untimed captured request)."""
    for result in results:
        print(f"\n-- {result.operation.name}: {len(result.capture.queries)} queries")
        for query in sorted(result.capture.queries, key=lambda q: float(q["time"]), reverse=True):
            sql = " ".join(query["sql"].split())
            print(f"  {float(query['time']) * 1000:8.1f} ms  {sql[:width]}{'…' if len(sql) > width else ''}")


# --- What a run leaves for the results file (--results, bench/RESULTS.md) -----------------------------------


@dataclass
class Row:
    """A line of a benchmark's table in the results file: what was measured, its figure (p50, events/s, ...), its
    ratio to the baseline, and the target it has and whether this run met it, where the benchmark knows one."""

    operation: str
    figure: str
    ratio: str = ""
    target: str = ""
    met: bool | None = None


@dataclass
class Table:
    title: str
    rows: list[Row] = field(default_factory=list)


# --- Context -----------------------------------------------------------------------------------------------


@dataclass
class Context:
    """What a benchmark gets: the command-line options and helpers to report phases and run operations."""

    runs: int
    warmup: int
    rebuild: bool
    show_queries: bool
    memory: bool
    max_seconds: float
    database: str
    users: int | None = None  # --users: the size of benchmarks that scale by users (directory_import)
    pages_only: bool = False  # --pages-only: directory_import times the pages on data loaded raw, not the imports
    duration: float | None = None  # --duration: how long load_mixed's load lasts (seconds)
    environment: dict[str, str] = field(default_factory=dict)
    # For the results file: the tables of ctx.run and ctx.record, and the targets stated with ctx.target.
    tables: list[Table] = field(default_factory=list)
    targets: list[tuple[str, bool]] = field(default_factory=list)

    @contextmanager
    def phase(self, label: str) -> Iterator[dict[str, float]]:
        """Print `label`, run the block, print how long it took (also left in the yielded dict as `seconds`)."""
        print(f"{label} …", flush=True)
        outcome: dict[str, float] = {}
        started = time.perf_counter()
        yield outcome
        outcome["seconds"] = time.perf_counter() - started
        print(f"{label}: {outcome['seconds']:.1f} s", flush=True)

    def note(self, key: str, value: Any) -> None:
        """Add a line to the environment block printed above the table (row counts, build time, …)."""
        self.environment[key] = str(value)

    def table(self, title: str) -> Table:
        """Start a table of the results file (`--results`); `record` adds rows to the latest table."""
        self.tables.append(Table(title))
        return self.tables[-1]

    def record(self, operation: str, figure: str, *, ratio: str = "", target: str = "", met: bool | None = None) -> Row:
        """A row of the results file's table: `ctx.run` records its operations itself; a benchmark that prints a
        table of its own records each of its rows (the figure as printed: "274 events/s, p50 56 ms")."""
        if not self.tables:
            self.table("results")
        row = Row(operation, figure, ratio, target, met)
        self.tables[-1].rows.append(row)
        return row

    def target(self, text: str, met: bool, *, operation: str | None = None, show: bool = False) -> None:
        """State a target and whether this run met it. With `operation`, the recorded row whose operation starts
        with it gets `text` as its target and the verdict (a per-row target: "p50 < 100 ms"); otherwise it is a
        line of the section's targets ("single events 161/s against gunicorn (target >= 1,000)"). With `show`,
        also printed as `target: TEXT: met` (or MISSED); benchmarks that print their own verdicts leave it off."""
        if operation is None:
            self.targets.append((text, met))
        else:
            rows = [row for table in self.tables for row in table.rows if row.operation.startswith(operation)]
            if not rows:
                raise BenchError(f"ctx.target: no recorded row {operation!r}")
            rows[-1].target, rows[-1].met = text, met
        if show:
            print(f"target: {text}: {'met' if met else 'MISSED'}")

    def run(self, operations: Sequence[Operation], title: str) -> list[Result]:
        """Time every operation and print the table.

        First, per operation: one captured call (its queries; it also warms caches) and `warmup` untimed calls.
        Then `runs` rounds, each timing every operation once, so a load spike on the machine hits all of them
        alike and the ratios stay fair. An operation slower than the budget (`max_seconds` for all its calls)
        takes part in fewer rounds, at least 3, without further warm-up; the table shows its count.
        """
        if sum(op.baseline for op in operations) != 1:
            raise BenchError("Exactly one operation must be the baseline.")
        results, budgets = [], []
        for operation in operations:
            print(f"  warming up {operation.name} …", flush=True)
            captured = capture(operation.fn)
            runs, warmup = self.runs, self.warmup
            if captured.seconds * (runs + warmup) > self.max_seconds:
                runs, warmup = min(runs, max(3, int(self.max_seconds / captured.seconds))), 0
            measure(operation.fn, runs=0, warmup=warmup)
            peak = traced_peak_bytes(operation.fn) if self.memory else None
            results.append(Result(operation=operation, timings=[], capture=captured, peak_bytes=peak))
            budgets.append(runs)
        print(f"  timing {len(operations)} operations, {self.runs} rounds …", flush=True)
        for round_ in range(self.runs):
            for result, runs in zip(results, budgets, strict=True):
                if round_ < runs:
                    result.timings += measure(result.operation.fn, runs=1, warmup=0, cpu=result.cpu_timings)
        self.print_environment()
        print_table(results, title)
        if self.show_queries:
            print_queries(results)
        baseline = next(r for r in results if r.operation.baseline)
        self.table(title)
        for result in results:
            self.record(
                result.operation.name,
                f"p50 {_ms(result.p50)} ms, p95 {_ms(result.p95)} ms, {len(result.capture.queries)} queries",
                ratio="baseline" if result is baseline else f"{result.p50 / baseline.p50:,.2f}x base",
            )
        return results

    def print_environment(self) -> None:
        lines = self.environment_lines()
        print("\nenvironment")
        width = max(len(k) for k in lines)
        for key, value in lines.items():
            print(f"  {key.ljust(width)}  {value}")

    def environment_lines(self) -> dict[str, str]:
        """The environment block: the database and its version, Python, Django, the machine, then the notes."""
        import django
        from django.db import connection

        if connection.vendor == "sqlite":
            import sqlite3

            vendor = f"SQLite {sqlite3.sqlite_version}"
        elif connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                vendor = f"PostgreSQL {cursor.fetchone()[0]}"
        else:
            vendor = connection.vendor
        lines = {
            "database": f"{vendor} ({self.database})",
            "python": f"{platform.python_version()}, Django {django.get_version()}",
            "machine": (
                f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
                f"load average {os.getloadavg()[0]:.1f} at the end"
            ),
            "runs": (
                f"{self.runs} rounds + {self.warmup} warm-up calls per operation, at most {self.max_seconds:g} s "
                "per operation; DEBUG off"
            ),
            **self.environment,
        }
        return lines

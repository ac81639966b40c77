"""`python -m bench all`: every registered benchmark, one after the other, each on the databases it registered
(`register(..., databases=...)`: SQLite for most, PostgreSQL for load_mixed, both for credits_ingest), with its
defaults, each in a process of its own (`python -m bench NAME --database-url URL --results PATH`), so a failure
or a crash of one does not stop the others and each starts with a fresh Django set up on its own database.

Each run replaces its section of the results file (bench/RESULTS.md; `--quick` writes var/bench-results-quick.md);
its output is also kept in var/bench-all/. Before starting, the plan is printed with an estimate of each run:
its last duration in the results file, or the `minutes` it registered.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import _results
from bench.harness import DEFAULT_DATABASE_URL, ROOT, Benchmark

LOG_DIR = ROOT / "var" / "bench-all"
QUICK_RESULTS = ROOT / "var" / "bench-results-quick.md"
# --quick: few runs, short budgets; each benchmark's own `quick` options add a small size.
QUICK_OPTIONS = ("--runs", "2", "--warmup", "0", "--max-seconds", "3", "--duration", "20")
PASSED_ON = ("--runs", "--warmup", "--max-seconds", "--duration")
PASSED_ON_FLAGS = ("--show-queries", "--memory")


def resolve_database(entry: str, postgres_server: str) -> str:
    """A `databases` entry of a benchmark as a URL: "sqlite" is the default bench file, "postgresql:NAME" the
    database NAME on `postgres_server`, anything else a URL already."""
    if entry == "sqlite":
        return DEFAULT_DATABASE_URL
    if entry.startswith("postgresql:"):
        return f"{postgres_server.rstrip('/')}/{entry.removeprefix('postgresql:')}"
    return entry


@dataclass
class Step:
    name: str
    url: str
    options: list[str]  # beside --database-url and --results
    estimate: float | None  # seconds

    @property
    def key(self) -> str:
        return _results.section_key(self.name, self.url)


def _names(text: str | None, benchmarks: dict[str, Benchmark], parser: argparse.ArgumentParser) -> set[str]:
    names = {n.strip() for n in (text or "").split(",") if n.strip()}
    unknown = names - set(benchmarks)
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(sorted(unknown))}; choose among {', '.join(sorted(benchmarks))}")
    return names


def plan(
    benchmarks: dict[str, Benchmark],
    *,
    postgres_server: str,
    only: set[str] | None = None,
    skip: set[str] | None = None,
    quick: bool = False,
    options: list[str] | None = None,
    previous: str = "",
) -> list[Step]:
    """The runs of `all`, in the registry's order (modules alphabetically), each benchmark on each database."""
    steps: list[Step] = []
    for name, benchmark in benchmarks.items():
        if (only and name not in only) or name in (skip or ()):
            continue
        extra = [*(QUICK_OPTIONS if quick else ()), *(benchmark.quick if quick else ()), *(options or [])]
        urls = [resolve_database(entry, postgres_server) for entry in benchmark.databases]
        if "--database-url" in extra:  # a quick run's own database (usage_dashboard: never its big cached one)
            at = extra.index("--database-url")
            urls, extra = [extra[at + 1]], extra[:at] + extra[at + 2 :]
        for url in dict.fromkeys(urls):
            step = Step(name, url, list(extra), None)
            before = _results.previous_seconds(previous, step.key) if previous else None
            if before is not None:
                step.estimate = before
            elif benchmark.minutes is not None and not quick:
                step.estimate = benchmark.minutes * 60
            steps.append(step)
    return steps


def passed_on(args: argparse.Namespace) -> list[str]:
    """The options of `all` each benchmark gets too."""
    options: list[str] = []
    for option in PASSED_ON:
        value = getattr(args, option[2:].replace("-", "_"))
        if value is not None:
            options += [option, f"{value:g}" if isinstance(value, float) else str(value)]
    options += [flag for flag in PASSED_ON_FLAGS if getattr(args, flag[2:].replace("-", "_"))]
    return options


def print_plan(steps: list[Step], path: Path) -> None:
    known = [s.estimate for s in steps if s.estimate is not None]
    print(f"bench all: {len(steps)} runs, results into {path}")
    width = max(len(s.key) for s in steps)
    for n, step in enumerate(steps, 1):
        estimate = _results.duration(step.estimate) if step.estimate is not None else "?"
        options = " ".join(step.options)
        print(f"  {n:>2}. {step.key.ljust(width)}  about {estimate:>12}  {_results.relative(step.url)} {options}")
    unknown = len(steps) - len(known)
    if not known:
        print("  estimate: unknown (no run of these in the results file yet)", flush=True)
        return
    print(
        f"  estimate: {_results.duration(sum(known))} in all"
        + (f" (and {unknown} run{'s' if unknown > 1 else ''} of unknown length)" if unknown else "")
        + " (each run's last duration in the results file, else what it registered for a quiet 2-CPU machine; "
        "other work on the machine can double it)",
        flush=True,
    )


def run_step(step: Step, n: int, total: int, path: Path) -> tuple[int, float]:
    """One benchmark in its own process, its output shown and kept in var/bench-all/; (exit status, seconds)."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = LOG_DIR / f"{step.name}-{_results.database_label(step.url).lower()}.log"
    command = [sys.executable, "-m", "bench", step.name, "--database-url", step.url, "--results", str(path)]
    command += step.options
    estimate = f", estimate {_results.duration(step.estimate)}" if step.estimate is not None else ""
    clock = datetime.datetime.now(datetime.UTC).strftime("%H:%M UTC")
    print(f"\n=== [{n}/{total}] {step.key}: started {clock}{estimate}; output also in {log}", flush=True)
    started = time.monotonic()
    with open(log, "w") as handle:
        process = subprocess.Popen(  # noqa: S603 (this package)
            command,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            handle.write(line)
        status = process.wait()
    seconds = time.monotonic() - started
    print(f"=== [{n}/{total}] {step.key}: {'ok' if status == 0 else f'exit status {status}'}, took "
          f"{_results.duration(seconds)}", flush=True)  # fmt: skip
    return status, seconds


def run_all(
    args: argparse.Namespace, argv: list[str], benchmarks: dict[str, Benchmark], parser: argparse.ArgumentParser
) -> int:
    if args.database_url or args.rebuild or args.users or args.pages_only:
        parser.error(
            "all chooses each benchmark's database and size (--postgres-server for the PostgreSQL ones); "
            "--database-url, --rebuild, --users and --pages-only go with one benchmark"
        )
    path = Path(args.results) if args.results else (QUICK_RESULTS if args.quick else _results.DEFAULT_PATH)
    previous = path.read_text() if path.exists() else ""
    steps = plan(
        benchmarks,
        postgres_server=args.postgres_server,
        only=_names(args.only, benchmarks, parser),
        skip=_names(args.skip, benchmarks, parser),
        quick=args.quick,
        options=passed_on(args),
        previous=previous,
    )
    if not steps:
        parser.error("nothing to run")
    print_plan(steps, path)
    if args.plan:
        return 0

    load, commit, started_at = os.getloadavg()[0], _results.git_commit(), _results.now_utc()
    run = f"`python -m bench all{' --quick' if args.quick else ''}`, {started_at}, commit {commit}, load average "
    header = _results.render_header(f"{run}{load:.1f} at the start", _results.machine(args.postgres_server))
    _results.write_header(path, header)

    outcomes = []
    for n, step in enumerate(steps, 1):
        status, seconds = run_step(step, n, len(steps), path)
        outcomes.append((step, status, seconds))

    print("\nbench all: summary")
    width = max(len(step.key) for step in steps)
    print(f"  {'run'.ljust(width)}  {'estimate':>12}  {'took':>12}  outcome")
    for step, status, seconds in outcomes:
        estimate = _results.duration(step.estimate) if step.estimate is not None else "?"
        outcome = "ok" if status == 0 else "FAILED (1)" if status == 1 else f"exit status {status}"
        print(f"  {step.key.ljust(width)}  {estimate:>12}  {_results.duration(seconds):>12}  {outcome}")
    total = sum(seconds for _, _, seconds in outcomes)
    print(f"  {'total'.ljust(width)}  {'':>12}  {_results.duration(total):>12}")
    print(f"results: {path}")
    return 0 if all(status == 0 for _, status, _ in outcomes) else 1

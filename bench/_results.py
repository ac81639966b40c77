"""The results file (`--results PATH`, bench/RESULTS.md by `python -m bench all`): a header with the machine and
the software, then a section per benchmark and database, each replaced when that benchmark runs again with
`--results`, so a partial rerun updates the file.

A section lies between two HTML comments, `<!-- bench: KEY seconds=N -->` and `<!-- /bench: KEY -->` (KEY is the
benchmark's name and database, "credits_ingest (PostgreSQL)"); everything before the first section is the header.
Pure Python apart from `machine()` and `git_commit()`, which read the machine, git and the PostgreSQL server.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import sqlite3
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.harness import ROOT, Table

DEFAULT_PATH = ROOT / "bench" / "RESULTS.md"
TITLE = "# Benchmark results"
_SECTION = re.compile(
    r"<!-- bench: (?P<key>[^\n]*?) seconds=(?P<seconds>[0-9.]+) -->\n.*?<!-- /bench: (?P=key) -->\n?", re.S
)


def database_label(url: str) -> str:
    return "PostgreSQL" if url.startswith(("postgres://", "postgresql://")) else "SQLite"


def section_key(name: str, url: str) -> str:
    return f"{name} ({database_label(url)})"


def now_utc() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float) -> str:
    """1 h 02 min, 3 min 05 s, 42 s."""
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def command_line(name: str, options: Sequence[str], database_url: str) -> str:
    """The command that reruns a benchmark as it ran (`--results` left out, the database always said)."""
    kept: list[str] = []
    skip = False
    for option in options:
        if skip:
            skip = False
        elif option == "--results":
            skip = True
        elif not option.startswith("--results="):
            kept.append(relative(option))
    if not any(o == "--database-url" or o.startswith("--database-url=") for o in options):
        kept += ["--database-url", relative(database_url)]
    return " ".join(["python -m bench", name, *kept])


def relative(url: str) -> str:
    """A SQLite URL with the repository's path left out (the file is read on other machines)."""
    return url.replace(f"sqlite:///{ROOT}/", "sqlite:///")


# --- The machine -----------------------------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def postgres_version(url: str | None) -> str:
    """The PostgreSQL server's version, through its maintenance database; "not reachable" when it does not answer."""
    if not url:
        return "-"
    try:
        import dj_database_url
        import psycopg

        config = dj_database_url.parse(url)
        with psycopg.connect(
            dbname="postgres",
            host=config.get("HOST") or None,
            port=config.get("PORT") or None,
            user=config.get("USER") or None,
            password=config.get("PASSWORD") or None,
            connect_timeout=5,
        ) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            return str(row[0]).split()[0] if row else "?"
    except Exception as exc:  # any failure is reported, not raised: the file is still written
        return f"not reachable ({type(exc).__name__})"


def machine(postgres_url: str | None) -> dict[str, str]:
    """CPU model and cores, memory, OS, Python, Django, SQLite and PostgreSQL versions."""
    import django

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or platform.machine(),
    )
    memory = next((line.split()[1] for line in _read("/proc/meminfo").splitlines() if line.startswith("MemTotal")), "")
    os_name = next(
        (
            line.split("=", 1)[1].strip().strip('"')
            for line in _read("/etc/os-release").splitlines()
            if line.startswith("PRETTY_NAME=")
        ),
        platform.system(),
    )
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "memory": f"{int(memory) / 2**20:,.1f} GiB" if memory else "?",
        "OS": f"{os_name}, {platform.system()} {platform.release()} ({platform.machine()})",
        "software": (
            f"Python {platform.python_version()}, Django {django.get_version()}, SQLite {sqlite3.sqlite_version}, "
            f"PostgreSQL {postgres_version(postgres_url)}"
        ),
    }


def git_commit() -> str:
    """The checked-out commit, and whether the tree has uncommitted changes (figures of those are not the commit's)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return f"{commit} + uncommitted changes" if dirty else commit


# --- Rendering -------------------------------------------------------------------------------------------------


def render_header(run: str, machine_lines: dict[str, str]) -> str:
    """The file's header. `run`: what wrote it ("`python -m bench all`, 2026-11-27 22:00 UTC, commit ef9f87b, load
    average 1.0 at the start")."""
    lines = [
        TITLE,
        "",
        "Written by `python -m bench all` and kept up to date by `python -m bench NAME --results bench/RESULTS.md`",
        "(bench/README.md): each section below is the last run of one benchmark on one database, with its own date,",
        "commit and load average. Ratios compare with a baseline measured in the same run; absolute times depend on",
        "the machine and on what else ran on it.",
        "",
        "| | |",
        "| --- | --- |",
        f"| written by | {cell(run)} |",
        *(f"| {cell(key)} | {cell(value)} |" for key, value in machine_lines.items()),
        "",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class Run:
    """One benchmark run, as its section shows it."""

    key: str  # "credits_ingest (PostgreSQL)"
    command: str
    started: str  # date and time, UTC
    commit: str
    seconds: float
    load_start: float
    load_end: float
    status: str  # "ok", "FAILED: ...", "not run: ..."
    environment: dict[str, str]
    tables: Sequence[Table]
    targets: Sequence[tuple[str, bool]]


def render_section(run: Run) -> str:
    lines = [
        f"<!-- bench: {run.key} seconds={run.seconds:.0f} -->",
        f"## {run.key}",
        "",
        f"`{run.command}`: {run.started}, commit {run.commit}, {duration(run.seconds)}, load average "
        f"{run.load_start:.1f} at the start and {run.load_end:.1f} at the end; "
        + ("**ok**" if run.status == "ok" else f"**{run.status}**"),
        "",
    ]
    if run.environment:
        lines += [f"- {key}: {cell(value)}" for key, value in run.environment.items()] + [""]
    for table in run.tables:
        lines += [
            f"**{cell(table.title)}**",
            "",
            "| operation | figure | ratio | target | met |",
            "| --- | --- | --- | --- | --- |",
        ]
        for row in table.rows:
            met = "" if row.met is None else ("met" if row.met else "**missed**")
            lines.append(
                f"| {cell(row.operation)} | {cell(row.figure)} | {cell(row.ratio)} | {cell(row.target)} | {met} |"
            )
        lines.append("")
    verdicts = [met for _, met in run.targets] + [row.met for t in run.tables for row in t.rows if row.met is not None]
    if verdicts:
        missed = verdicts.count(False)
        lines.append(f"Targets: {len(verdicts) - missed} met, {missed} missed." if missed else "Targets: all met.")
        lines += [f"- {cell(text)}: {'met' if met else '**missed**'}" for text, met in run.targets]
        lines.append("")
    lines.append(f"<!-- /bench: {run.key} -->")
    return "\n".join(lines) + "\n"


# --- The file --------------------------------------------------------------------------------------------------


def split(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(header, [(key, section text)]) of a results file's text."""
    first = _SECTION.search(text)
    header = text[: first.start()] if first else text
    return header, [(m["key"], m.group(0)) for m in _SECTION.finditer(text)]


def join(header: str, sections: list[tuple[str, str]]) -> str:
    parts = [header.rstrip("\n") + "\n"] if header.strip() else []
    parts += [("\n" if parts else "") + section.rstrip("\n") + "\n" for _, section in sections]
    return "".join(parts)


def replace_section(text: str, key: str, section: str) -> str:
    """`text` with the section `key` replaced by `section` (appended when absent)."""
    header, sections = split(text)
    if any(k == key for k, _ in sections):
        sections = [(k, section if k == key else s) for k, s in sections]
    else:
        sections.append((key, section))
    return join(header, sections)


def replace_header(text: str, header: str) -> str:
    _, sections = split(text)
    return join(header, sections)


def previous_seconds(text: str, key: str) -> float | None:
    """How long the section `key` of a results file took (None when it is not there)."""
    match = next((m for m in _SECTION.finditer(text) if m["key"] == key), None)
    return float(match["seconds"]) if match else None


def write_section(path: Path, run: Run, header: str) -> None:
    """Replace (or add) `run`'s section in the file at `path`; a new file gets `header` first."""
    text = path.read_text() if path.exists() else header
    if not text.strip():
        text = header
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_section(text, run.key, render_section(run)))


def write_header(path: Path, header: str) -> None:
    text = path.read_text() if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_header(text, header))

"""What the benchmarks that drive a real server share: gunicorn on the bench database, a small asyncio HTTP/1.1
client on raw sockets (for load generators in a process of their own), and where the machine's CPU and the
workers' memory went (Linux /proc). Used by credits_ingest and load_mixed. (A module name starting with "_"
registers no benchmark.)

Nothing here imports Django at the top: the load generators import this module in a bare Python process.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import ROOT, BenchError

# --- gunicorn ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """A gunicorn worker configuration: `sync:3` (3 sync workers) or `gthread:2x4` (2 workers of 4 threads)."""

    worker_class: str  # sync or gthread
    workers: int
    threads: int = 1

    @classmethod
    def parse(cls, text: str) -> Config:
        kind, _, size = text.strip().partition(":")
        if kind == "sync" and size.isdigit():
            return cls("sync", int(size))
        workers, _, threads = size.partition("x")
        if kind == "gthread" and workers.isdigit() and threads.isdigit():
            return cls("gthread", int(workers), int(threads))
        raise BenchError(f"BENCH_GUNICORN: {text!r} is not like sync:3 or gthread:2x4")

    def __str__(self) -> str:
        if self.worker_class == "sync":
            return f"--workers {self.workers} (sync)"
        return f"--workers {self.workers} --worker-class gthread --threads {self.threads}"

    def args(self) -> list[str]:
        extra = (
            # At most as many connections as threads a worker: the workers share the clients evenly (else the one
            # that wins the race to accept takes most of them and its GIL caps them while the other idles).
            ["--worker-class", "gthread", "--threads", str(self.threads), "--worker-connections", str(self.threads)]
            if self.worker_class == "gthread"
            else []
        )
        return ["--workers", str(self.workers), *extra]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PRODUCTION_SETTINGS = "kiroconsole.settings"
PAGES_SETTINGS = "bench._production_settings"  # the same, with the static files collected into var/bench-static


def production_env(settings: str = PRODUCTION_SETTINGS) -> dict[str, str]:
    """The environment of a production process on the bench database (the bench process's DATABASE_URL)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on the loopback, as behind a proxy that terminates TLS
        "LOG_LEVEL": "WARNING",
    }


def collect_static() -> str:
    """`manage.py collectstatic` into var/bench-static (incremental: only what changed is copied again), so that
    gunicorn serves pages as a deployment does; returns the settings module to serve them with."""
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=production_env(PAGES_SETTINGS),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"collectstatic failed: {result.stdout[-1000:]} {result.stderr[-2000:]}")
    return PAGES_SETTINGS


class Gunicorn:
    """gunicorn kiroconsole.wsgi with production settings (DEBUG off) on the bench database (the bench process's
    DATABASE_URL), on a free port of 127.0.0.1; its output in a log file of `folder`. Pages need `settings` from
    `collect_static()`; the API and SCIM do not."""

    def __init__(self, config: Config, folder: Path, settings: str = PRODUCTION_SETTINGS):
        self.config = config
        self.port = free_port()
        self.log = folder / f"gunicorn-{config.worker_class}-{config.workers}x{config.threads}.log"
        executable = Path(sys.executable).parent / "gunicorn"
        if not executable.exists():
            executable = ROOT / ".venv" / "bin" / "gunicorn"
        env = production_env(settings)
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own server)
                [str(executable), "kiroconsole.wsgi", "--bind", f"127.0.0.1:{self.port}", *config.args(),
                 "--timeout", "120", "--graceful-timeout", "30", "--keep-alive", "10", "--log-level", "warning"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, seconds: float = 60) -> None:
        import http.client

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited ({self.process.returncode}): {self.log_tail()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"gunicorn did not answer /healthz within {seconds:.0f} s: {self.log_tail()}")

    def log_tail(self, size: int = 2000) -> str:
        try:
            return self.log.read_text()[-size:]
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        return sorted(pid for pid, (_, ppid, *_) in process_cpu().items() if ppid == self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: requests in progress are answered
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- /proc: CPU and memory ---------------------------------------------------------------------------------


def process_cpu() -> dict[int, tuple[str, int, float, float]]:
    """pid -> (command name, parent pid, CPU seconds so far: user + system, all threads; and those of its children
    that ended and were waited for: a PostgreSQL backend that closed its connection, a replaced gunicorn worker)."""
    ticks = os.sysconf("SC_CLK_TCK")
    result = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        rest = text[text.rindex(")") + 2 :].split()
        own, children = (int(rest[11]) + int(rest[12])) / ticks, (int(rest[13]) + int(rest[14])) / ticks
        result[int(entry)] = (name, int(rest[1]), own, children)
    return result


def machine_busy() -> float:
    """CPU seconds all CPUs spent busy since boot (not idle, not waiting for I/O)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int | None:
    """A process's resident memory now (VmRSS), or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass
class CpuSnapshot:
    """CPU seconds so far of every process, and of the whole machine, at one moment."""

    processes: dict[int, tuple[str, int, float, float]] = field(default_factory=process_cpu)
    busy: float = field(default_factory=machine_busy)
    at: float = field(default_factory=time.monotonic)


def cpu_split(
    before: CpuSnapshot, after: CpuSnapshot, groups: dict[str, Iterable[int]], postgres: bool
) -> dict[str, float]:
    """CPU seconds spent between two snapshots by each group of pids (`groups`: label -> pids), by PostgreSQL's
    processes (when `postgres`; the whole server's: on SQLite they are someone else's), everything else ("other")
    and the whole machine ("machine"), plus the seconds between the snapshots ("seconds").

    A process that ended between the snapshots (a backend of a connection closed after CONN_MAX_AGE, a worker
    replaced) is found in its parent's children's time once waited for: each process counts its own time and its
    ended children's, minus what the snapshot before had of both, over the processes of either snapshot."""
    pids = {label: set(members) for label, members in groups.items()}
    shares: dict[str, float] = {label: 0.0 for label in pids} | ({"postgres": 0.0} if postgres else {})
    for pid in after.processes.keys() | before.processes.keys():
        name = (after.processes.get(pid) or before.processes[pid])[0]
        label = next((label for label, members in pids.items() if pid in members), None)
        if label is None and postgres and name.startswith("postgres"):
            label = "postgres"
        if label is not None:
            now = sum(after.processes[pid][2:]) if pid in after.processes else 0.0
            then = sum(before.processes[pid][2:]) if pid in before.processes else 0.0
            shares[label] += now - then
    busy = after.busy - before.busy
    shares["other"] = max(0.0, busy - sum(shares.values()))
    shares["machine"] = busy
    shares["seconds"] = after.at - before.at
    return shares


# --- An asyncio HTTP/1.1 client on raw sockets -------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]  # names in lower case, in the order received
    body: bytes

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)

    def cookies(self) -> dict[str, str]:
        """The cookies the answer sets (name -> value), attributes left out."""
        found = {}
        for key, value in self.headers:
            if key == "set-cookie":
                name, _, rest = value.partition("=")
                found[name.strip()] = rest.split(";", 1)[0].strip()
        return found


class ConnectionClosed(OSError):
    """The server closed the connection before a whole answer arrived."""


class Connection:
    """One HTTP/1.1 connection to 127.0.0.1:`port`, kept alive while the server allows it (gunicorn's sync workers
    close it after each answer, gthread workers keep it) and opened again when needed. Much cheaper in CPU than a
    general-purpose client: a load generator on a 2-CPU machine shares the CPUs with the server it measures."""

    def __init__(self, port: int):
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connects = 0

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Response:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.connects += 1
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method in {"POST", "PUT", "PATCH"}:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        try:
            status_line = await self.reader.readline()
            if not status_line:
                raise ConnectionClosed("closed before the answer")
            received: list[tuple[str, str]] = []
            length, chunked, close = None, False, False
            while (line := await self.reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                name, value = name.strip().lower(), value.strip()
                received.append((name, value))
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
                elif name == "connection" and value.lower() == "close":
                    close = True
            status = int(status_line.split()[1])
            if status in (204, 304) or status < 200 or method == "HEAD":  # never a body, whatever the headers
                content = b""
            elif chunked:
                parts = []
                while (size := int((await self.reader.readline()).split(b";")[0], 16)) > 0:
                    parts.append(await self.reader.readexactly(size))
                    await self.reader.readexactly(2)
                await self.reader.readline()
                content = b"".join(parts)
            elif length is not None:
                content = await self.reader.readexactly(length)
            else:  # no length: the body runs to the end of the connection
                content, close = await self.reader.read(), True
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.close()
            raise
        if close:
            self.close()
        return Response(status=status, headers=received, body=content)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

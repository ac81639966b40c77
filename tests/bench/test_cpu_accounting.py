"""Where the CPU went during a load (bench/_http.py): pure Python on made-up /proc snapshots."""

from __future__ import annotations

import pytest

from bench._http import Config, CpuSnapshot, cpu_split
from bench.harness import BenchError


def snapshot(busy: float, at: float, **processes: tuple[str, int, float, float]) -> CpuSnapshot:
    return CpuSnapshot(processes={int(pid[1:]): value for pid, value in processes.items()}, busy=busy, at=at)


def test_a_backend_that_ended_during_the_load_still_counts_through_its_parent():
    before = snapshot(
        100.0,
        0.0,
        p1=("postgres", 0, 5.0, 0.0),  # the postmaster
        p2=("postgres", 1, 3.0, 0.0),  # a backend with 3 s before the window, gone by the end with 7 s in all
        p10=("gunicorn", 0, 1.0, 0.0),
        p11=("gunicorn", 10, 20.0, 0.0),
    )
    after = snapshot(
        130.0,
        10.0,
        p1=("postgres", 0, 5.5, 7.0),
        p3=("postgres", 1, 2.0, 0.0),  # a backend opened during the window
        p10=("gunicorn", 0, 1.0, 0.0),
        p11=("gunicorn", 10, 32.0, 0.0),
        p50=("python", 0, 9.0, 0.0),
    )

    shares = cpu_split(before, after, {"gunicorn": [10, 11]}, postgres=True)

    assert shares["gunicorn"] == pytest.approx(12.0)
    assert shares["postgres"] == pytest.approx(0.5 + 7.0 - 3.0 + 2.0)
    assert shares["other"] == pytest.approx(30.0 - 12.0 - 6.5)
    assert shares["machine"] == 30.0 and shares["seconds"] == 10.0


def test_on_sqlite_postgresql_is_someone_else():
    before = snapshot(0.0, 0.0, p1=("postgres", 0, 1.0, 0.0))
    after = snapshot(4.0, 1.0, p1=("postgres", 0, 3.0, 0.0))

    assert cpu_split(before, after, {}, postgres=False) == {"other": 4.0, "machine": 4.0, "seconds": 1.0}


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("sync:4", ["--workers", "4"]),
        ("gthread:2x4", ["--workers", "2", "--worker-class", "gthread", "--threads", "4", "--worker-connections", "4"]),
    ],
)
def test_gunicorn_configurations_read_as_written(text, args):
    assert Config.parse(text).args() == args


def test_a_wrong_configuration_is_refused():
    with pytest.raises(BenchError):
        Config.parse("threads:4")

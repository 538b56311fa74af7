"""The overhead benchmark's two clocks (benchmarks/overhead.py): the signal floor's ratio of the
fastest runs, and the workloads' own time."""
import os
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "benchmarks")
sys.path.insert(0, BENCH)

from signal_floor import ratio  # noqa: E402


def test_floor_is_the_fastest_signalled_run_over_the_fastest_plain_one():
    # a slow spell doubled the first plain run and the last signalled one: neither counts
    plain, signalled, hits = [2.0, 1.0, 1.02], [1.1, 1.2, 2.4], [1100, 1200, 2400]
    r, us = ratio(plain, signalled, hits)
    assert r == pytest.approx(1.1)
    assert us == pytest.approx((1.1 - 1.0) / 1100 * 1e6)  # per signal of the run it came from


def test_workload_writes_its_own_time_and_import_runs_nothing(tmp_path):
    own = tmp_path / "own"
    env = dict(os.environ, BENCH_OWN_TIME=str(own))
    workloads = os.path.join(BENCH, "workloads")
    subprocess.run([sys.executable, os.path.join(workloads, "cpu_bound.py"), "1"], env=env, check=True)
    assert 0 < float(own.read_text()) < 60
    own.unlink()
    # numpy_mixed.py imports cpu_bound's loop: importing must not run cpu_bound's own workload
    subprocess.run([sys.executable, "-c", "import cpu_bound"], env=env, cwd=workloads, check=True)
    assert not own.exists()

"""pyprof_carbon.current(): the running totals of the session, under `run` (asked of the
profiler's process over the socketpair, running_totals.py) and under the in-code API."""
import json
import subprocess
import sys

import pytest

from pcrun import env_for, pc, report_json, script


def check_growing(first, second):
    assert first is not None and second is not None
    assert first["energy_kind"] == second["energy_kind"] == "estimated"  # the model meter: no RAPL here
    assert 0 < first["energy_j"] <= second["energy_j"]
    assert 0 < first["cpu_s"] <= second["cpu_s"]
    assert 0 < first["co2_g"] <= second["co2_g"]
    assert second["duration_s"] > first["duration_s"]
    assert second["domains"] and all(not d["measured"] for d in second["domains"].values())


def test_current_under_run(tmp_path):
    out = tmp_path / "t.pcarbon"
    r = pc(["run", "-q", "--meter", "model", "-o", str(out), script("running_totals.py")])
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    check_growing(got["first"], got["second"])
    assert got["forked_child"] is None
    assert got["numpy_imported"] is False  # the profiler's process does the math
    # the second reading came before the end of the run: at most the report's total
    total = report_json(str(out))["totals"]
    assert got["second"]["energy_j"] <= total["energy_j"]["total"] * 1.001
    # CPU time: the program's (less the profiler's) per the run's timeline, which also counts what
    # no sample covers (the report's cpu_s is sampled time, and current()'s own calls are the
    # profiler's work, not in any sample)
    from pyprof_carbon import load
    sched = load(str(out)).sched
    program_cpu_s = (sched.process_cpu_ns[-1] - sched.profiler_cpu_ns[-1]) / 1e9
    assert got["second"]["cpu_s"] <= program_cpu_s * 1.001


def test_current_under_the_api():
    code = """
import json, pyprof_carbon
outside = pyprof_carbon.current()
with pyprof_carbon.profile(meters=["model"]) as p:
    sum(i * i % 7 for i in range(800_000))
    first = pyprof_carbon.current()
    sum(i * i % 7 for i in range(800_000))
    second = pyprof_carbon.current()
after = pyprof_carbon.current()
print(json.dumps({"outside": outside, "first": first, "second": second, "after": after,
                  "total": p.profile.totals()["energy_j"]["total"]}))
"""
    r = subprocess.run([sys.executable, "-c", code], env=env_for(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["outside"] is None and got["after"] is None
    check_growing(got["first"], got["second"])
    assert got["second"]["energy_j"] <= got["total"] * 1.001


def test_nothing_profiles_and_no_numpy():
    code = "import sys, pyprof_carbon; print(pyprof_carbon.current(), 'numpy' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], env=env_for(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["None", "False"]

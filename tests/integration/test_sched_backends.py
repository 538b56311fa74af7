"""Every scheduler backend that works here, on real runs: the timeline it records, and the
attribution invariants (conservation, signs, the profiler's own cost apart) for every policy.
Backends that cannot work here are skipped with the reason they give (the fix is in it)."""
import json
import os

import numpy as np
import pytest

from pcrun import backend_unavailable, pc, report_json, script
from pyprof_carbon import load
from pyprof_carbon.attribution import attribute
from pyprof_carbon.errors import Unavailable

BACKENDS = ("procfs", "perf", "ebpf")
POLICIES = ("share", "active", "dynamic")
TICK_NS = {"procfs": 10_000_000, "perf": 4_000_000, "ebpf": 1_000_000}  # resolution of busy time per CPU



@pytest.fixture(scope="module", params=BACKENDS)
def run(request, tmp_path_factory):
    name = request.param
    why = backend_unavailable(name)
    if why:
        pytest.skip(f"scheduler backend {name} unavailable here: {why}")
    d = tmp_path_factory.mktemp(f"sched-{name}")
    rec_path, probe = str(d / "run.pcarbon"), str(d / "probe.json")
    r = pc(["run", "--sched", name, "--meter", "model", "--cadence", "2", "-q", "-o", rec_path,
            script("threads_2_1.py")], env={"PROBE_OUT": probe}, timeout=300)
    assert r.returncode == 0, r.stderr
    with open(probe) as f:
        used = json.load(f)
    return name, rec_path, load(rec_path), used


def test_timeline_shape(run):
    name, _, rec, used = run
    s = rec.sched
    assert s.backend == name and s.resolution_note
    for arr in (s.machine_busy_ns, s.process_cpu_ns, s.profiler_cpu_ns):
        assert arr[0] == 0
        assert (np.diff(arr) >= 0).all()  # monotonic after wrap / failed-read correction
    assert (np.diff(s.t_ns) > 0).all()
    threads_cpu_ns = (used["double"] + used["single"]) * 1e9
    # the process ran at least its two threads' CPU time, and no more than the machine was busy
    # (up to the backend's resolution of busy time, per CPU, at each end)
    assert s.process_cpu_ns[-1] >= 0.98 * threads_cpu_ns
    tol = 2 * s.ncpu * TICK_NS[name]
    if name == "procfs":
        # /proc/stat charges each 4 ms scheduler tick whole to whatever runs at it: a count of
        # Bernoulli trials, sd <= sqrt(ticks) / 2 ticks; allow 3 sd on top of the resolution
        ticks = (s.t_ns[-1] - s.t_ns[0]) / 4e6 * s.ncpu
        tol += 3 * (ticks ** 0.5) / 2 * 4e6
    assert s.process_cpu_ns[-1] <= s.machine_busy_ns[-1] + tol
    assert 0 < s.profiler_cpu_ns[-1] < s.process_cpu_ns[-1]


@pytest.mark.parametrize("policy", POLICIES)
def test_attribution_invariants_on_real_run(run, policy):
    _, _, rec, _ = run
    prof = attribute(rec, policy=policy)
    for d in rec.domains:
        measured = float(rec.energy[d.name].energy_j[-1] - rec.energy[d.name].energy_j[0])
        rows = float(prof.row_energy_j[d.name].sum())
        assert prof.measured_j[d.name] == pytest.approx(measured, rel=1e-9)
        assert (prof.row_energy_j[d.name] >= 0).all()
        assert prof.unattributed_j[d.name] >= -1e-9 * measured
        assert rows + prof.unattributed_j[d.name] <= measured * (1 + 1e-9)
    total = sum(prof.measured_j.values())
    parts = (sum(float(v.sum()) for v in prof.row_energy_j.values()) + prof.profiler_cost["energy_j"]
             + sum(prof.unattributed_j.values()))
    assert parts == pytest.approx(total, rel=1e-6)
    # the profiler's own CPU and energy are reported apart, never in a stack
    assert prof.profiler_cost["cpu_s"] > 0 and prof.profiler_cost["energy_j"] >= 0
    names = {f["qualname"] for f in prof.function_table()}
    assert not any("pyprof_carbon" in n for n in names)


def test_json_report_has_lines_and_sampling_error(run):
    _, rec_path, _, _ = run
    rep = report_json(rec_path)
    assert rep["lines"], "no line table in the JSON report"
    busy_lines = [ln for ln in rep["lines"] if ln["function"] == "busy"]
    assert busy_lines and all(ln["file"].endswith("threads_2_1.py") for ln in busy_lines)
    for ln in rep["lines"]:
        assert {"file", "line", "self_energy_j", "self_energy_err_j", "samples"} <= set(ln)
        assert ln["self_energy_err_j"] >= 0
    busy = next(f for f in rep["functions"] if f["name"] == "busy")
    assert 0 <= busy["self_energy_err_j"] < busy["self_energy_j"]
    # a line holding part of the samples has a sampling error (binomial: 0 only at 0% or 100%)
    total = sum(ln["samples"] for ln in rep["lines"])
    partial = [ln for ln in rep["lines"] if 0 < ln["samples"] < total]
    assert partial and all(ln["self_energy_err_j"] > 0 for ln in partial)
    assert sum(ln["self_energy_j"] for ln in busy_lines) == pytest.approx(busy["self_energy_j"], rel=1e-6)
    assert rep["meta"]["sched"]["backend"] == run[0]
    assert rep["profiler_cost"]["cpu_s"] > 0


def test_ebpf_says_why_without_root(monkeypatch):
    from pyprof_carbon.sched import ebpf
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(Unavailable) as e:
        ebpf.EbpfBackend().open()
    assert "root" in e.value.reason and "scripts/setup.sh" in e.value.fix


def test_ebpf_says_why_without_tracefs(monkeypatch):
    from pyprof_carbon.sched import bpf_asm, ebpf
    monkeypatch.setattr(bpf_asm, "TRACEFS", ("/nonexistent/tracing",))
    with pytest.raises(Unavailable) as e:
        ebpf.EbpfBackend().open()
    assert "tracefs" in e.value.reason and "setup.sh" in e.value.fix


def test_perf_probe_reason_is_empty_or_precise():
    from pyprof_carbon import _native
    why = _native.probe_sched_perf()
    assert why == backend_unavailable("perf").split(" (")[0] if why else backend_unavailable("perf") == ""


def test_auto_prefers_an_exact_backend_when_one_works():
    from pyprof_carbon.sched import choose
    working = [n for n in ("ebpf", "perf") if not backend_unavailable(n)]
    if not working:
        pytest.skip("neither ebpf nor perf works here: " + backend_unavailable("perf"))
    b = choose("auto")
    try:
        assert b.name == working[0]
    finally:
        b.close()

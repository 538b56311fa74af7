"""Accuracy against a known truth (benchmarks/accuracy): a simulated RAPL powercap tree whose power
follows the phase function the workload is in (2 W base + 10 W vs 40 W per CPU-second); the
profiler's energy split between the two phase functions must match what the simulator put in the
counter, with every scheduler backend that works here.

Margins. The benchmark's target is |share error| <= 0.03. A short run has fewer samples, so the
bound is widened by three standard deviations of sampling noise: the share is in effect a weighted
count over N samples, sd = sqrt(s (1 - s) / N) (N ~ 8000 at 4 kHz for 2 s: sd ~ 0.005, 3 sd ~ 0.014).
Two GIL-bound threads hand the GIL over every 5 ms (CPython's switch interval) while the meter is
read every 1 ms, so about one interval in five holds two phases. Split by CPU time (`--split cpu`),
such an interval moves shares toward 0.5 (0.027-0.039 over 8 s runs); the default `power` split
weighs the samples by their function's estimated power and meets the same target as one thread
(docs/attribution.md), which this test holds both variants to.
"""
import os
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks", "accuracy"))
import run as accuracy  # noqa: E402

TARGET = 0.03


@pytest.fixture(scope="module", params=["procfs", "perf", "ebpf"])
def sched(request):
    why = accuracy.backend_available(request.param)
    if why:
        pytest.skip(f"scheduler backend {request.param} unavailable here: {why}")
    return request.param


@pytest.mark.parametrize("threads", [1, 2])
def test_phase_energy_shares_match_truth(sched, threads):
    with tempfile.TemporaryDirectory(prefix="pcarbon-acc-") as d:
        res = accuracy.run_case(sched, threads, seconds=2.5 if threads == 1 else 4.0, seed=7, workdir=d)
    phases = res["phases"]
    low, high = phases["phase_low"], phases["phase_high"]
    # the truth is far from what a split by CPU time says, so the test can tell them apart
    assert 0.15 < low["truth"] < 0.30
    assert abs(low["cpu_only"] - low["truth"]) > 0.15
    assert low["samples"] > 1000 and high["samples"] > 1000
    bound = TARGET + 3 * res["sampling_sd"]
    assert abs(low["error"]) <= bound, (sched, threads, phases)
    assert abs(low["profiler"] + high["profiler"] - 1) < 1e-9
    # energy not given to the process is never negative
    assert all(v >= -1e-9 for v in res["unattributed_j"].values())

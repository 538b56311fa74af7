"""The statistics behind `diff`: t quantiles, Welch intervals over runs with the sampling error
as a floor, the fallback to sampling error for one run, and function matching by (name, file)."""
import dataclasses
import math
import random

import pytest

from profile_fixtures import realistic
from pyprof_carbon import diff, stats
from pyprof_carbon.recording import FunctionInfo


@pytest.mark.parametrize("p,df,q", [(0.975, 4, 2.7764451), (0.975, 8, 2.3060041), (0.95, 1, 6.3137515),
                                    (0.975, math.inf, 1.9599640), (0.025, 8, -2.3060041)])
def test_t_quantile_known_values(p, df, q):
    assert stats.t_quantile(p, df) == pytest.approx(q, rel=2e-4)


def test_t_quantile_matches_scipy():
    sp = pytest.importorskip("scipy.stats")
    for df in (1, 1.7, 3, 9.4, 30, 200):
        for p in (0.6, 0.9, 0.975, 0.999):
            assert stats.t_quantile(p, df) == pytest.approx(sp.t.ppf(p, df), rel=1e-7)


def test_change_welch_over_runs():
    a, b = [10.0, 11.0, 9.0, 10.5, 9.5], [12.0, 12.5, 11.0, 13.0, 11.5]
    c = stats.change(a, [0.0] * 5, b, [0.0] * 5)
    va = vb = 0.625 / 5  # sample variances over n
    assert c["delta"] == pytest.approx(2.0) and c["se"] == pytest.approx(math.sqrt(va + vb))
    df = (va + vb) ** 2 / (va ** 2 / 4 + vb ** 2 / 4)
    assert c["df"] == pytest.approx(df)
    half = stats.t_quantile(0.975, math.floor(df * 10) / 10) * c["se"]  # df rounded down: a safe side
    assert (c["lo"], c["hi"]) == pytest.approx((2.0 - half, 2.0 + half))
    assert c["significant"] and c["pct"] == pytest.approx(20.0) and not c["sampling_only"]
    assert c["pct_lo"] == pytest.approx(100 * c["lo"] / 10.0)


def test_change_floors_spread_at_sampling_error_and_falls_back_for_one_run():
    # five identical runs: no spread, but each carries a sampling variance of 1 J^2
    c = stats.change([10.0] * 5, [1.0] * 5, [11.0] * 5, [1.0] * 5)
    assert c["se"] == pytest.approx(math.sqrt(2 / 5))
    one = stats.change([10.0], [1.0], [13.0], [1.0])
    assert one["sampling_only"] and one["df"] == math.inf
    assert one["hi"] - one["delta"] == pytest.approx(1.959964 * math.sqrt(2), rel=1e-5)


def test_false_alarm_rate_of_the_interval_is_near_its_level():
    """Same distribution on both sides: a 95% interval excludes zero about 5% of the time."""
    rng = random.Random(7)
    hits = 0
    for _ in range(2000):
        a = [rng.gauss(10, 1) for _ in range(5)]
        b = [rng.gauss(10, 1) for _ in range(5)]
        hits += stats.change(a, [0.0] * 5, b, [0.0] * 5)["significant"]
    assert 0.025 < hits / 2000 < 0.075


def test_functions_match_by_name_and_file_not_line():
    before = realistic(seed=0)
    moved = [dataclasses.replace(f, line=f.line + 7) if f.qualname == "matmul" else f for f in before.functions]
    renamed = [FunctionInfo("fib2", "fib2", f.file, f.line) if f.qualname == "fib" else f for f in moved]
    after = dataclasses.replace(before, functions=renamed)
    rows = {(r["qualname"], r["file"]): r for r in diff.compare(before, after)["functions"]}
    assert rows[("matmul", "/app/model.py")]["delta"] == 0 and rows[("matmul", "/app/model.py")]["status"] == ""
    assert rows[("fib", "/app/algo.py")]["status"] == "removed" and rows[("fib2", "/app/algo.py")]["status"] == "added"
    assert rows[("fib2", "/app/algo.py")]["significant"]


def test_metric_choice():
    p = realistic(seed=0)
    assert diff.choose_metric([p]) == "energy"  # a measured meter
    est = dataclasses.replace(p, meta=dict(p.meta, meters=[dict(m, measured=False) for m in p.meta["meters"]]))
    cmp = diff.compare(est, est)
    assert cmp["metric"] == "cpu" and cmp["j_per_cpu_s"] == pytest.approx(
        p.totals()["energy_j"]["total"] / p.totals()["cpu_s"])
    # on the cpu metric each function is its CPU time times the one pooled factor
    row = next(r for r in cmp["functions"] if r["qualname"] == "matmul")
    cpu = next(f for f in p.function_table() if f["qualname"] == "matmul")["self_cpu_s"]
    assert row["before"] == pytest.approx(cpu * cmp["j_per_cpu_s"])


def test_one_sided_rise_bound():
    a, b = [10.0, 11.0, 9.0, 10.5, 9.5], [11.0, 11.5, 10.0, 12.0, 10.5]
    c = stats.change(a, [0.0] * 5, b, [0.0] * 5)
    assert c["rise_lo"] == pytest.approx(c["delta"] - stats.t_quantile(0.95, math.floor(c["df"] * 10) / 10) * c["se"])
    assert c["lo"] < c["rise_lo"] < c["delta"]
    assert c["rise_significant"] == (c["rise_lo"] > 0)

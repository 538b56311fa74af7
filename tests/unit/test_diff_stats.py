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


# ---- the speed adjustment (analysis of covariance on the speed probe) ---------------------------
def test_adjusted_change_is_least_squares_with_a_common_slope():
    np = pytest.importorskip("numpy")
    rng = random.Random(3)
    zb = [rng.gauss(0, 1) for _ in range(5)]
    za = [rng.gauss(0.4, 1) for _ in range(6)]
    yb = [10 + 2 * z + rng.gauss(0, 0.2) for z in zb]
    ya = [11 + 2 * z + rng.gauss(0, 0.2) for z in za]
    c = stats.change(yb, [0.0] * 5, ya, [0.0] * 6, 0.95, (zb, za))
    x = np.column_stack([np.ones(11), [0] * 5 + [1] * 6, zb + za])
    y = np.array(yb + ya)
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    r = y - x @ beta
    cov = (r @ r / 8) * np.linalg.inv(x.T @ x)
    assert c["adjusted"] and c["df"] == 8
    assert c["delta"] == pytest.approx(beta[1]) and c["se"] == pytest.approx(math.sqrt(cov[1, 1]))
    # the means are the sides' fitted values at the covariate's overall mean
    z_all = sum(zb + za) / 11
    assert c["before"] == pytest.approx(beta[0] + beta[2] * z_all)
    assert c["after"] == pytest.approx(beta[0] + beta[1] + beta[2] * z_all)


def test_adjustment_removes_the_spread_the_covariate_explains():
    """Runs slowed by a factor the probe sees: unadjusted, a 20 % rise hides in the spread;
    adjusted, it is found, and the same runs with no change raise no alarm."""
    rng = random.Random(5)
    found = alarms = plain_found = 0
    for _ in range(200):
        slow = [[rng.choice((0.0, 0.2, 0.5)) for _ in range(5)] for _ in range(2)]
        probe = [[s + rng.gauss(0, 0.03) for s in side] for side in slow]
        before = [10 * (1 + s) * math.exp(rng.gauss(0, 0.03)) for s in slow[0]]
        after = [12 * (1 + s) * math.exp(rng.gauss(0, 0.03)) for s in slow[1]]
        same = [10 * (1 + s) * math.exp(rng.gauss(0, 0.03)) for s in slow[1]]
        found += stats.change(before, [0.0] * 5, after, [0.0] * 5, 0.95, tuple(probe))["rise_significant"]
        plain_found += stats.change(before, [0.0] * 5, after, [0.0] * 5, 0.95)["rise_significant"]
        alarms += stats.change(before, [0.0] * 5, same, [0.0] * 5, 0.95, tuple(probe))["rise_significant"]
    assert found >= 190 and plain_found < 150 and alarms <= 20


def test_adjustment_needs_two_runs_per_side_and_five_in_all():
    c = stats.change([10.0], [1.0], [11.0, 12.0, 11.5, 11.0], [1.0] * 4, 0.95, ([0.0], [0.1, 0.2, 0.0, 0.3]))
    assert not c["adjusted"] and c["sampling_only"]
    c = stats.change([10.0, 11.0], [0.0] * 2, [11.0, 12.0], [0.0] * 2, 0.95, ([0.0, 0.1], [0.1, 0.2]))
    assert not c["adjusted"]
    c = stats.change([10.0, 11.0], [0.0] * 2, [11.0, 12.0, 12.5], [0.0] * 3, 0.95, ([0.0, 0.1], [0.1, 0.2, 0.3]))
    assert c["adjusted"] and c["df"] == 2


def test_adjusted_interval_keeps_the_sampling_error_floor():
    # the covariate explains the runs' spread exactly: the floor (sampling error) still holds
    z = [0.0, 1.0, 2.0, 3.0, 4.0]
    c = stats.change([10 + v for v in z], [1.0] * 5, [11 + v for v in z], [1.0] * 5, 0.95, (z, z))
    assert c["adjusted"] and c["delta"] == pytest.approx(1.0) and c["se"] == pytest.approx(math.sqrt(2 / 5))


def _with_probe(p, log2_time, probes=400):
    return dataclasses.replace(p, meta=dict(p.meta, speed_probe={"probes": probes, "log2_time": log2_time,
                                                                 "unit": "tsc", "ops": 500}))


def test_compare_adjusts_only_when_every_run_has_a_probe():
    runs = [_with_probe(realistic(seed=s), 12.8 + 0.1 * s) for s in range(6)]
    cmp = diff.compare(runs[:3], runs[3:])
    assert cmp["speed_adjusted"] and cmp["total"]["adjusted"] and "adjusted for" in cmp["speed_note"]
    assert not diff.compare(runs[:3], runs[3:], adjust=False)["speed_adjusted"]
    few = runs[:5] + [_with_probe(runs[5], 13.0, probes=3)]  # too few probes to say anything
    cmp = diff.compare(few[:3], few[3:])
    assert not cmp["speed_adjusted"] and "has no speed probe" in cmp["speed_note"]


def _without(p, qualname):
    """p with the rows whose leaf is `qualname` emptied (no samples, CPU or energy)."""
    np = pytest.importorskip("numpy")
    leaf = np.array([bool(st) and p.functions[st[-1][0]].qualname == qualname for st in p.stacks])
    gone = leaf[p.row_stack]
    zero = lambda a: np.where(gone, 0, a).astype(a.dtype)
    return dataclasses.replace(p, row_energy_j={d: zero(e) for d, e in p.row_energy_j.items()},
                               row_co2_g=zero(p.row_co2_g), row_cpu_ns=zero(p.row_cpu_ns),
                               row_samples=zero(p.row_samples))


def test_a_function_missing_from_a_run_is_not_adjusted():
    runs = [_with_probe(realistic(seed=s), 12.8 + 0.1 * s) for s in range(6)]
    # fib not sampled in one AFTER run: its value there is 0, there is no speed to scale
    cmp = diff.compare(runs[:3], runs[3:5] + [_without(runs[5], "fib")])
    rows = {r["qualname"]: r for r in cmp["functions"]}
    assert cmp["speed_adjusted"] and not rows["fib"]["adjusted"] and rows["matmul"]["adjusted"]

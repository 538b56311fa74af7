"""Confidence intervals for "after minus before" when each side is one or more runs.

Each run gives a value and its sampling variance (the binomial error of a sampled share). Over
several runs the spread between runs already contains the sampling error, so the variance of a
side's mean is s^2/n; it is floored at the mean sampling variance / n because five runs can by
chance agree more closely than the sampling noise that must be in them. The two sides combine
as in Welch's t test (Welch-Satterthwaite degrees of freedom). A side of one run has no spread to
measure: its variance is its sampling variance alone, taken as known (no degrees of freedom
used), and the result says that run-to-run noise is then not in the interval.

With a covariate per run (the speed probe's mean time: how fast the machine ran that run) and at
least two runs per side and five in all, the change is an analysis of covariance instead: both
sides share one slope of value on covariate, fitted within each side, and the change is the
difference of the sides' means less slope x the difference of their covariates. Its variance is
the residual variance (n - 3 degrees of freedom) x (1/n_before + 1/n_after + that covariate
difference^2 / the covariate's within-side sum of squares), floored as above. The part of the
runs' spread the machine's speed explains is then out of the interval.

Pure Python (math only): the t quantile comes from the regularized incomplete beta function,
so no SciPy is needed.
"""
from __future__ import annotations

import functools
import math
from statistics import NormalDist
from typing import Sequence


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(lbt) * _betacf(a, b, x) / a
    return 1.0 - math.exp(lbt) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    if math.isinf(df):
        return NormalDist().cdf(t)
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with df degrees of freedom (normal for df = inf)."""
    if math.isinf(df) or df > 1e6:
        return NormalDist().inv_cdf(p)
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


@functools.lru_cache(maxsize=4096)
def _quantile(p: float, df: float) -> float:
    return t_quantile(p, df)


def quantile_for(p: float, df: float) -> float:
    """t_quantile with df rounded down (to 0.1 below 100, to 1 above; a smaller df gives a wider,
    safe interval) and cached: a flame graph asks for one per node, each a bisection."""
    if not math.isinf(df):
        df = max(math.floor(df * 10) / 10 if df < 100 else float(math.floor(df)), 1.0)
    return _quantile(p, df)


def side(values: Sequence[float], sampling_vars: Sequence[float]):
    """(mean, variance of the mean, degrees of freedom or inf when only sampling error is known)."""
    n = len(values)
    mean = math.fsum(values) / n
    floor = math.fsum(sampling_vars) / n / n
    if n < 2:
        return mean, floor, math.inf
    s2 = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, max(s2 / n, floor), float(n - 1)


def common_slope(groups: Sequence[tuple]):
    """One slope of y on z fitted within groups ((ys, zs) each: every group's own means removed):
    (the slope, the residual sum of squares, the within-group sum of squares of z, each group's
    (mean y, mean z))."""
    means = [(math.fsum(ys) / len(ys), math.fsum(zs) / len(zs)) for ys, zs in groups]
    pairs = [(y - my, z - mz) for (ys, zs), (my, mz) in zip(groups, means) for y, z in zip(ys, zs)]
    sxx = math.fsum(z * z for _, z in pairs)
    slope = math.fsum(y * z for y, z in pairs) / sxx if sxx > 0 else 0.0
    return slope, math.fsum((y - slope * z) ** 2 for y, z in pairs), sxx, means


def adjusted(before: Sequence[float], after: Sequence[float], z_before: Sequence[float],
             z_after: Sequence[float]):
    """Analysis of covariance with one common slope: (before's and after's means, both adjusted to
    the covariate's overall mean, the residual variance of one run, 1/n_before + 1/n_after + the
    covariate term, degrees of freedom n - 3). Needs >= 2 runs per side and >= 5."""
    slope, ss, sxx, ((my_b, mz_b), (my_a, mz_a)) = common_slope([(before, z_before), (after, z_after)])
    nb, na = len(before), len(after)
    n = nb + na
    dz = mz_a - mz_b
    factor = 1 / nb + 1 / na + (dz * dz / sxx if sxx > 0 else 0.0)
    z_all = (math.fsum(z_before) + math.fsum(z_after)) / n
    return my_b - slope * (mz_b - z_all), my_a - slope * (mz_a - z_all), ss / (n - 3), factor, float(n - 3)


def can_adjust(before: Sequence[float], after: Sequence[float]) -> bool:
    return len(before) >= 2 and len(after) >= 2 and len(before) + len(after) >= 5


def change(before: Sequence[float], before_vars: Sequence[float],
           after: Sequence[float], after_vars: Sequence[float], confidence: float = 0.95,
           covariate: "tuple | None" = None) -> dict:
    """Means, their difference, its two-sided confidence interval (absolute and in % of before),
    whether the interval excludes zero, and the one-sided lower bound at the same level
    (`rise_lo`: a rise is significant when it is above zero). `covariate`: (before's, after's)
    per-run values to adjust for (module docstring), used where can_adjust(); `adjusted` says
    whether it was."""
    if covariate is not None and can_adjust(before, after):
        ma, mb, s2, factor, df = adjusted(before, after, *covariate)
        floor = math.fsum(before_vars) / len(before) ** 2 + math.fsum(after_vars) / len(after) ** 2
        var = max(s2 * factor, floor)
    else:
        covariate = None
        ma, va, dfa = side(before, before_vars)
        mb, vb, dfb = side(after, after_vars)
        var = va + vb
        # Welch-Satterthwaite; a side with inf df is a known variance and adds nothing to the denominator
        denom = sum(v * v / df for v, df in ((va, dfa), (vb, dfb)) if not math.isinf(df))
        df = var * var / denom if denom > 0 else math.inf
    half = quantile_for(0.5 + confidence / 2.0, df) * math.sqrt(var)
    one_sided = quantile_for(confidence, df) * math.sqrt(var)  # for "did it rise?", a one-sided question
    d = mb - ma
    pct = lambda x: 100.0 * x / ma if ma > 0 else (math.inf if x > 0 else -math.inf if x < 0 else 0.0)
    return {"before": ma, "after": mb, "delta": d, "lo": d - half, "hi": d + half, "se": math.sqrt(var),
            "df": df, "pct": pct(d), "pct_lo": pct(d - half), "pct_hi": pct(d + half),
            "significant": bool(half >= 0 and (d - half > 0 or d + half < 0)),
            "rise_lo": d - one_sided, "rise_significant": bool(d - one_sided > 0),
            "runs": (len(before), len(after)), "adjusted": covariate is not None,
            "sampling_only": len(before) < 2 or len(after) < 2}

"""Joules to grams: ratios between regions, PUE, same work elsewhere, equivalents."""
import numpy as np
import pytest

from pyprof_carbon import carbon
from pyprof_carbon.carbon.resolve import _from_region


def src(code):
    return _from_region(carbon.lookup(code), "--region")


def test_fr_vs_pl_ratio_equals_table_ratio():
    e = np.array([1000.0, 2500.0, 7.0])
    t = np.array([0.0, 1.0, 2.0])
    fr = carbon.co2_g(e, t, src("FR"), 1.0)
    pl = carbon.co2_g(e, t, src("PL"), 1.0)
    ratio = carbon.lookup("FR").g_per_kwh / carbon.lookup("PL").g_per_kwh
    np.testing.assert_allclose(fr / pl, ratio)
    np.testing.assert_allclose(fr, e / 3.6e6 * 56.0)


def test_one_kwh_with_pue():
    g = carbon.co2_g(np.array([3.6e6]), np.array([0.0]), src("PL"), 1.5)
    assert g[0] == pytest.approx(1.5 * 662.0)


def test_bad_pue_is_a_clear_error():
    with pytest.raises(carbon.CarbonError, match="PUE"):
        carbon.co2_g(np.array([1.0]), np.array([0.0]), src("FR"), 0.5)
    with pytest.raises(carbon.CarbonError, match="PUE"):
        carbon.same_work_elsewhere(1.0, float("nan"), src("FR"))


def test_same_work_elsewhere_rows():
    rows = carbon.same_work_elsewhere(3.6e6, 1.0, src("DE"), compare=["pl", "US-CA", "PL"])
    notes = [r["note"] for r in rows]
    assert notes == ["this run", "cleanest", "dirtiest", "requested", "requested"]
    by = {r["note"]: r for r in rows[:3]}
    refs = [carbon.lookup(c).g_per_kwh for c in carbon.COMPARISON_REGIONS]
    assert by["cleanest"]["g_per_kwh"] == min(refs) and by["dirtiest"]["g_per_kwh"] == max(refs)
    assert by["this run"]["code"] == "DE" and by["this run"]["co2_g"] == pytest.approx(381.0)
    assert [r["code"] for r in rows[3:]] == ["PL", "US-CA"]
    for r in rows:
        assert r["co2_g"] == pytest.approx(r["g_per_kwh"])  # 1 kWh, PUE 1
        assert set(r) >= {"code", "name", "g_per_kwh", "co2_g", "note"}


def test_same_work_elsewhere_unknown_compare_code():
    with pytest.raises(carbon.CarbonError, match="unknown region 'XX1'"):
        carbon.same_work_elsewhere(1.0, 1.0, src("FR"), compare=["XX1"])


def test_equivalents_are_sourced():
    eq = carbon.equivalents(1066.0)
    km = next(q for q in eq if q["unit"] == "km")
    miles = next(q for q in eq if q["unit"] == "miles")
    assert km["value"] == pytest.approx(10.0) and "EEA" in km["source"] and "2023" in km["source"]
    assert miles["value"] == pytest.approx(1066.0 / 400.0) and "EPA" in miles["source"]
    assert all(q["source"] and q["what"] for q in eq)
    with pytest.raises(carbon.CarbonError):
        carbon.equivalents(-1.0)

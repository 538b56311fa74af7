"""Carbon through the real attribution and report path, on a synthetic two-hour recording.

The recording is built by hand: one CPU domain drawing a constant 100 W for two hours, read every
minute, one sample per second, the process the only busy thing on the machine. Each hour is then
0.1 kWh, so the grams of CO2 follow directly from the intensity in force in each hour.
"""
import argparse
import csv
import datetime as dt

import numpy as np
import pytest

from pyprof_carbon.commands.options import intensity_from_args
from pyprof_carbon.attribution import attribute
from pyprof_carbon.recording import Domain, EnergySeries, FunctionInfo, Recording, SchedTimeline

T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.timezone.utc).timestamp()
HOUR_KWH = 0.1  # 100 W for 3600 s
NO_CLOUD = {"PYPROF_CARBON_NO_CLOUD_METADATA": "1"}


def recording(intensity_meta):
    t_e = np.arange(0, 7201, 60, dtype=np.int64) * 1_000_000_000
    e = EnergySeries(t_ns=t_e, energy_j=100.0 * t_e / 1e9)
    t_s = (np.arange(7200, dtype=np.int64) * 1_000_000_000) + 500_000_000
    samples = {"t_ns": t_s, "cpu_ns": np.full(7200, 1_000_000_000, np.int64),
               "tid": np.full(7200, 7, np.int64), "cpu": np.zeros(7200, np.int32),
               "stack": np.zeros(7200, np.int32)}
    cum = t_e.copy()
    sched = SchedTimeline(t_ns=t_e, machine_busy_ns=cum, process_cpu_ns=cum,
                          profiler_cpu_ns=np.zeros(len(t_e), np.int64), ncpu=1, backend="perf")
    meta = {"start_unix_s": T0, "start_monotonic_ns": 0, "duration_s": 7200.0, "python": "3.11",
            "cpu_count": 1, "run_id": "synthetic", "intensity": intensity_meta,
            "threads": [{"tid": 7, "name": "MainThread"}]}
    return Recording(meta, [FunctionInfo("work", "work", "w.py", 1)], [((0, 3),)], samples,
                     [Domain(name="package", meter="test", measured=True)], {"package": e}, sched)


def region(code):
    ns = argparse.Namespace(region=code)
    return intensity_from_args(ns, ".", NO_CLOUD)


def test_fr_vs_pl_through_attribution():
    rec = recording(region("FR").to_meta())
    fr = attribute(rec, intensity=region("FR"), pue=1.0)
    pl = attribute(rec, intensity=region("PL"), pue=1.0)
    assert fr.totals()["energy_j"]["total"] == pytest.approx(720_000.0)
    assert fr.totals()["co2_g"] == pytest.approx(2 * HOUR_KWH * 56.0)
    assert fr.totals()["co2_g"] / pl.totals()["co2_g"] == pytest.approx(56.0 / 662.0)
    assert fr.meta["intensity"]["code"] == "FR" and fr.meta["pue"] == 1.0
    notes = [r["note"] for r in fr.meta["elsewhere"]]
    assert notes[:3] == ["this run", "cleanest", "dirtiest"]


def test_hourly_schedule_through_attribution(tmp_path):
    f = tmp_path / "hourly.csv"
    f.write_text("timestamp,g_per_kwh\n2024-03-01T12:00:00Z,100\n2024-03-01T13:00:00Z,300\n")
    src = intensity_from_args(argparse.Namespace(intensity_file=str(f)), ".", NO_CLOUD)
    prof = attribute(recording(src.to_meta()), intensity=src, pue=1.2)
    assert prof.totals()["co2_g"] == pytest.approx(1.2 * (HOUR_KWH * 100 + HOUR_KWH * 300))
    # per time bin: the first hour's bins carry 100 g/kWh, the second hour's 300 g/kWh
    mid = (prof.bin_edges_s[:-1] + prof.bin_edges_s[1:]) / 2
    e_bin = np.bincount(prof.row_bin, weights=prof.row_energy_total, minlength=len(mid))
    g_bin = np.bincount(prof.row_bin, weights=prof.row_co2_g, minlength=len(mid))
    ok = e_bin > 0
    ratio = g_bin[ok] / (e_bin[ok] / 3.6e6 * 1.2)
    width = prof.bin_edges_s[1] - prof.bin_edges_s[0]
    # a sample's energy is priced where its CPU time was spent: the bin just after the change of
    # hour holds a sample whose last second was in the first hour, so it is left out here
    first = mid[ok] < 3600 - width
    second = mid[ok] > 3600 + width
    np.testing.assert_allclose(ratio[first], 100.0)
    np.testing.assert_allclose(ratio[second], 300.0)
    # re-rendering from the saved meta keeps the schedule
    again = attribute(recording(prof.meta["intensity"]), intensity=None, pue=1.2)
    assert again.totals()["co2_g"] == pytest.approx(prof.totals()["co2_g"])


def test_report_writes_and_appends_codecarbon_csv(tmp_path, monkeypatch):
    from pyprof_carbon.commands import report

    monkeypatch.setenv("PYPROF_CARBON_NO_CLOUD_METADATA", "1")
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "run.pcarbon"
    recording(region("FR").to_meta()).save(str(path))
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    report.register(sub)
    out = tmp_path / "emissions.csv"
    for code in ("PL", "aws:eu-west-3"):
        args = p.parse_args(["report", str(path), "--region", code, "--format", "codecarbon-csv", "-o", str(out)])
        assert args.func(args) == 0
    rows = list(csv.reader(out.open()))
    from pyprof_carbon.render.codecarbon import COLUMNS
    assert rows[0] == list(COLUMNS) and len(rows) == 3
    r1, r2 = (dict(zip(rows[0], r)) for r in rows[1:])
    assert r1["country_iso_code"] == "POL" and r2["cloud_region"] == "eu-west-3"
    assert float(r1["energy_consumed"]) == pytest.approx(0.2)
    assert float(r1["emissions"]) / float(r2["emissions"]) == pytest.approx(662.0 / 56.0)
    assert float(r1["emissions"]) == pytest.approx(0.2 * 662.0 / 1000.0)

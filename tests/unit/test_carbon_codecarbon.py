"""CodeCarbon-compatible emissions.csv: exact columns, units, appending."""
import csv
import io
import os

import numpy as np
import pytest

from pyprof_carbon import carbon
from pyprof_carbon.attributed_profile import Profile
from pyprof_carbon.recording import FunctionInfo
from pyprof_carbon.render import codecarbon

# CodeCarbon 3.x emissions.csv header, in order, as a file CodeCarbon writes starts (CodeCarbon's
# EmissionsData fields: github.com/mlco2/codecarbon, codecarbon/output_methods/emissions_data.py;
# https://mlco2.github.io/codecarbon/output.html)
with open(os.path.join(os.path.dirname(__file__), "..", "data", "codecarbon_emissions_header.csv"), newline="") as _f:
    CODECARBON_COLUMNS = next(csv.reader(_f))


def make_profile(meta, energy, co2_g, cpu_ns=(4_000_000_000,)):
    n = len(next(iter(energy.values())))
    return Profile(
        meta=meta, functions=[FunctionInfo("f", "f", "x.py", 1)], stacks=[((0, 1),)],
        thread_names={1: "MainThread"}, bin_edges_s=np.array([0.0, 10.0]),
        row_stack=np.zeros(n, np.int32), row_tid=np.ones(n, np.int64), row_bin=np.zeros(n, np.int32),
        row_energy_j={k: np.asarray(v, float) for k, v in energy.items()},
        row_co2_g=np.asarray(co2_g, float), row_cpu_ns=np.asarray(cpu_ns, np.int64),
        row_samples=np.ones(n, np.int64), measured_j={k: float(sum(v)) for k, v in energy.items()},
        unattributed_j={k: 0.0 for k in energy}, timeline={})


def source(code):
    from pyprof_carbon.carbon.resolve import _from_region
    return _from_region(carbon.lookup(code), "--region")


META = {"duration_s": 10.0, "python": "3.11.7", "cpu_model": "AMD EPYC 9654", "cpu_count": 4,
        "ram_total_gb": 16.0, "start_unix_s": 1_700_000_000.0, "start_time": "2023-11-14T22:13:20+0000",
        "run_id": "abc-123", "pue": 1.2, "os": "Linux-6.1-x86_64", "command": "python x.py"}


def parse(text):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


def test_exact_columns_and_units():
    # package 3.6e6 J (1 kWh) contains core; dram 0.36e6 J; one GPU 1.8e6 J
    e = {"package": [3.6e6], "core": [3.0e6], "dram": [0.36e6], "gpu:0": [1.8e6]}
    meta = dict(META, intensity=source("aws:eu-west-3").to_meta())
    total_kwh = (3.6e6 + 0.36e6 + 1.8e6) / 3.6e6
    co2 = total_kwh * 1.2 * 56.0
    text = codecarbon.render(make_profile(meta, e, [co2]), codecarbon.Options(project_name="demo"))
    header, rows = parse(text)
    assert header == CODECARBON_COLUMNS and list(codecarbon.COLUMNS) == CODECARBON_COLUMNS
    assert len(rows) == 1
    r = rows[0]
    assert r["project_name"] == "demo" and r["run_id"] == "abc-123"
    assert float(r["duration"]) == 10.0
    assert float(r["emissions"]) == pytest.approx(co2 / 1000.0)          # kg
    assert float(r["emissions_rate"]) == pytest.approx(co2 / 1000.0 / 10.0)  # kg/s
    assert float(r["cpu_energy"]) == pytest.approx(1.0)                  # kWh, package (not + core)
    assert float(r["ram_energy"]) == pytest.approx(0.1)
    assert float(r["gpu_energy"]) == pytest.approx(0.5)
    assert float(r["energy_consumed"]) == pytest.approx(1.6)
    assert float(r["cpu_power"]) == pytest.approx(3.6e5)                 # W = J / s
    assert float(r["ram_power"]) == pytest.approx(3.6e4)
    assert float(r["gpu_power"]) == pytest.approx(1.8e5)
    assert (r["country_name"], r["country_iso_code"]) == ("France", "FRA")
    assert (r["cloud_provider"], r["cloud_region"], r["on_cloud"]) == ("aws", "eu-west-3", "Y")
    assert float(r["pue"]) == 1.2 and float(r["wue"]) == 0.0
    assert r["gpu_count"] == "1" and r["cpu_count"] == "4" and r["cpu_model"] == "AMD EPYC 9654"
    assert r["python_version"] == "3.11.7" and r["tracking_mode"] == "process"
    assert float(r["ram_total_size"]) == 16.0
    assert float(r["cpu_utilization_percent"]) == pytest.approx(100 * 4.0 / (10.0 * 4))
    assert r["timestamp"].startswith("2023-11-1") and len(r["timestamp"]) == 19


def test_subregion_and_missing_meta_are_graceful():
    meta = {"intensity": source("US-CA").to_meta()}
    text = codecarbon.render(make_profile(meta, {"core": [720.0]}, [0.04]))
    header, rows = parse(text)
    r = rows[0]
    assert header == CODECARBON_COLUMNS
    assert (r["country_name"], r["country_iso_code"], r["region"]) == ("United States", "USA", "california")
    assert r["on_cloud"] == "N" and r["duration"] == "0.0" and r["emissions_rate"] == ""
    assert float(r["cpu_energy"]) == pytest.approx(720.0 / 3.6e6) and r["project_name"] == "pyprof-carbon"
    bare = codecarbon.render(make_profile({}, {"package": [1.0]}, [0.0]))
    assert parse(bare)[0] == CODECARBON_COLUMNS and parse(bare)[1][0]["country_name"] == ""


def test_append_keeps_existing_header_and_rows(tmp_path):
    p = tmp_path / "emissions.csv"
    prof = make_profile(dict(META, intensity=source("PL").to_meta()), {"package": [3600.0]}, [0.662])
    p.write_text(codecarbon.render(prof))
    text = codecarbon.render(prof, codecarbon.Options(append_to=str(p)))
    assert text.startswith(p.read_text())
    assert text.count("timestamp,project_name") == 1
    header, rows = parse(text)
    assert header == CODECARBON_COLUMNS and len(rows) == 2
    assert rows[0] == rows[1]
    assert rows[1]["country_iso_code"] == "POL"
    # empty existing file: a fresh header
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert parse(codecarbon.render(prof, codecarbon.Options(append_to=str(empty))))[0] == CODECARBON_COLUMNS


def test_append_to_a_file_with_another_header_is_refused(tmp_path):
    p = tmp_path / "other.csv"
    p.write_text("a,b,c\n1,2,3\n")
    prof = make_profile(META, {"package": [1.0]}, [0.0])
    with pytest.raises(carbon.CarbonError, match="not CodeCarbon's emissions.csv columns"):
        codecarbon.render(prof, codecarbon.Options(append_to=str(p)))

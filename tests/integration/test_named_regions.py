"""Named regions: each region's joules in the report, adding up to the run's total with the
time outside any region; `report --region-filter`; nothing kept when nothing profiles."""
import os
import subprocess
import sys

import pytest

from pcrun import env_for, pc, report_json, script


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    out = tmp_path_factory.mktemp("regions") / "r.pcarbon"
    r = pc(["run", "-q", "-o", str(out), script("three_regions.py")])
    assert r.returncode == 0, r.stderr
    return str(out)


def test_regions_add_up_to_the_total(recording):
    rep = report_json(recording)
    rows = {r["name"]: r for r in rep["regions"]}
    assert list(rows) == ["load", "train", "eval", "(outside any region)"]
    assert sum(r["energy_j"] for r in rows.values()) == pytest.approx(rep["totals"]["energy_j"]["total"], rel=1e-9)
    assert sum(r["samples"] for r in rows.values()) == rep["totals"]["samples"]
    assert rows["train"]["cpu_s"] > rows["load"]["cpu_s"]  # six times the work
    assert rows["eval"]["spans"] == 1 and rows["eval"]["energy_j"] > 0


def test_region_filter(recording):
    whole = report_json(recording)
    train = report_json(recording, "--region-filter", "train")
    rows = {r["name"]: r for r in whole["regions"]}
    assert train["totals"]["samples"] == rows["train"]["samples"]
    assert train["totals"]["energy_j"]["total"] == pytest.approx(rows["train"]["energy_j"], rel=1e-9)
    text = pc(["report", recording, "--region-filter", "train"]).stdout
    assert "region 'train' only" in text
    bad = pc(["report", recording, "--region-filter", "nope"])
    assert bad.returncode == 2 and "no region named 'nope'" in bad.stderr and "load, train, eval" in bad.stderr


def test_regions_in_the_api_and_nothing_kept_unprofiled(tmp_path):
    code = f"""
import pyprof_carbon
from pyprof_carbon import named_regions

with pyprof_carbon.region("before"):
    pass
assert named_regions._spans == [], "kept a span with no profiler active"
with pyprof_carbon.profile(output={str(tmp_path / 'api.pcarbon')!r}) as p:
    with pyprof_carbon.region("inside"):
        sum(i * i for i in range(200_000))
print([r["name"] for r in p.profile.meta["region_table"]])
"""
    r = subprocess.run([sys.executable, "-c", code], env=env_for(), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['inside', '(outside any region)']"


def test_no_region_no_table(tmp_path):
    out = tmp_path / "n.pcarbon"
    assert pc(["run", "-q", "-o", str(out), script("cpu_spin.py"), "0.2"]).returncode == 0
    assert report_json(str(out))["regions"] == []


def test_diff_per_region(recording, tmp_path):
    same = pc(["diff", recording, recording, "--region-filter", "train", "--format", "json"])
    assert same.returncode == 0, same.stderr
    import json
    rep = json.loads(same.stdout)
    assert rep["total"]["before"] == rep["total"]["after"] > 0
    whole = json.loads(pc(["diff", recording, recording, "--format", "json"]).stdout)
    assert rep["total"]["before"] < whole["total"]["before"]
    missing = pc(["diff", recording, recording, "--region-filter", "nope"])
    assert missing.returncode == 2 and "no region named 'nope'" in missing.stderr


def test_no_frame_of_the_profiler_in_the_profile(recording):
    files = {f["file"] for f in report_json(recording)["functions"]}
    # our modules are the files in the package's directory (an editable install's import hook,
    # site-packages/__editable___pyprof_carbon_*_finder.py, is setuptools', run under plain python too)
    assert not [f for f in files if f"{os.sep}pyprof_carbon{os.sep}" in f], sorted(files)
    assert "evaluate" in {f["qualname"] for f in report_json(recording)["functions"]}

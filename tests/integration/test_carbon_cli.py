"""Issue 5 acceptance through the command line: re-pricing a recording in another region."""
from pyprof_carbon import carbon
from pcrun import ROOT, pc, report_json


def test_region_fr_vs_pl_same_recording(tmp_path):
    out = str(tmp_path / "h.pcarbon")
    r = pc(["run", "-q", "--region", "FR", "-o", out, f"{ROOT}/examples/hotspots.py"])
    assert r.returncode == 0, r.stderr
    fr = report_json(out)
    pl = report_json(out, "--region", "PL")
    assert fr["meta"]["intensity"]["code"] == "FR" and pl["meta"]["intensity"]["code"] == "PL"
    assert fr["totals"]["energy_j"]["total"] == pl["totals"]["energy_j"]["total"]
    ratio = fr["totals"]["co2_g"] / pl["totals"]["co2_g"]
    assert abs(ratio - carbon.lookup("FR").g_per_kwh / carbon.lookup("PL").g_per_kwh) < 1e-9
    assert fr["meta"]["intensity"]["origin"] == "--region"
    # the recording keeps what the run resolved: re-rendering without options gives FR again
    assert report_json(out)["totals"]["co2_g"] == fr["totals"]["co2_g"]


def test_unknown_region_is_a_one_line_error_with_suggestions(tmp_path):
    r = pc(["run", "--region", "FRR", f"{ROOT}/examples/hotspots.py"])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("pyprof-carbon: error:") and "FR" in r.stderr

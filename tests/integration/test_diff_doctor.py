"""`diff` shows the saving on the right function and gates regressions; `doctor` explains itself."""
import json
import os

from pcrun import ROOT, pc


def test_diff_shows_saving_and_gates_increase(tmp_path):
    """The optimization in examples/: before_optimization.py -> after_optimization.py."""
    for name in ("before", "after"):
        r = pc(["run", "-q", "-o", str(tmp_path / f"{name}.pcarbon"), f"{ROOT}/examples/{name}_optimization.py"])
        assert r.returncode == 0, r.stderr
    a, b = str(tmp_path / "before.pcarbon"), str(tmp_path / "after.pcarbon")
    r = pc(["diff", a, b, "--fail-if-increase", "5", "--format", "text"])
    assert r.returncode == 0, r.stderr
    table = [ln for ln in r.stdout.splitlines() if ln.rstrip().endswith("total_by_key") or " total_by_key" in ln]
    assert table, r.stdout
    reversed_ = pc(["diff", b, a, "--fail-if-increase", "5"])  # reversed: energy rose
    assert reversed_.returncode == 1, reversed_.stdout + reversed_.stderr
    from pyprof_carbon.diff import compare
    from pyprof_carbon.commands.report import profile_from_args
    import argparse
    ns = argparse.Namespace(attribution=None, pue=None, compare=None)
    rows = compare(profile_from_args(a, ns), profile_from_args(b, ns))["functions"]
    saved = min((row for row in rows if row["qualname"] != "<module>"), key=lambda row: row["delta"])
    assert saved["qualname"] == "total_by_key", saved  # the biggest saving below the script itself
    assert saved["delta"] < 0 and saved["significant"]  # the function that was optimized saved energy
    # the two scripts are two files: their functions still match by name, each once
    tbk = [row for row in rows if row["qualname"] == "total_by_key"]
    assert [(row["status"], os.path.basename(row["file"])) for row in tbk] == [("", "after_optimization.py")]

def test_doctor_explains_every_meter_and_backend():
    r = pc(["doctor", "--format", "json"])
    rep = json.loads(r.stdout)
    names = {(c["kind"], c["name"]) for c in rep["checks"]}
    assert {("meter", "model"), ("scheduler", "procfs"), ("engine", "perf")} <= names
    for c in rep["checks"]:
        assert c["ok"] or c["detail"], c  # every unavailable one says why
    assert r.returncode == (0 if rep["measured_meter_available"] else 1)
    text = pc(["doctor"]).stdout
    if not rep["measured_meter_available"]:
        assert "model" in text and "estimated" in text


def test_repeated_runs_carry_a_speed_probe_and_diff_adjusts_for_it(tmp_path):
    """Every run records the sample handler's speed probe; `diff` over repeated runs adjusts for
    it and says so, and does not with --no-speed-adjust (docs/diff.md)."""
    from pyprof_carbon import load, speed_probe
    script = tmp_path / "loop.py"
    script.write_text("s = 0\nfor i in range(1_500_000):\n    s += i * i % 7\n")
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        for k in range(3):
            out = tmp_path / side / f"run-{k}.pcarbon"
            r = pc(["run", "-q", "-o", str(out), str(script)])
            assert r.returncode == 0, r.stderr
            probe = load(str(out)).meta["speed_probe"]
            assert probe["probes"] >= speed_probe.MIN_PROBES and 6 < probe["log2_time"] < 24, probe
            assert probe["unit"] in ("tsc", "monotonic ns") and probe["ops"] == speed_probe.OPS
    r = pc(["diff", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "json"])
    assert r.returncode == 0, r.stderr
    cmp = json.loads(r.stdout)
    assert cmp["speed_adjusted"] and cmp["total"]["adjusted"] and cmp["total"]["df"] == 3
    r = pc(["diff", str(tmp_path / "a"), str(tmp_path / "b"), "--no-speed-adjust", "--fail-if-increase", "5"])
    assert "not adjusted for the machine's speed (--no-speed-adjust)" in r.stdout
    assert "speed-adjusted" not in r.stderr and r.returncode in (0, 1)

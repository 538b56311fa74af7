"""Acceptance of the walking skeleton: energy splits follow the measured CPU splits."""
import json

import pytest

from pcrun import pc, report_json, script


def run_with_truth(tmp_path, name, *extra):
    out, truth = str(tmp_path / "rec.pcarbon"), str(tmp_path / "truth.json")
    r = pc(["run", "-q", "--meter", "model", "-o", out, *extra, script(name)], env={"PROBE_OUT": truth})
    assert r.returncode == 0, r.stderr
    with open(truth) as f:
        return report_json(out), json.load(f)


@pytest.mark.parametrize("engine", ["perf", "timer"])
def test_two_functions_70_30(tmp_path, engine):
    rep, used = run_with_truth(tmp_path, "split_70_30.py", "--engine", engine)
    energy = {f["qualname"]: f["total_energy_j"] for f in rep["functions"]}
    share = energy["seventy"] / (energy["seventy"] + energy["thirty"])
    truth = used["seventy"] / (used["seventy"] + used["thirty"])
    assert abs(share - truth) <= 0.03, (share, truth)
    assert abs(truth - 0.7) < 0.02
    assert rep["meta"]["meters"][0]["measured"] is False  # the model meter is an estimate


def test_two_threads_2_to_1(tmp_path):
    rep, used = run_with_truth(tmp_path, "threads_2_1.py")
    energy = {t["name"]: t["energy_j"] for t in rep["threads"]}
    ratio = energy["double"] / energy["single"]
    truth = used["double"] / used["single"]
    assert abs(ratio / truth - 1) <= 0.05, (ratio, truth, energy)


def test_wall_engine_samples_waiting_threads(tmp_path):
    """`wall` samples a thread blocked in join() (GPU-style waiting); CPU engines do not."""
    counts = {}
    for engine in ("wall", "perf"):
        rep, _ = run_with_truth(tmp_path, "threads_2_1.py", "--engine", engine, "--rate", "400")
        main = next((t for t in rep["threads"] if t["name"] == "MainThread"), {"samples": 0})
        counts[engine] = main["samples"]
        assert rep["meta"]["engine"] == engine
    assert counts["wall"] > 200  # ~1 s waiting at 400 Hz
    assert counts["perf"] < counts["wall"] / 10
